"""The DuckDB warehouse file: one writer at a time, schemas owned by the Python steps."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from crm_followups.settings import Settings

PYTHON_SCHEMAS = ("raw", "ml", "marts")


@contextmanager
def connect(settings: Settings, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse; tasks that call this run in the one-slot ``warehouse`` pool.

    DuckDB shares one instance per file within a process and refuses a second connection
    with other settings, so steps that may share a process with dbt (``dag.test``) open it
    read-write; ``read_only`` is for separate readers such as the ``sql`` command.
    """
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.warehouse_path), read_only=read_only)
    try:
        con.execute("set TimeZone = 'UTC'")  # timestamps in the contract are UTC
        if not read_only:
            for schema in PYTHON_SCHEMAS:
                con.execute(f"create schema if not exists {schema}")
        yield con
    finally:
        con.close()


def table_exists(con: duckdb.DuckDBPyConnection, qualified_name: str) -> bool:
    schema, table = qualified_name.split(".")
    return bool(con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()[0])
