"""The short report printed at the end of ``make run``: what each step of the night did (from
the values the steps returned), what the warehouse holds, and where everything is."""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion

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


def _champion_line(current: ModelVersion | None) -> str:
    if current is None:
        return "no champion yet (too few labelled communications?)"
    metrics = MlflowClient().get_run(current.run_id).data.metrics
    return (f"{INTENT_MODEL} v{current.version} (champion): held-out accuracy "
            f"{metrics.get('holdout_accuracy', float('nan')):.3f}, macro-F1 "
            f"{metrics.get('holdout_macro_f1', float('nan')):.3f}, run {current.run_id}")


def _extract_line(done: dict[str, Any]) -> str:
    line = (f"{done['files_loaded']} files loaded, {done['files_failed']} failed; "
            f"{done['rows_loaded']} rows loaded, {done['rows_rejected']} rejected")
    if done["files_loaded"] or done["files_failed"]:
        return line
    if done["files_skipped"]:
        return f"{line}: no new file ({done['files_skipped']} in the inbox were loaded before)"
    return f"{line}: the inbox holds no export file"


def _train_line(done: dict[str, dict]) -> str:
    return "; ".join(f"{name} v{r['version']} trained ({'champion' if r['promoted'] else 'not promoted'})"
                     if r["trained"] else f"{name} not trained: {r['reason']}" for name, r in done.items())


def _score_line(partitions: list[dict], merged: dict[str, Any], has_champion: bool) -> str:
    if merged["scored"]:
        return (f"{merged['scored']} communications scored in {len(partitions)} partitions "
                f"(intent model v{merged['intent_model_version']})")
    if not has_champion:
        return "0 scored: no intent champion yet"
    return "0 scored: every inbound communication is already scored by the champions"


def _freshness_line(statuses: dict[str, str]) -> str:
    late = [name for name, status in statuses.items() if status != "pass"]
    return (f"{len(statuses) - len(late)} of {len(statuses)} sources fresh"
            + (f"; late or empty (warn): {', '.join(late)}" if late else ""))


def _transform_line(dbt: dict[str, Any]) -> str:
    if dbt.get("built") is False:
        return f"skipped: {dbt['reason']}"
    current = f"; {dbt['current']} tasks current (they read no changed table)" if dbt.get("current") else ""
    return (f"{dbt['models']} dbt models built and tested, {dbt['snapshots']} snapshots, "
            f"{dbt['tests']} tests across models passed{current}")


def _followups_line(done: dict[str, Any]) -> str:
    opened = done.get("followups", 0)
    why = "" if opened else ": no rule raised a follow-up for this date"
    return f"{opened} open follow-ups{why}; CSV {done.get('outbox')}"


def _champions_line(checked: dict[str, Any]) -> str:
    # the runs recorded before 2026-11-28 returned the versions alone (``crm-followups summary``)
    versions = checked.get("versions", checked)
    champions = [f"{name} v{version}" for name, version in versions.items() if version]
    if not champions:
        return "no champion yet: tonight trains the first"
    if "loaded" not in checked:
        return f"{', '.join(champions)} usable"
    loaded = len(checked["loaded"])
    return (f"{', '.join(champions)} usable: {loaded} loaded, "
            f"{len(champions) - loaded} unchanged since they last loaded")


def _publish_line(done: dict[str, str | None]) -> str:
    kept = f"; the previous night kept as {done['backup']}" if done.get("backup") else ""
    return f"the night's warehouse published to {done['published']}{kept}"


def step_lines(steps: dict[str, Any], has_champion: bool) -> list[str]:
    """One line per step saying what it did, or why it did nothing."""
    config, dbt, partitions = steps["check_config"], steps["transform"], steps.get("score_partition", [])
    trends = steps["trends"]
    return [
        f"  check_config:     follow-up rules valid; {len(config['mapping_problems'])} mapping problems",
        f"  check_champions:  {_champions_line(steps['check_champions'])}",
        f"  extract:          {_extract_line(steps['extract'])}",
        f"  source_freshness: {_freshness_line(steps['source_freshness'])}",
        f"  transform:        {_transform_line(dbt)}",
        f"  train:            {_train_line(steps['train'])}",
        f"  score:            {_score_line(partitions, steps['score_merge'], has_champion)}",
        f"  trends:           {trends['series']} series ({trends['modelled']} modelled, "
        f"{trends.get('refitted', trends['modelled'])} refitted), "
        f"{trends['anomalies']} anomalies, {trends['customers_flagged']} customers flagged",
        f"  followups:        {_followups_line(steps['followups'])}",
        f"  publish_night:    {_publish_line(steps['publish_night'])}",
    ]


def print_summary(settings: Settings, date: dt.date, steps: dict[str, Any] | None = None) -> None:
    """The summary of ``date``, read from the published warehouse; with ``steps`` (what a run
    just did) each step's line first."""
    with connect(settings.model_copy(update={"night": None}), read_only=True) as con:
        files_loaded, files_failed, rows_loaded, rows_rejected = _load_totals(con)
        counts = table_counts(con)
        queues = _followups_by_queue(con, date)
    current = champion(settings, INTENT_MODEL)
    lines = [
        "",
        f"crm_nightly for {date}",
        *(step_lines(steps, current is not None) if steps else []),
        f"  exports:    {files_loaded} files loaded, {files_failed} failed; "
        f"{rows_loaded} rows loaded, {rows_rejected} rejected, all nights so far (raw._load_manifest)",
        f"  model:      {_champion_line(current)}",
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
        "  open the MLflow UI:  make mlflow-ui    (http://127.0.0.1:5000/#/experiments?workflowType=machine_learning)",
        "  read the dbt docs:   make docs-ui      (http://127.0.0.1:8580)",
        "",
    ]
    print("\n".join(lines))
