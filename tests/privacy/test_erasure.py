"""Erasing a customer on a small warehouse really built by dbt: their rows leave raw, marts
(the snapshot too) and ml, the outbox, the report and its MLflow copy lose them, the record
does not name them, and a re-delivered export does not bring them back."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from crm_followups.cli.app import app
from crm_followups.core.names import TRENDS_EXPERIMENT
from crm_followups.core.privacy import ERASED_REASON
from crm_followups.core.settings import Settings
from crm_followups.core.warehouse import connect
from crm_followups.delivery.publish import publish_followups
from crm_followups.extract.load import load_exports
from crm_followups.extract.sources import CUSTOMER_IDS
from crm_followups.privacy.erasure import PUBLISHED_ARTIFACTS, erase_customer
from crm_followups.sample.generate import write_export
from crm_followups.transform.dbt_runner import run_dbt
from ml.tracking import use_experiment

RUN_DATE = dt.date(2026, 3, 2)
ERASED, KEPT = "C000003", "C000002"
# the sample's unparseable line is a communication of this customer: its reject names them
IN_REJECTS = "C000001"


def _followup(customer_id: str, run_id: str) -> dict:
    return {"followup_id": f"F-{customer_id}", "as_of_date": RUN_DATE, "customer_id": customer_id,
            "reason_code": "complaint", "reason": "Complaint", "status": "open", "priority": 1,
            "score": 0.9, "due_date": RUN_DATE, "recommended_channel": "email", "owner_queue": "service",
            "evidence_communication_ids": [], "model_version": "1", "mlflow_run_id": run_id,
            "dag_run_id": "test", "created_at": dt.datetime(2026, 3, 2, tzinfo=dt.UTC),
            "opened_on": RUN_DATE, "status_reason": "new", "detail": "A complaint"}


def _night_outputs(settings: Settings) -> None:
    """What train, score, trends and followups would leave for two customers: a score, an
    engagement signal, follow-ups, and the published CSV and report with their MLflow copy."""
    use_experiment(settings, TRENDS_EXPERIMENT)
    with mlflow.start_run() as run:
        pass
    with connect(settings) as con:
        con.execute("""insert into ml.communication_scores
                           (source_system, communication_id, intent, scored_at)
                       select source_system, communication_id, 'complaint', now()
                       from marts.fct_communications where customer_id in (?, ?)""", [ERASED, KEPT])
        con.execute("insert into ml.customer_engagement (as_of_date, customer_id, signal) "
                    "values (?, ?, 'declining')", [RUN_DATE, ERASED])
        con.execute("insert into ml.trend_models (as_of_date, series_key, status, mlflow_run_id) "
                    "values (?, 'inbound|channel=email', 'skipped', ?)", [RUN_DATE, run.info.run_id])
        con.register("_followups", pd.DataFrame([_followup(c, run.info.run_id) for c in (ERASED, KEPT)]))
        con.execute("insert into marts.followups by name select * from _followups")
    publish_followups(settings, RUN_DATE)


@pytest.fixture(scope="module")
def erased(tmp_path_factory: pytest.TempPathFactory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("erasure"), configured_hash_salt="test-salt",
                        file_settle_seconds=0)
    settings.ensure_dirs()
    export = write_export(settings.exports_dir / "generic", RUN_DATE, customers=30, days=21)
    load_exports(settings)
    run_dbt(settings, "build")
    _night_outputs(settings)
    erasure = erase_customer(settings, ERASED)
    rejected_erasure = erase_customer(settings, IN_REJECTS)
    # the CRM delivers the same records again (new files: new content hashes)
    for path in (export.customers, export.communications):
        shutil.copy(path, path.with_name(path.stem + "_redelivered.csv"))
        with path.with_name(path.stem + "_redelivered.csv").open("a", encoding="utf-8") as f:
            f.write("\n")
    second = load_exports(settings)
    run_dbt(settings, "build")
    con = duckdb.connect(str(settings.warehouse_path))
    yield settings, erasure, second, con, rejected_erasure
    con.close()


def _count(con: duckdb.DuckDBPyConnection, sql: str, *params) -> int:
    return con.execute(sql, list(params)).fetchone()[0]


def test_no_table_holds_the_customer(erased):
    _, erasure, _, con, rejected_erasure = erased
    for table, ids in CUSTOMER_IDS.items():
        assert _count(con, f"select count(*) from {table} where list_contains({ids}, ?)", ERASED) == 0, table
    built = dict(con.execute(
        """select table_schema || '.' || table_name, table_type
           from information_schema.tables join information_schema.columns using (table_schema, table_name)
           where table_schema in ('staging', 'intermediate', 'marts') and column_name = 'customer_id'
           and table_name not like '%followups'""").fetchall())
    tables = {name for name, kind in built.items() if kind == "BASE TABLE"}
    assert {"marts.snp_customers", "marts.dim_customers", "marts.fct_communications", "marts.fct_threads",
            "staging.stg_generic__communications", "intermediate.int_communications__threaded"} <= tables
    for table in [*built, "marts.followups"]:  # the views over raw too
        assert _count(con, f"select count(*) from {table} where customer_id = ?", ERASED) == 0, table
    for table in tables:
        assert _count(con, f"select count(*) from {table} where customer_id = ?", KEPT) > 0, table
    assert _count(con, "select count(*) from ml.customer_engagement where customer_id = ?", ERASED) == 0
    assert _count(con, "select count(*) from ml.communication_scores") > 0, "the other customer's stay"
    for table in ("raw.customers", "raw.communications", "marts.snp_customers", "marts.fct_communications",
                  "staging.stg_generic__communications", "intermediate.int_communications__threaded",
                  "marts.followups", "ml.communication_scores", "ml.customer_engagement"):
        assert erasure.rows_deleted[table] >= 1, table
    assert rejected_erasure.rows_deleted["raw._rejects"] == 1
    assert _count(con, "select count(*) from raw._rejects where raw_text like ?", f"%{IN_REJECTS}%") == 0


def test_published_files_and_their_mlflow_copies_lose_the_customer(erased):
    settings, erasure, _, _, _ = erased
    outbox = (settings.outbox_dir / f"followups_{RUN_DATE}.csv").read_bytes().decode("utf-8")
    report = (settings.reports_dir / f"run_{RUN_DATE}.html").read_text(encoding="utf-8")
    assert ERASED not in outbox and KEPT in outbox and outbox.endswith("\r\n")
    assert ERASED not in report and KEPT in report
    assert len(erasure.files_rewritten) == 4, erasure.files_rewritten
    client = MlflowClient()
    run_id = erasure.files_rewritten[-1].split("/")[1]
    for artifact in client.list_artifacts(run_id, PUBLISHED_ARTIFACTS):
        copy = client.download_artifacts(run_id, artifact.path, str(settings.data_dir / "tmp"))
        text = Path(copy).read_text(encoding="utf-8")
        assert ERASED not in text and KEPT in text


def test_the_record_does_not_name_the_customer(erased):
    _, erasure, _, con, _ = erased
    rows = con.execute("select * from raw._erasures order by requested_at").fetchall()
    assert len(rows) == 2 and rows[0][0] == erasure.key and None not in [r[2] for r in rows]
    assert ERASED not in str(rows) and IN_REJECTS not in str(rows) and rows[0][2] >= rows[0][1]


def test_a_redelivery_is_rejected_as_erased_without_its_text(erased):
    _, _, second, con, _ = erased
    rejected = con.execute("select count(*), count(raw_text) from raw._rejects where reason = ?",
                           [ERASED_REASON]).fetchone()
    assert rejected[0] >= 2 and rejected[1] == 0
    assert second.as_dict()["rows_rejected"] >= rejected[0]
    assert _count(con, "select count(*) from marts.dim_customers where customer_id = ?", ERASED) == 0
    assert _count(con, "select count(*) from raw.customers where customer_id = ?", KEPT) == 2


def test_the_command_erases_and_prints_no_id(erased, monkeypatch):
    settings, _, _, con, _ = erased
    con.close()  # the command opens the warehouse itself
    monkeypatch.setenv("CRM_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("CRM_HASH_SALT", "test-salt")
    result = CliRunner().invoke(app, ["erase", "--customer-id", "C000004"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert "C000004" not in json.dumps(printed) and printed["rows_deleted"]["raw.customers"] >= 1
    with duckdb.connect(str(settings.warehouse_path)) as check:
        assert _count(check, "select count(*) from raw.customers where customer_id = 'C000004'") == 0
        assert _count(check, "select count(*) from raw._erasures where done_at is null") == 0
