"""The raw layer copied from the DuckDB warehouse into PostgreSQL, for dbt's ``postgres``
target: the same staging, intermediate and marts built on another engine.

DuckDB's postgres extension cannot be installed here (it downloads), so each raw table goes
through CSV: DuckDB writes it (an empty string quoted, a null bare), PostgreSQL's COPY reads
it. Every table's rows are replaced whole (the table stays: dbt's staging views depend on
it; new columns are added): this moves a warehouse and tests portability, while the nightly
extract keeps loading DuckDB.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from crm_followups.core.settings import Settings
from crm_followups.core.warehouse import connect

# DuckDB's raw column types (crm_followups.extract.load) and their PostgreSQL names.
POSTGRES_TYPES = {
    "VARCHAR": "text",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "DOUBLE": "double precision",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
}


def _postgres_type(table: str, dtype: str) -> str:
    """A map (the rows per table of ``raw._erasures``) travels as JSON."""
    if dtype.startswith("MAP("):
        return "jsonb"
    try:
        return POSTGRES_TYPES[dtype]
    except KeyError:
        raise ValueError(f"raw.{table}: no PostgreSQL type for DuckDB type {dtype!r}") from None


def _exported(name: str, dtype: str) -> str:
    return f'to_json("{name}") as "{name}"' if dtype.startswith("MAP(") else f'"{name}"'


def _table_ddl(table: str, columns: list[tuple[str, str]]) -> list[str]:
    """The table if it is new, and any column it lacks (DuckDB's raw tables gain columns)."""
    typed = [f'"{name}" {_postgres_type(table, dtype)}' for name, dtype in columns]
    return [f"create table if not exists raw.{table} ({', '.join(typed)})",
            *(f"alter table raw.{table} add column if not exists {column}" for column in typed)]


def copy_raw_to_postgres(settings: Settings, dsn: str | None = None) -> dict[str, int]:
    """Replace every ``raw`` table in PostgreSQL with the warehouse's; rows copied per table."""
    import psycopg2  # only this path needs a PostgreSQL client

    copied: dict[str, int] = {}
    with (connect(settings) as duck, tempfile.TemporaryDirectory() as tmp,
          psycopg2.connect(dsn or settings.postgres_dsn) as pg, pg.cursor() as cur):
        cur.execute("create schema if not exists raw")
        tables = [t for (t,) in duck.execute("""select table_name from information_schema.tables
            where table_schema = 'raw' order by table_name""").fetchall()]
        for table in tables:
            columns = duck.execute("""select column_name, data_type from information_schema.columns
                where table_schema = 'raw' and table_name = ? order by ordinal_position""",
                                   [table]).fetchall()
            csv_path = Path(tmp) / f"{table}.csv"
            exported = ", ".join(_exported(name, dtype) for name, dtype in columns)
            duck.execute(f"copy (select {exported} from raw.{table}) to '{csv_path}' (format csv, header)")
            for statement in [*_table_ddl(table, columns), f"truncate raw.{table}"]:
                cur.execute(statement)
            names = ", ".join(f'"{name}"' for name, _ in columns)
            with csv_path.open("rb") as fh:  # bytes: a CR inside a text stays
                cur.copy_expert(f"copy raw.{table} ({names}) from stdin with (format csv, header)", fh)
            copied[table] = cur.rowcount
    return copied


def build_on_postgres(settings: Settings) -> dict[str, int]:
    """Copy ``raw``, then ``dbt build --target postgres``; dbt's state goes to its own target
    folder so the DuckDB manifest the DAG renders from stays as it is. Only ``raw`` moves, so
    the tests of the ``ml`` and follow-up tables (written by the Python steps) stay out."""
    from crm_followups.transform.dbt_runner import run_dbt

    copied = copy_raw_to_postgres(settings)
    target_path = settings.data_dir / "dbt" / "target-postgres"
    nodes = run_dbt(settings, "build", "--target", "postgres", "--target-path", str(target_path),
                    "--exclude", "source:ml", "source:followups")
    return {"raw_rows": sum(copied.values()), "dbt_nodes": len(nodes)}


if __name__ == "__main__":
    print(build_on_postgres(Settings()))
