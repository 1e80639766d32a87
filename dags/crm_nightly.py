"""
### crm_nightly

Turns the night's CRM exports into the follow-up list for the run's logical date:

0. **check_config**: the follow-up rules and every export mapping file are valid (bad rules
   stop the night; a bad mapping is reported and fails only its own folder), then
   **begin_night** copies the published warehouse to the run's working copy, which every
   later step writes (`crm_followups.core.nights`);
   **check_champions**: every registered champion model loads (a missing or corrupt one stops
   the night, naming its version and files; a version that loaded before is re-loaded only
   when its files or the loading code changed, `ml.tracking.load_fingerprint`);
1. **extract** new export files into `raw.*` (each file once, every row loaded or rejected),
   then **source_freshness**: a feed silent past its `error_after` stops the night, a late or
   empty optional feed only warns;
2. **transform_due** compares what dbt reads (raw tables, the dbt project, the salt, the
   versions) with the last build recorded in the warehouse: when nothing changed, the group is
   skipped (the summary says why) and the night goes on; else **transform**: the dbt project,
   one `dbt build` task per model and snapshot, with its tests, and one per test spanning
   models (astronomer-cosmos, `crm_followups.transform.dbt_tasks`), into `staging`,
   `intermediate` and `marts`, where the tasks whose models read only unchanged raw tables are
   skipped as current; a failing test stops the night here; **record_transform** records the
   build's fingerprint;
3. **train** the intent, sentiment and topic models when due or forced (MLflow runs; `champion`
   moves only when no worse);
4. **score** communications the champions have not scored into `ml.communication_scores`:
   `score_snapshot` writes them to Parquet by customer hash bucket, one mapped
   `score_partition` task per bucket scores its Parquet anywhere (so workers share the night),
   `score_merge` writes all buckets in one transaction;
5. **trends**: forecast inbound volume and negative share per channel and segment into
   `ml.contact_trends`, and flag customers whose engagement fell or spiked;
6. **followups** for the logical date into `marts.followups`, the outbox CSV and the report;
7. **publish_night** renames the working copy over `$CRM_DATA_DIR/warehouse.duckdb`: analysts'
   connections never block the night, and they see a night whole or not at all. A failed run
   leaves the published warehouse as it was; running it again (clear the whole run) starts
   from a fresh copy, while a retried task continues on the run's copy.

Any night since `start_date` (2000-01-01) can run, so history backfills in date order
(`crm-followups run --from D1 --to D2`); with `catchup=False` the scheduler still creates only
the latest interval. A failed task records its exception as the XCom `error`, which
`crm-followups status` shows, and, when configured (`CRM_NOTIFY_WEBHOOK_URL`,
`CRM_NOTIFY_SMTP_TO`), notifies on-call. Every task has an `execution_timeout`
(`CRM_*_TIMEOUT_MINUTES`), so a hung step fails instead of holding the pool and every later night.
**followups** updates the assets `crm_followups.outbox` and `crm_followups.report`,
**publish_night** `crm_followups.followups`: downstream DAGs schedule on them by name.

Every task but `score_partition` opens the run's working copy, which one process may hold at
a time, so they run in the one-slot `warehouse` pool. The logic lives in `crm_followups` and
`ml`; this file only wires it, and imports nothing heavy at parse time: the dbt tasks are rendered from the
manifest that `python -m crm_followups setup` writes with `dbt parse`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, Param, dag, task

from crm_followups.core.names import (
    DAG_ID,
    ERROR_XCOM_KEY,
    FOLLOWUPS_ASSET,
    OUTBOX_ASSET,
    PARTITION_POOL,
    REPORT_ASSET,
    TRANSFORM_DECISION_XCOM_KEY,
    WAREHOUSE_POOL,
)
from crm_followups.core.settings import Settings
from crm_followups.delivery.notify import failure_notifiers
from crm_followups.transform.dbt_tasks import skip_current_tasks, transform_group

SETTINGS = Settings()
# Interactive runs (`make run`, the tests) set CRM_TASK_RETRIES=0 to fail fast.
RETRIES = SETTINGS.task_retries
# A hung task would hold the one-slot warehouse pool and the one active run: every task times out.
STEP_TIMEOUT = timedelta(minutes=SETTINGS.step_timeout_minutes)
DBT_TIMEOUT = timedelta(minutes=SETTINGS.dbt_timeout_minutes)
TRAIN_TIMEOUT = timedelta(minutes=SETTINGS.train_timeout_minutes)
SCORE_TIMEOUT = timedelta(minutes=SETTINGS.score_timeout_minutes)
FOLLOWUPS, OUTBOX, REPORT = (Asset(name=name, uri=uri) for name, uri in (FOLLOWUPS_ASSET, OUTBOX_ASSET,
                                                                            REPORT_ASSET))
# Task instances exist only for logical dates on or after a task's start_date: an early one
# lets any history run; catchup=False keeps the scheduler from creating the missed nights.
HISTORY_START = pendulum.datetime(2000, 1, 1, tz="UTC")
ERROR_LINES = 15


def _night(run_id: str) -> Settings:
    """The settings of this run's tasks: they work on the run's own copy of the warehouse."""
    return Settings().for_night(run_id)


def _record_error(context) -> None:
    """On failure: the exception's last lines as an XCom, so the run's status shows why a
    step failed without opening the task's log."""
    import traceback

    exception = context.get("exception")
    if exception is None:
        return
    lines = "".join(traceback.format_exception(exception)).splitlines()
    context["ti"].xcom_push(key=ERROR_XCOM_KEY, value="\n".join(lines[-ERROR_LINES:]))


def _as_of(dag_run) -> pendulum.Date:
    """The date the follow-ups are for: the logical date, or the trigger time of a manual run."""
    return (dag_run.logical_date or dag_run.run_after).date()


@dag(
    dag_id=DAG_ID,
    schedule="@daily",
    start_date=HISTORY_START,
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["crm", "followups"],
    default_args={"retries": RETRIES, "retry_delay": timedelta(minutes=5), "pool": WAREHOUSE_POOL,
                  "execution_timeout": STEP_TIMEOUT,
                  "on_failure_callback": [_record_error, *failure_notifiers(SETTINGS)]},
    params={"force_train": Param(False, type="boolean",
                                 description="Train a challenger even when a champion exists."),
            "force_transform": Param(False, type="boolean",
                                     description="Build dbt even when nothing it reads changed.")},
)
def crm_nightly() -> None:
    @task
    def check_config() -> dict:
        """Bad follow-up rules stop the night here; a bad mapping fails only its own folder."""
        from crm_followups.extract.mapping import mapping_problems
        from crm_followups.followups.rules import load_rules

        load_rules()
        return {"mapping_problems": mapping_problems(Settings().exports_dir)}

    @task
    def check_champions() -> dict:
        """A missing or corrupt champion fails the night here, new data or not."""
        from ml.tracking import check_champions

        return check_champions(Settings())

    @task
    def begin_night(run_id: str | None = None) -> dict:
        from crm_followups.core.nights import begin_night

        return begin_night(_night(run_id))

    @task
    def extract(run_id: str | None = None) -> dict:
        from crm_followups.extract.load import load_exports

        return load_exports(_night(run_id), batch_id=run_id).as_dict()

    @task
    def source_freshness(run_id: str | None = None) -> dict:
        from crm_followups.transform.dbt_runner import check_source_freshness

        return check_source_freshness(_night(run_id))

    # Skip what is current: the whole group when nothing dbt reads changed, else the tasks whose
    # models read only unchanged raw tables. The steps after the group still run.
    @task
    def transform_due(params: dict | None = None, run_id: str | None = None, ti=None, task=None) -> None:
        from crm_followups.transform.builds import transform_decision

        decision = transform_decision(_night(run_id), force=bool(params["force_transform"]))
        skip_current_tasks(task, ti, decision)

    transform = transform_group(DBT_TIMEOUT)

    # after the dbt tasks that built, and those transform_due skipped as current
    @task(trigger_rule="none_failed")
    def record_transform(run_id: str | None = None, ti=None) -> dict:
        from crm_followups.transform.builds import record_build

        decision = ti.xcom_pull(task_ids="transform_due", key=TRANSFORM_DECISION_XCOM_KEY)
        return record_build(_night(run_id), run_id, decision)

    # after a transform built or skipped (transform_due), not after one that failed
    @task(trigger_rule="none_failed", execution_timeout=TRAIN_TIMEOUT)
    def train(params: dict | None = None, run_id: str | None = None) -> dict:
        from crm_followups.followups.rules import load_rules
        from ml.train import train_models

        thresholds = {intent: rule.min_confidence for intent, rule in load_rules().intents.items()}
        return train_models(_night(run_id), force=bool(params["force_train"]),
                            intent_min_confidence=thresholds)

    @task(execution_timeout=SCORE_TIMEOUT)
    def score_snapshot(run_id: str | None = None) -> list[dict]:
        from ml.score_partitions import snapshot_unscored

        return snapshot_unscored(_night(run_id), run_id)

    # reads and writes only Parquet: outside the warehouse pool
    @task(pool=PARTITION_POOL, execution_timeout=SCORE_TIMEOUT)
    def score_partition(partition: dict, run_id: str | None = None) -> dict:
        from ml import score_partitions

        return score_partitions.score_partition(_night(run_id), partition)

    # A night with nothing new maps no partitions (skipped); the merge still runs, as a no-op.
    @task(trigger_rule="none_failed", execution_timeout=SCORE_TIMEOUT)
    def score_merge(partitions: list[dict], run_id: str | None = None) -> dict:
        from ml.score_partitions import merge_partition_scores

        return merge_partition_scores(_night(run_id), partitions)

    @task
    def trends(dag_run=None) -> dict:
        from crm_followups.followups.rules import load_rules
        from ml.trends import forecast_trends

        rules = load_rules()
        return forecast_trends(_night(dag_run.run_id), _as_of(dag_run),
                               negative_below=rules.negative_sentiment_below,
                               engagement=rules.engagement.test_thresholds())

    @task(outlets=[OUTBOX, REPORT])
    def followups(dag_run=None) -> dict:
        from crm_followups.delivery.publish import publish_followups
        from crm_followups.followups.build import build_followups

        settings, as_of = _night(dag_run.run_id), _as_of(dag_run)
        return {**build_followups(settings, as_of, dag_run.run_id), **publish_followups(settings, as_of)}

    @task(outlets=[FOLLOWUPS])
    def publish_night(run_id: str | None = None) -> dict:
        from crm_followups.core.nights import publish_night

        return publish_night(_night(run_id))

    partitions = score_snapshot()
    check_config() >> check_champions() >> begin_night() >> extract() >> source_freshness() \
        >> transform_due() >> transform >> record_transform() >> train() >> partitions
    score_partition.expand(partition=partitions) >> score_merge(partitions) >> trends() >> followups() \
        >> publish_night()


crm_nightly()
