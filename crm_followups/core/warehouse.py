"""The DuckDB warehouse file: the connection every step opens, and the DDL of every table the
Python steps write (dbt owns ``staging``, ``intermediate`` and the rest of ``marts``).

The tables are created, empty, whenever the warehouse is opened for writing, so every step
and every dbt source can rely on them existing: a first night needs no stand-in for a table
a later step has not written yet. ``docs/warehouse.md`` and the dbt sources describe them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import duckdb

from crm_followups.core.privacy import make_private_folder
from crm_followups.core.settings import Settings

PYTHON_SCHEMAS = ("raw", "ml", "marts")

# Load metadata of every raw table; the columns before them are the export's own, as text.
RAW_METADATA_COLUMNS = """
    _source_system varchar, _file varchar, _file_sha256 varchar,
    _row_number bigint, _loaded_at timestamptz, _batch_id varchar"""

# Trend models compared by backtest MASE, one column each (ml.forecasting.CANDIDATES).
TREND_CANDIDATES = ("seasonal_naive", "ets", "sarima")

SCORE_COLUMNS = """
    source_system varchar, communication_id varchar,
    intent varchar, intent_confidence double,
    sentiment double, sentiment_label varchar, topic_id integer,
    intent_model_version varchar, sentiment_model_version varchar, topic_model_version varchar,
    mlflow_run_id varchar, scored_at timestamptz"""

# Columns added to a table after its first release: created with the table, and added to the
# tables of an existing warehouse when it is opened (never renamed: outside checks read them).
ADDED_COLUMNS: dict[str, tuple[str, ...]] = {
    # the raw table a file was loaded into (one row per file and object), and the file's size and
    # modification time, so a file loaded before is recognised without reading it again
    "raw._load_manifest": ("object varchar", "file_size bigint", "file_mtime timestamptz"),
    "raw._rejects": ("object varchar",),
    # the night a series' model was chosen and fitted, and its parameters: later nights within
    # a week forecast with them instead of backtesting and refitting (ml.trends)
    "ml.trend_models": ("fitted_on date", "params double[]"),
}

# One row, the last night whose dbt build passed: the fingerprint of what it read (raw tables,
# dbt project, salt, versions); a night with the same inputs skips the build (transform.builds).
LAST_DBT_BUILD_TABLE = "raw._last_dbt_build"

PYTHON_TABLES: dict[str, str] = {
    "raw._load_manifest": f"""
        file_path varchar, file_sha256 varchar, source_system varchar,
        rows_in bigint, rows_loaded bigint, rows_rejected bigint,
        status varchar, error varchar, loaded_at timestamptz, batch_id varchar,
        {", ".join(ADDED_COLUMNS["raw._load_manifest"])}""",
    "raw._rejects": f"""
        file_path varchar, file_sha256 varchar, record_number bigint,
        line_number bigint, reason varchar, raw_text varchar, batch_id varchar,
        {", ".join(ADDED_COLUMNS["raw._rejects"])}""",
    # One row per erasure request: the customer as a salted key (core.privacy.erasure_key), never
    # the id; extract rejects the re-delivered rows of every key listed here.
    "raw._erasures": """
        erasure_key varchar, requested_at timestamptz, done_at timestamptz,
        rows_deleted map(varchar, bigint), files_rewritten integer""",
    LAST_DBT_BUILD_TABLE: """
        run_id varchar, recorded_at timestamptz, fingerprint varchar, inputs varchar""",
    "ml.communication_scores": f"""{SCORE_COLUMNS},
        primary key (source_system, communication_id)""",
    "ml.score_history": f"{SCORE_COLUMNS}, superseded_at timestamptz",
    "ml.topics": """
        topic_id integer, model_version varchar, keywords varchar, size bigint,
        primary key (model_version, topic_id)""",
    "ml.contact_trends": """
        series_key varchar, as_of_date date, date date, actual double, forecast double, lower double,
        upper double, is_anomaly boolean, model varchar, mlflow_run_id varchar,
        primary key (series_key, as_of_date, date)""",
    "ml.trend_models": f"""
        as_of_date date, series_key varchar, days integer, status varchar, model varchar, reason varchar,
        {", ".join(f"mase_{name} double" for name in TREND_CANDIDATES)}, mlflow_run_id varchar,
        {", ".join(ADDED_COLUMNS["ml.trend_models"])},
        primary key (as_of_date, series_key)""",
    "ml.customer_engagement": """
        as_of_date date, customer_id varchar, signal varchar,
        window_days integer, window_contacts bigint, earlier_days integer, earlier_contacts bigint,
        rate_ratio double, p_value double, q_value double, mlflow_run_id varchar,
        primary key (as_of_date, customer_id, signal)""",
    # Beyond the contract: opened_on (when the follow-up first opened), status_reason (why it
    # is in this state) and detail (its evidence in words, the CRM task's description).
    "marts.followups": """
        followup_id varchar, as_of_date date, customer_id varchar, reason_code varchar,
        reason varchar, status varchar, priority integer, score double, due_date date,
        recommended_channel varchar, owner_queue varchar, evidence_communication_ids varchar[],
        model_version varchar, mlflow_run_id varchar, dag_run_id varchar, created_at timestamptz,
        opened_on date, status_reason varchar, detail varchar,
        primary key (followup_id, as_of_date)""",
}


def create_python_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create every Python-written table that does not exist yet (idempotent, cheap)."""
    for schema in PYTHON_SCHEMAS:
        con.execute(f"create schema if not exists {schema}")
    for table, columns in PYTHON_TABLES.items():
        con.execute(f"create table if not exists {table} ({columns})")
    for table, added in ADDED_COLUMNS.items():
        for column in added:
            con.execute(f"alter table {table} add column if not exists {column}")


def create_raw_tables(con: duckdb.DuckDBPyConnection, tables: Iterable[tuple[str, Iterable[str]]]) -> None:
    """Raw tables of export objects: the export's columns as text, then the load metadata."""
    for table, columns in tables:
        text_columns = ", ".join(f"{column} varchar" for column in columns)
        con.execute(f"create table if not exists {table} ({text_columns}, {RAW_METADATA_COLUMNS})")


@contextmanager
def connect(settings: Settings, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse; tasks that call this run in the one-slot ``warehouse`` pool.

    DuckDB shares one instance per file within a process and refuses a second connection
    with other settings, so steps that may share a process with dbt (``dag.test``) open it
    read-write; ``read_only`` is for separate readers such as the ``sql`` command.
    A night's settings open its working copy (``crm_followups.core.nights``), which must exist:
    a step never silently starts an empty warehouse of its own.
    """
    if settings.night is not None and not settings.warehouse_path.exists():
        raise FileNotFoundError(f"{settings.warehouse_path} is missing: night {settings.night} has no "
                                "working copy; run the whole night again (begin_night makes it)")
    make_private_folder(settings.warehouse_path.parent)
    con = duckdb.connect(str(settings.warehouse_path), read_only=read_only)
    try:
        con.execute("set TimeZone = 'UTC'")  # timestamps in the contract are UTC
        if not read_only:
            create_python_tables(con)
        yield con
    finally:
        con.close()


def create_warehouse(settings: Settings) -> None:
    """The set-up and a first night: the warehouse file with every Python-written table, when
    there is none. Built beside it and renamed into place, so a reader never meets half a
    file; an existing file is left alone (analysts may hold it open: nights add what is missing
    to their working copy)."""
    path = settings.warehouse_path
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    building = path.with_name(f".{path.name}.new")
    building.unlink(missing_ok=True)
    with duckdb.connect(str(building)) as con:
        create_python_tables(con)
    building.replace(path)


def table_exists(con: duckdb.DuckDBPyConnection, qualified_name: str) -> bool:
    """For dbt's tables, which exist only once dbt has built them."""
    schema, table = qualified_name.split(".")
    return bool(con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()[0])
