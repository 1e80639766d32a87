"""Erase a customer on request, everywhere the product keeps them, and record that it was done.

In one warehouse transaction: the customer's rows in every raw table (their records and
communications, a Salesforce task's e-mail messages, rejected records naming them), every
table dbt built with a ``customer_id`` (the marts, the snapshot ``snp_customers``, the
follow-ups, and the staging and intermediate tables), and ``ml`` (scores and score history of
their communications, engagement signals);
then the outbox CSVs, the reports and their copies in MLflow are rewritten without them.

The record, a row of ``raw._erasures``, names the customer by a salted key
(:func:`crm_followups.core.privacy.erasure_key`), never by id: with it, extract rejects the
customer's rows when an export delivers them again. Model input examples and the datasets
logged with training runs hold no customer rows (``ml.examples``), so no model is touched.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from mlflow import MlflowClient

from crm_followups.core.names import TRENDS_EXPERIMENT
from crm_followups.core.privacy import erasure_key
from crm_followups.core.settings import Settings
from crm_followups.core.warehouse import connect, table_exists
from crm_followups.extract.load import ensure_raw_tables
from crm_followups.extract.sources import CUSTOMER_IDS
from crm_followups.privacy.files import REWRITERS, rewrite_without_customer
from ml.tracking import point_at_store

log = logging.getLogger(__name__)

# The published files (outbox CSVs, reports) are logged to the trends runs under this folder.
PUBLISHED_ARTIFACTS = "followups"

SCORE_TABLES = ("ml.communication_scores", "ml.score_history")
# dbt's tables (staging and intermediate keep a few, so that nights do not redo all history)
DBT_CUSTOMER_TABLES_SQL = """
select t.table_schema || '.' || t.table_name, bool_or(c.column_name = 'source_system')
from information_schema.tables t
join information_schema.columns c using (table_catalog, table_schema, table_name)
where t.table_catalog = current_database() and t.table_type = 'BASE TABLE'
  and t.table_schema in ('staging', 'intermediate', 'marts')
group by 1 having bool_or(c.column_name = 'customer_id') order by 1"""


@dataclass
class Erasure:
    """What one erasure did: rows deleted per table and files rewritten."""

    key: str
    requested_at: dt.datetime
    rows_deleted: dict[str, int] = field(default_factory=dict)
    files_rewritten: list[str] = field(default_factory=list)


def _delete(con: duckdb.DuckDBPyConnection, erasure: Erasure, table: str, where: str,
            params: list) -> None:
    deleted = con.execute(f"delete from {table} where {where}", params).fetchone()[0]
    if deleted:
        erasure.rows_deleted[table] = erasure.rows_deleted.get(table, 0) + deleted


def _erase_ml_and_marts(con: duckdb.DuckDBPyConnection, erasure: Erasure, customer_id: str,
                        source_system: str) -> None:
    """Scores of the customer's communications first (they are found through the fact table),
    then every table dbt built that has a ``customer_id``, then the engagement signals."""
    if table_exists(con, "marts.fct_communications"):
        for table in SCORE_TABLES:
            _delete(con, erasure, table,
                    """(source_system, communication_id) in (
                           select source_system, communication_id from marts.fct_communications
                           where customer_id = ? and source_system = ?)""", [customer_id, source_system])
    for table, has_source_system in con.execute(DBT_CUSTOMER_TABLES_SQL).fetchall():
        where = "customer_id = ?" + (" and source_system = ?" if has_source_system else "")
        _delete(con, erasure, table, where,
                [customer_id, *([source_system] if has_source_system else [])])
    _delete(con, erasure, "ml.customer_engagement", "customer_id = ?", [customer_id])


def _erase_raw(con: duckdb.DuckDBPyConnection, erasure: Erasure, customer_id: str,
               source_system: str) -> None:
    """Every raw row of the customer; a Salesforce e-mail message goes with its task."""
    _delete(con, erasure, "raw.salesforce__emailmessage",
            """trim(activityid) in (select trim(id) from raw.salesforce__task
                                     where _source_system = ? and trim(whoid) = ?)""",
            [source_system, customer_id])
    for table, ids in CUSTOMER_IDS.items():
        _delete(con, erasure, table,
                f"_source_system = ? and list_contains(list_transform({ids}, lambda i: trim(i)), ?)",
                [source_system, customer_id])
    # a rejected record names the customer when one of its fields is their id
    _delete(con, erasure, "raw._rejects",
            """regexp_matches(raw_text, '(^|[,;"\\s])' || regexp_escape(?) || '($|[,;"\\s])')""",
            [customer_id])


def erase_in_warehouse(settings: Settings, customer_id: str, source_system: str,
                       erasure: Erasure) -> None:
    """The warehouse part, all or nothing, with its ``raw._erasures`` row; ``done_at`` stays
    null until the files are rewritten too (dbt's not_null test on it fails loudly meanwhile)."""
    with connect(settings) as con:
        ensure_raw_tables(con)
        con.execute("begin transaction")
        _erase_ml_and_marts(con, erasure, customer_id, source_system)
        _erase_raw(con, erasure, customer_id, source_system)
        con.execute("""insert into raw._erasures (erasure_key, requested_at, done_at, rows_deleted,
                                                  files_rewritten)
                       values (?, ?, null, map(?, ?), null)""",
                    [erasure.key, erasure.requested_at, list(erasure.rows_deleted),
                     list(erasure.rows_deleted.values())])
        con.execute("commit")


def rewrite_published_files(settings: Settings, customer_id: str) -> list[str]:
    """Outbox CSVs and reports in the data folder that mention the customer, rewritten."""
    files = [*sorted(settings.outbox_dir.glob("*.csv")), *sorted(settings.reports_dir.glob("*.html"))]
    return [str(path) for path in files if rewrite_without_customer(path, customer_id)]


def rewrite_mlflow_copies(settings: Settings, customer_id: str) -> list[str]:
    """The copies of the outbox and reports logged to every trends run, rewritten in place
    (logged again under the same name) where they mention the customer."""
    point_at_store(settings)
    client = MlflowClient()
    experiment = client.get_experiment_by_name(TRENDS_EXPERIMENT)
    if experiment is None:
        return []
    rewritten = []
    with tempfile.TemporaryDirectory() as scratch:
        for run in client.search_runs([experiment.experiment_id], max_results=50_000):
            for artifact in client.list_artifacts(run.info.run_id, PUBLISHED_ARTIFACTS):
                if artifact.is_dir or Path(artifact.path).suffix.lower() not in REWRITERS:
                    continue
                local = Path(client.download_artifacts(run.info.run_id, artifact.path, scratch))
                if rewrite_without_customer(local, customer_id):
                    client.log_artifact(run.info.run_id, str(local), PUBLISHED_ARTIFACTS)
                    rewritten.append(f"runs:/{run.info.run_id}/{artifact.path}")
    return rewritten


def erase_customer(settings: Settings, customer_id: str, source_system: str = "generic",
                   requested_at: dt.datetime | None = None) -> Erasure:
    """Erase ``customer_id`` of ``source_system`` everywhere and record it (see the module)."""
    customer_id = customer_id.strip()
    erasure = Erasure(erasure_key(settings.erasure_salt, source_system, customer_id),
                      requested_at or dt.datetime.now(dt.UTC))
    erase_in_warehouse(settings, customer_id, source_system, erasure)
    erasure.files_rewritten = [*rewrite_published_files(settings, customer_id),
                               *rewrite_mlflow_copies(settings, customer_id)]
    with connect(settings) as con:  # also completes an earlier request of the customer that failed midway
        con.execute("update raw._erasures set files_rewritten = ?, done_at = now() "
                    "where erasure_key = ? and done_at is null", [len(erasure.files_rewritten), erasure.key])
    log.info("erased customer key %s: %d rows deleted %s, %d files rewritten", erasure.key[:12],
             sum(erasure.rows_deleted.values()), erasure.rows_deleted, len(erasure.files_rewritten))
    return erasure
