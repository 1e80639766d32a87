"""Publish a night's follow-ups where people use them: the CRM import CSV, the HTML report,
and both as artifacts of the night's trends run in MLflow (one place to find a night).

What is published is read from the warehouse once, then handed to each writer."""

from __future__ import annotations

import datetime as dt
import logging

import duckdb
from mlflow import MlflowClient

from crm_followups.core.names import TRENDS_EXPERIMENT
from crm_followups.core.settings import Settings
from crm_followups.core.warehouse import connect
from crm_followups.delivery.outbox import followup_tasks, write_outbox
from crm_followups.delivery.report import read_report_data, write_report
from crm_followups.followups.rules import load_rules
from ml.tracking import use_experiment

log = logging.getLogger(__name__)


def trends_run_id(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> str | None:
    """The MLflow run of ``as_of``'s trends job, if it ran."""
    row = con.execute("select any_value(mlflow_run_id) from ml.trend_models where as_of_date = ?",
                      [as_of]).fetchone()
    return row[0] if row else None


def publish_followups(settings: Settings, as_of: dt.date) -> dict[str, str | None]:
    crm_record_url = load_rules().crm_record_url
    with connect(settings) as con:
        tasks, report = followup_tasks(con, as_of), read_report_data(con, as_of, crm_record_url)
        run_id = trends_run_id(con, as_of)
    outbox, page = write_outbox(settings, as_of, tasks), write_report(settings, report)
    if run_id is None:
        log.warning("no trends run for %s: the CSV and report are not logged to MLflow", as_of)
    else:
        use_experiment(settings, TRENDS_EXPERIMENT)
        for path in (outbox, page):
            MlflowClient().log_artifact(run_id, str(path), artifact_path="followups")
    return {"outbox": str(outbox), "report": str(page), "mlflow_run_id": run_id}
