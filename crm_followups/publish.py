"""Publish a night's follow-ups where people use them: the CRM import CSV, the HTML report,
and both as artifacts of the night's trends run in MLflow (one place to find a night)."""

from __future__ import annotations

import datetime as dt
import logging

from crm_followups.outbox import write_outbox
from crm_followups.report import write_report
from crm_followups.settings import TRENDS_EXPERIMENT, Settings
from crm_followups.warehouse import connect, table_exists

log = logging.getLogger(__name__)


def trends_run_id(settings: Settings, as_of: dt.date) -> str | None:
    """The MLflow run of ``as_of``'s trends job, if it ran."""
    with connect(settings) as con:
        if not table_exists(con, "ml.trend_models"):
            return None
        row = con.execute("select any_value(mlflow_run_id) from ml.trend_models where as_of_date = ?",
                          [as_of]).fetchone()
    return row[0] if row else None


def publish_followups(settings: Settings, as_of: dt.date) -> dict[str, str | None]:
    outbox, report = write_outbox(settings, as_of), write_report(settings, as_of)
    run_id = trends_run_id(settings, as_of)
    if run_id is None:
        log.warning("no trends run for %s: the CSV and report are not logged to MLflow", as_of)
    else:
        from mlflow import MlflowClient

        from ml.tracking import use_experiment

        use_experiment(settings, TRENDS_EXPERIMENT)
        for path in (outbox, report):
            MlflowClient().log_artifact(run_id, str(path), artifact_path="followups")
    return {"outbox": str(outbox), "report": str(report), "mlflow_run_id": run_id}
