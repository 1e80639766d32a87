"""The whole nightly DAG, really run under Airflow (``dag.test``) on the bundled sample,
twice for the same date, into a real DuckDB file and a real MLflow store."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap

import duckdb
import pytest

from crm_followups.cli.nightly import run_nightly
from crm_followups.cli.stack import set_up
from crm_followups.core.names import CHAMPION_ALIAS, DAG_ID, INTENT_EXPERIMENT, INTENT_MODEL
from crm_followups.core.settings import Settings

pytestmark = pytest.mark.e2e

RUN_DATE = dt.date(2026, 3, 2)

CONTRACT = {
    "raw.communications": ["communication_id", "customer_id", "channel", "direction", "occurred_at",
                           "subject", "body", "agent_id", "label", "_source_system", "_file",
                           "_file_sha256", "_row_number", "_loaded_at", "_batch_id"],
    "raw._load_manifest": ["file_path", "file_sha256", "source_system", "rows_in", "rows_loaded",
                           "rows_rejected", "status", "error", "loaded_at", "batch_id"],
    "raw._rejects": ["file_path", "file_sha256", "record_number", "line_number", "reason", "raw_text"],
    "marts.fct_communications": ["communication_id", "source_system", "customer_id", "channel", "direction",
                                 "occurred_at", "subject", "body", "agent_id", "label"],
    "marts.dim_customers": ["customer_id", "source_system", "name", "company", "segment", "country",
                            "owner_id", "annual_value", "do_not_contact", "email_opt_out", "email_hash",
                            "phone_hash", "created_at", "updated_at"],
    "marts.agg_customer_activity_daily": ["customer_id", "activity_date", "channel", "direction",
                                          "communications"],
    "ml.communication_scores": ["communication_id", "intent", "intent_confidence", "sentiment",
                                "sentiment_label", "topic_id", "intent_model_version",
                                "sentiment_model_version", "topic_model_version", "mlflow_run_id",
                                "scored_at"],
    "ml.topics": ["topic_id", "model_version", "keywords", "size"],
    "ml.contact_trends": ["series_key", "as_of_date", "date", "actual", "forecast", "lower", "upper",
                          "is_anomaly", "model", "mlflow_run_id"],
    "marts.followups": ["followup_id", "as_of_date", "customer_id", "reason_code", "reason", "status",
                        "priority", "score", "due_date", "recommended_channel", "owner_queue",
                        "evidence_communication_ids", "model_version", "mlflow_run_id", "dag_run_id",
                        "created_at"],
}


def _row_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    tables = con.execute("""select table_schema || '.' || table_name from information_schema.tables
                            where table_type = 'BASE TABLE' order by 1""").fetchall()
    return {t: con.execute(f"select count(*) from {t}").fetchone()[0] for (t,) in tables}


@pytest.fixture(scope="module")
def nightly():
    settings = Settings()
    set_up(settings)
    run_nightly(settings, RUN_DATE)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        first = _row_counts(con)
    # forced: dbt rebuilds on the same rows (a night with nothing new would skip it), so the
    # row counts below show that re-running a date duplicates nothing, dbt's tables included
    run_nightly(settings, RUN_DATE, force_transform=True)
    # read-only, as analysts do: it holds the second night through the reader test's night
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    yield settings, con, first, _row_counts(con)
    con.close()


def test_every_contract_table_has_rows_and_its_columns(nightly):
    _, con, first, _ = nightly
    for table, columns in CONTRACT.items():
        assert first.get(table, 0) > 0, f"{table} is empty or missing"
        schema, name = table.split(".")
        present = {r[0] for r in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
            [schema, name]).fetchall()}
        assert set(columns) <= present, f"{table} lacks {set(columns) - present}"


def test_running_the_same_date_again_changes_no_row_count(nightly):
    _, _, first, second = nightly
    assert second == first


def test_every_inbound_communication_is_scored_once(nightly):
    _, con, _, _ = nightly
    inbound, scored, distinct = con.execute("""
        select (select count(*) from marts.fct_communications where direction = 'inbound'),
               count(*), count(distinct (source_system, communication_id))
        from ml.communication_scores""").fetchone()
    assert inbound == scored == distinct


def test_training_run_and_champion_are_in_mlflow(nightly):
    settings, _, _, _ = nightly
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    client = MlflowClient()
    champion = client.get_model_version_by_alias(INTENT_MODEL, CHAMPION_ALIAS)
    run = client.get_run(champion.run_id)
    assert run.info.experiment_id == client.get_experiment_by_name(INTENT_EXPERIMENT).experiment_id
    assert run.data.metrics["holdout_accuracy"] > 0.7
    assert {"C", "features", "labelled_rows"} <= set(run.data.params)
    # the second run found a champion and did not train again
    assert len(client.search_model_versions(f"name = '{INTENT_MODEL}'")) == 1


def test_followups_are_for_the_run_date_and_honour_opt_outs(nightly):
    _, con, _, _ = nightly
    assert con.execute("select distinct as_of_date from marts.followups").fetchall() == [(RUN_DATE,)]
    assert con.execute("""select count(*) = count(distinct (followup_id, as_of_date))
                          from marts.followups""").fetchone()[0]
    contacted_dnc = con.execute("""
        select count(*) from marts.followups f join marts.dim_customers c using (customer_id)
        where c.do_not_contact""").fetchone()[0]
    emailed_opt_outs = con.execute("""
        select count(*) from marts.followups f join marts.dim_customers c using (customer_id)
        where c.email_opt_out and f.recommended_channel = 'email'""").fetchone()[0]
    assert contacted_dnc == 0 and emailed_opt_outs == 0
    unknown_evidence = con.execute("""
        select count(*) from (select unnest(evidence_communication_ids) as id from marts.followups)
        where id not in (select communication_id from marts.fct_communications)""").fetchone()[0]
    assert unknown_evidence == 0
    assert con.execute("select count(distinct dag_run_id) from marts.followups").fetchone()[0] == 1


def test_marts_hold_no_plain_email_or_phone(nightly):
    _, con, _, _ = nightly
    text_columns = con.execute("""select table_name, column_name from information_schema.columns
                                  where table_schema = 'marts' and data_type = 'VARCHAR'""").fetchall()
    for table, column in text_columns:
        leaked = con.execute(f"""select count(*) from marts.{table}
            where regexp_matches({column}, '[\\w.+-]+@[\\w-]+\\.[\\w.]+|\\+1-555-\\d+')""").fetchone()[0]
        assert leaked == 0, f"marts.{table}.{column}"


def test_outbox_csv_and_report_are_published(nightly):
    settings, con, _, _ = nightly
    outbox = settings.outbox_dir / f"followups_{RUN_DATE}.csv"
    report = settings.reports_dir / f"run_{RUN_DATE}.html"
    rows = con.execute("select count(*) from marts.followups where as_of_date = ?", [RUN_DATE]).fetchone()[0]
    assert len(outbox.read_text(encoding="utf-8").splitlines()) == rows + 1
    assert "Follow-ups for" in report.read_text(encoding="utf-8")


def test_every_task_of_the_night_has_its_log_and_the_run_its_wall_clock_times(nightly):
    """As the UI shows a night run by `make run`: each task's log through Airflow's own reader
    (the dbt nodes' too), and the run timed from its real start."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.log.log_reader import TaskLogReader
    from airflow.utils.session import create_session

    logical_date = dt.datetime.combine(RUN_DATE, dt.time(), tzinfo=dt.UTC)
    with create_session() as session:
        run = session.query(DagRun).filter_by(dag_id=DAG_ID, logical_date=logical_date).one()
        tis = [ti for ti in run.get_task_instances(session=session) if ti.try_number]
        logs = {(ti.task_id, ti.map_index): list(TaskLogReader().read_log_chunks(ti, ti.try_number, {})[0])
                for ti in tis}
        ran_from, ran_to = min(ti.start_date for ti in tis), max(ti.end_date for ti in tis)
        started, ended = run.start_date, run.end_date
    # the second night of the fixture has nothing new to score: no partition ran
    dbt_task = "transform.fct_communications_model_build"
    assert {dbt_task, "score_merge", "publish_night"} <= {t for t, _ in logs}
    for task, events in logs.items():  # the task runner's own lines are in every task's file
        assert any(getattr(e, "logger", None) == "task" for e in events), task
    dbt_log = " ".join(str(e.event) for e in logs[(dbt_task, -1)])
    assert "fct_communications" in dbt_log, dbt_log[:2000]
    assert ran_from - dt.timedelta(seconds=30) <= started <= ran_from
    assert ran_to <= ended <= ran_to + dt.timedelta(seconds=30)


# An analyst's client: holds one read-only connection and queries it until told to stop, then
# reconnects. Prints what the held connection saw of the new date, then what a new one sees.
READER = textwrap.dedent("""
    import json, os, sys, time, duckdb
    path, date, stop = sys.argv[1:]
    sql = "select count(*) from marts.followups where as_of_date = ?"
    con = duckdb.connect(path, read_only=True)
    print("ready", flush=True)
    seen, queries = set(), 0
    while not os.path.exists(stop):
        seen.add(con.execute(sql, [date]).fetchone()[0])
        queries += 1
        time.sleep(0.2)
    con.close()
    con = duckdb.connect(path, read_only=True)
    print(json.dumps({"held_saw": sorted(seen), "queries": queries,
                      "new_sees": con.execute(sql, [date]).fetchone()[0]}), flush=True)
""")


def test_a_reader_holding_the_warehouse_through_a_night_neither_blocks_it_nor_sees_half(nightly, tmp_path):
    """Runs last: a third night, for the next date, while a separate process holds the
    published warehouse open and queries it; its next connection sees the new night whole."""
    settings, _, _, _ = nightly
    next_date, stop = RUN_DATE + dt.timedelta(days=1), tmp_path / "stop"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(settings.warehouse_path), str(next_date),
                               str(stop)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "ready"
        run_nightly(settings, next_date)
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    seen = json.loads(out)
    assert seen["held_saw"] == [0] and seen["queries"] > 10  # only ever the previous night
    assert seen["new_sees"] > 0
    assert not list(settings.data_dir.glob("nights/*")), "the published night left its working folder"
