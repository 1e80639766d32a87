"""Retention of raw deliveries (``CRM_RAW_RETENTION_DAYS``): every night, after loading, the
raw rows delivered (``_loaded_at``) more than that many days ago are dropped when a later
delivery of the same record (source key) exists, and the rejected records of deliveries of
that age are dropped.

The latest delivery of every record stays whatever its age: the marts dbt rebuilds in full
from raw (``dim_customers``, ``fct_threads``) and the tests comparing staging with the
incremental fact table need it, so dropping it would fail the next build (docs/privacy.md).
``raw._load_manifest`` keeps its rows (file names, hashes and counts, no personal data): a
file still in the inbox is recognised as loaded and not loaded again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import duckdb

log = logging.getLogger(__name__)


def _superseded_sql(table: str, key: str, cutoff: str) -> str:
    """Rows of ``table`` older than ``cutoff`` with a later delivery of the same record."""
    return f"""
        delete from {table} where rowid in (
            select rowid from (
                select rowid, _loaded_at, row_number() over (
                    partition by _source_system, trim({key})
                    order by _loaded_at desc, _file desc, _row_number desc) as delivery
                from {table})
            where delivery > 1 and _loaded_at < {cutoff})"""


def drop_expired_raw(con: duckdb.DuckDBPyConnection, days: int, keys: Mapping[str, str]) -> dict[str, int]:
    """Drop superseded raw deliveries and rejects older than ``days``, in one transaction.
    ``keys`` names each raw table's source key column. Returns the rows dropped per table
    (tables that lost nothing left out), also logged."""
    cutoff = f"now() - to_days({int(days)})"
    con.execute("begin transaction")
    dropped = {table: con.execute(_superseded_sql(table, key, cutoff)).fetchone()[0]
               for table, key in keys.items()}
    dropped["raw._rejects"] = con.execute(
        f"""delete from raw._rejects where batch_id in (
                select batch_id from raw._load_manifest group by batch_id
                having max(loaded_at) < {cutoff})""").fetchone()[0]
    con.execute("commit")
    dropped = {table: rows for table, rows in dropped.items() if rows}
    log.info("retention of %d days: dropped %d raw rows %s", days, sum(dropped.values()), dropped)
    return dropped
