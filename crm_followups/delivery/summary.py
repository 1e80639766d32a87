"""The short report printed at the end of ``make run``: what the night produced and where."""

from __future__ import annotations

import datetime as dt

import duckdb
from mlflow import MlflowClient

from crm_followups.core.names import INTENT_MODEL
from crm_followups.core.settings import Settings
from crm_followups.core.warehouse import connect, table_exists
from ml.tracking import champion

CONTRACT_TABLES = ("raw.communications", "raw._rejects", "marts.fct_communications", "marts.dim_customers",
                   "ml.communication_scores", "ml.contact_trends", "marts.followups")


def table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int | None]:
    return {t: con.execute(f"select count(*) from {t}").fetchone()[0] if table_exists(con, t) else None
            for t in CONTRACT_TABLES}


def _load_totals(con: duckdb.DuckDBPyConnection) -> tuple:
    return con.execute("""
        select count(*) filter (status = 'loaded'), count(*) filter (status = 'failed'),
               coalesce(sum(rows_loaded), 0), coalesce(sum(rows_rejected), 0)
        from raw._load_manifest""").fetchone()


def _followups_by_queue(con: duckdb.DuckDBPyConnection, date: dt.date) -> list[tuple]:
    return con.execute("""
        select owner_queue, count(*), count(*) filter (priority = 1)
        from marts.followups where as_of_date = ? and status = 'open' group by 1 order by 1""",
                       [date]).fetchall()


def _champion_line(settings: Settings) -> str:
    current = champion(settings, INTENT_MODEL)
    if current is None:
        return "no champion yet (too few labelled communications?)"
    metrics = MlflowClient().get_run(current.run_id).data.metrics
    return (f"{INTENT_MODEL} v{current.version} (champion): held-out accuracy "
            f"{metrics.get('holdout_accuracy', float('nan')):.3f}, macro-F1 "
            f"{metrics.get('holdout_macro_f1', float('nan')):.3f}, run {current.run_id}")


def print_summary(settings: Settings, date: dt.date) -> None:
    """Read-only, from the published warehouse: analysts may hold it open too."""
    with connect(settings.model_copy(update={"night": None}), read_only=True) as con:
        files_loaded, files_failed, rows_loaded, rows_rejected = _load_totals(con)
        counts = table_counts(con)
        queues = _followups_by_queue(con, date)
    lines = [
        "",
        f"crm_nightly for {date}",
        f"  exports:    {files_loaded} files loaded, {files_failed} failed; "
        f"{rows_loaded} rows loaded, {rows_rejected} rejected, all nights so far (raw._load_manifest)",
        f"  model:      {_champion_line(settings)}",
        f"  follow-ups: {sum(q[1] for q in queues)} open for {date}"
        + "".join(f"; {queue} {n} ({p1} priority 1)" for queue, n, p1 in queues),
        "  tables:     " + ", ".join(f"{t} {n if n is not None else '-'}" for t, n in counts.items()),
        "",
        f"  warehouse:  {settings.published_warehouse_path}",
        f"  MLflow:     {settings.mlflow_tracking_uri} (artifacts {settings.mlflow_dir / 'artifacts'})",
        f"  Airflow:    {settings.airflow_home}",
        f"  CRM import: {settings.outbox_dir / f'followups_{date}.csv'}",
        f"  report:     {settings.reports_dir / f'run_{date}.html'}",
        "",
        '  query the warehouse: make sql Q="select * from marts.followups order by priority limit 20"',
        "  open the Airflow UI: make airflow-ui   (http://127.0.0.1:8080, no login)",
        "  open the MLflow UI:  make mlflow-ui    (http://127.0.0.1:5000)",
        "",
    ]
    print("\n".join(lines))
