"""
### crm_nightly

Turns the night's CRM exports into the follow-up list for the run's logical date:

1. **extract** new export files into `raw.*` (each file once, every row loaded or rejected);
2. **transform** with `dbt build` into `staging` and `marts`, data tests included;
3. **train** the intent, sentiment and topic models when due or forced (MLflow runs; `champion`
   moves only when no worse);
4. **score** communications the champions have not scored into `ml.communication_scores`;
5. **trends**: forecast daily inbound volume per channel into `ml.contact_trends`;
6. **followups** for the logical date into `marts.followups`.

Every task opens the DuckDB warehouse, which one process may hold at a time, so all run in
the one-slot `warehouse` pool. The logic lives in `crm_followups` and `ml`; this file only
wires it, and imports nothing heavy at parse time.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from crm_followups.settings import WAREHOUSE_POOL

# Interactive runs (`make run`, the tests) set CRM_TASK_RETRIES=0 to fail fast.
RETRIES = int(os.environ.get("CRM_TASK_RETRIES", "2"))


def _as_of(dag_run) -> pendulum.Date:
    """The date the follow-ups are for: the logical date, or the trigger time of a manual run."""
    return (dag_run.logical_date or dag_run.run_after).date()


@dag(
    dag_id="crm_nightly",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["crm", "followups"],
    default_args={"retries": RETRIES, "retry_delay": timedelta(minutes=5), "pool": WAREHOUSE_POOL},
    params={"force_train": Param(False, type="boolean",
                                 description="Train a challenger even when a champion exists.")},
)
def crm_nightly() -> None:
    @task
    def extract(run_id: str | None = None) -> dict:
        from crm_followups.extract import load_exports
        from crm_followups.settings import Settings

        return load_exports(Settings.from_env(), batch_id=run_id).as_dict()

    @task
    def transform() -> dict:
        from crm_followups.settings import Settings
        from crm_followups.transform import build_warehouse

        return build_warehouse(Settings.from_env())

    @task
    def train(params: dict | None = None) -> dict:
        from crm_followups.settings import Settings
        from ml.train import train_models

        return train_models(Settings.from_env(), force=bool(params["force_train"]))

    @task
    def score() -> dict:
        from crm_followups.settings import Settings
        from ml.score import score_communications

        return score_communications(Settings.from_env())

    @task
    def trends(dag_run=None) -> dict:
        from crm_followups.settings import Settings
        from ml.trends import forecast_inbound_volume

        return forecast_inbound_volume(Settings.from_env(), _as_of(dag_run))

    @task
    def followups(dag_run=None) -> dict:
        from crm_followups.followups import build_followups
        from crm_followups.settings import Settings

        return build_followups(Settings.from_env(), _as_of(dag_run), dag_run.run_id)

    extract() >> transform() >> train() >> score() >> trends() >> followups()


crm_nightly()
