"""Every table the Python steps write exists as soon as the warehouse is opened for writing,
so no step needs a stand-in for a table a later step has not written yet."""

from __future__ import annotations

import duckdb

from crm_followups.core.settings import Settings
from crm_followups.core.warehouse import PYTHON_TABLES, connect, table_exists
from ml.forecasting import CANDIDATES


def test_opening_the_warehouse_creates_every_python_table(settings: Settings) -> None:
    with connect(settings) as con:
        missing = [table for table in PYTHON_TABLES if not table_exists(con, table)]
    assert not missing


def test_creating_the_tables_again_keeps_their_rows(settings: Settings) -> None:
    with connect(settings) as con:
        con.execute("insert into ml.topics values (1, '3', 'price, plan', 10)")
    with connect(settings) as con:
        assert con.execute("select count(*) from ml.topics").fetchone()[0] == 1


def test_trend_models_has_a_mase_column_per_forecasting_candidate(settings: Settings) -> None:
    with connect(settings) as con:
        columns = {row[0] for row in con.execute("describe ml.trend_models").fetchall()}
    assert {f"mase_{name}" for name in CANDIDATES} <= columns


def test_read_only_readers_see_the_tables_the_writer_created(settings: Settings) -> None:
    with connect(settings):
        pass
    with connect(settings, read_only=True) as con:
        assert table_exists(con, "marts.followups")


def test_an_existing_warehouse_gets_the_added_manifest_columns(settings: Settings) -> None:
    """A warehouse created before the columns existed keeps its rows and gains them."""
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create schema raw")
        con.execute("""create table raw._load_manifest (
            file_path varchar, file_sha256 varchar, source_system varchar, rows_in bigint,
            rows_loaded bigint, rows_rejected bigint, status varchar, error varchar,
            loaded_at timestamptz, batch_id varchar)""")
        con.execute("insert into raw._load_manifest (file_path, status) values ('old.csv', 'loaded')")
    with connect(settings) as con:
        columns = {row[0] for row in con.execute("describe raw._load_manifest").fetchall()}
        rows = con.execute("select file_path, object from raw._load_manifest").fetchall()
    assert {"object", "file_size", "file_mtime"} <= columns
    assert rows == [("old.csv", None)]
