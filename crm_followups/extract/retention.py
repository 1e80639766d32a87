"""Retention of raw deliveries: with ``CRM_RAW_RETENTION_DAYS`` set, every night drops the raw
rows loaded (``_loaded_at``) more than that many days ago, and the rejected records of the
deliveries of that age, so the exports' personal data is kept no longer than configured.

``raw._load_manifest`` keeps its rows (file names, hashes and counts, no personal data): a
file still in the inbox is recognised as loaded and not loaded again. What dbt has already
built into incremental marts stays; docs/privacy.md says what a ``--full-refresh`` then loses.
"""

from __future__ import annotations

import logging

import duckdb

log = logging.getLogger(__name__)

LOADED_TABLES_SQL = """
select table_schema || '.' || table_name from information_schema.columns
where table_schema = 'raw' and column_name = '_loaded_at' order by 1"""


def drop_expired_raw(con: duckdb.DuckDBPyConnection, days: int) -> dict[str, int]:
    """Delete raw rows and rejects older than ``days``, in one transaction; the rows dropped
    per table are returned and logged (tables that lost nothing are left out)."""
    cutoff = f"now() - to_days({int(days)})"
    dropped: dict[str, int] = {}
    con.execute("begin transaction")
    for (table,) in con.execute(LOADED_TABLES_SQL).fetchall():
        dropped[table] = con.execute(f"delete from {table} where _loaded_at < {cutoff}").fetchone()[0]
    dropped["raw._rejects"] = con.execute(
        f"""delete from raw._rejects where batch_id in (
                select batch_id from raw._load_manifest group by batch_id
                having max(loaded_at) < {cutoff})""").fetchone()[0]
    con.execute("commit")
    dropped = {table: rows for table, rows in dropped.items() if rows}
    log.info("retention of %d days: dropped %d raw rows %s", days, sum(dropped.values()), dropped)
    return dropped
