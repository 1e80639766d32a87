"""The dbt models are portable: ``dbt build --target postgres`` builds the same staging,
intermediate, marts and snapshot on the machine's PostgreSQL from the raw tables DuckDB's
extract loaded (copied over with COPY), and the marts equal the DuckDB ones: row for row on
the key columns, timestamps compared in UTC, hashes equal because the salts are.

Two nights: the second delivers a new message and corrects an old one, so the incremental
models merge on PostgreSQL too. Every run gets its own database, dropped afterwards.
Skipped where no PostgreSQL answers on 127.0.0.1:5432, except in CI (CI=true), where a skip
would hide a broken target.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import secrets
import shutil
import socket
from collections.abc import Iterator
from contextlib import closing
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from crm_followups.core.settings import Settings
from crm_followups.extract.load import load_exports
from crm_followups.extract.sources import GENERIC_COMMUNICATIONS
from crm_followups.sample.generate import write_export
from crm_followups.transform.dbt_runner import run_dbt
from crm_followups.transform.postgres import build_on_postgres

pytestmark = pytest.mark.integration

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
FIXTURES = Path(__file__).parents[1] / "fixtures" / "exports"
SALT = "portable-salt-7b"
NIGHT = dt.date(2026, 3, 2)
# mart: (key columns, compared columns)
MARTS = {
    "fct_communications": (["source_system", "communication_id"], [
        "customer_id", "agent_id", "channel", "direction", "label", "subject", "body",
        "occurred_at", "loaded_at"]),
    "dim_customers": (["source_system", "customer_id"], [
        "name", "company", "segment", "country", "owner_id", "annual_value", "do_not_contact",
        "email_opt_out", "email_hash", "phone_hash", "created_at", "updated_at",
        "last_contact_at", "communications_total", "inbound_total"]),
    "agg_customer_activity_daily": (["customer_id", "activity_date", "channel", "direction"],
                                    ["communications"]),
    "agg_channel_daily": (["activity_date", "channel", "direction"],
                          ["communications", "customers", "labelled_communications"]),
    "fct_threads": (["thread_id"], [
        "source_system", "customer_id", "first_communication_id", "channel", "subject", "messages",
        "inbound_messages", "started_at", "last_message_at", "first_response_minutes",
        "is_awaiting_reply"]),
    "snp_customers": (["source_system", "customer_id", "dbt_valid_from"],
                      ["segment", "owner_id", "email_hash", "dbt_valid_to"]),
}


def _postgres_answers() -> bool:
    with closing(socket.socket()) as sock:
        sock.settimeout(1)
        return sock.connect_ex((PG["host"], PG["port"])) == 0


@pytest.fixture(scope="module")
def postgres_database() -> Iterator[str]:
    """A throw-away database (UTF-8, byte-order collation like DuckDB's), dropped afterwards."""
    if not _postgres_answers():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no PostgreSQL answers on 127.0.0.1:5432")
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    import psycopg2

    name = f"crm_dbt_{secrets.token_hex(4)}"
    admin = psycopg2.connect(dbname="postgres", **PG)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f"create database {name} template template0 encoding 'UTF8' locale 'C'")
        yield name
        with admin.cursor() as cur:
            cur.execute(f"drop database {name} with (force)")
    finally:
        admin.close()


def _deliver_second_night(folder: Path) -> None:
    """A new message for the next day, and a correction of a delivered one for an old day."""
    with (folder / "communications_2026-03-03.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=GENERIC_COMMUNICATIONS.columns, restval="")
        writer.writeheader()
        writer.writerow({"communication_id": "N0001", "customer_id": "C000001", "channel": "chat",
                         "direction": "inbound", "occurred_at": "2026-03-03T10:00:00+08:00",
                         "subject": "回复：价格", "body": "请打13812345678。"})
        writer.writerow({"communication_id": "M00000001", "customer_id": "C000001", "channel": "email",
                         "direction": "inbound", "occurred_at": "2026-02-25T09:00:00-05:00",
                         "subject": "Corrected", "body": "Mail me at fixed@example.org."})


@pytest.fixture(scope="module")
def both_warehouses(tmp_path_factory: pytest.TempPathFactory, postgres_database: str):
    """Two nights of every source, built on DuckDB and on PostgreSQL with the same salt."""
    duck = Settings(data_dir=tmp_path_factory.mktemp("data"), configured_hash_salt=SALT,
                    pg_database=postgres_database)
    duck.ensure_dirs()
    write_export(duck.exports_dir / "generic", NIGHT, customers=15, days=10)
    shutil.copytree(FIXTURES, duck.exports_dir, dirs_exist_ok=True)
    for night in (1, 2):
        if night == 2:
            _deliver_second_night(duck.exports_dir / "generic")
        load_exports(duck)
        # DuckDB's data tests run in the other warehouse tests; here its models are the reference
        run_dbt(duck, "build", "--exclude-resource-type", "test", "--exclude-resource-type", "unit_test")
        build_on_postgres(duck)
    yield duck, duck.postgres_dsn


def _normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """Engine-neutral values: timestamps in UTC, numbers as floats (counts are bigint in one
    engine and numeric in the other), the rest as they are."""
    for column in frame.columns:
        values = frame[column].dropna()
        if values.map(lambda v: isinstance(v, dt.datetime)).any():
            frame[column] = pd.to_datetime(frame[column], utc=True)
        elif len(values) and values.map(
                lambda v: isinstance(v, int | float | Decimal) and not isinstance(v, bool)).all():
            frame[column] = frame[column].astype(float)
    return frame


def _mart(fetch, table: str) -> pd.DataFrame:
    keys, columns = MARTS[table]
    names = [*keys, *columns]
    rows = fetch(f"select {', '.join(names)} from marts.{table} order by {', '.join(keys)}")
    return _normalised(pd.DataFrame(rows, columns=names))


@pytest.fixture(scope="module")
def marts(both_warehouses) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    import psycopg2

    duck, dsn = both_warehouses
    with duckdb.connect(str(duck.warehouse_path)) as con, psycopg2.connect(dsn) as pg, pg.cursor() as cur:
        def from_postgres(sql: str) -> list[tuple]:
            cur.execute(sql)
            return cur.fetchall()
        return {t: (_mart(lambda sql: con.execute(sql).fetchall(), t), _mart(from_postgres, t))
                for t in MARTS}


def test_raw_tables_are_copied_row_for_row(both_warehouses):
    import psycopg2

    duck, dsn = both_warehouses
    tables_sql = "select table_name from information_schema.tables where table_schema = 'raw'"
    with duckdb.connect(str(duck.warehouse_path)) as con, psycopg2.connect(dsn) as pg, pg.cursor() as cur:
        tables = [t for (t,) in con.execute(tables_sql).fetchall()]
        in_duckdb = {t: con.execute(f"select count(*) from raw.{t}").fetchone()[0] for t in tables}
        cur.execute(tables_sql)
        assert sorted(t for (t,) in cur.fetchall()) == sorted(tables)
        in_postgres = {}
        for table in tables:
            cur.execute(f"select count(*) from raw.{table}")
            in_postgres[table] = cur.fetchone()[0]
    assert in_postgres == in_duckdb
    assert in_duckdb["communications"] > 0 and in_duckdb["salesforce__task"] > 0


@pytest.mark.parametrize("table", list(MARTS))
def test_postgres_marts_equal_the_duckdb_marts(marts, table):
    in_duckdb, in_postgres = marts[table]
    assert len(in_duckdb) > 0
    pd.testing.assert_frame_equal(in_postgres, in_duckdb, check_dtype=False)


def test_every_source_and_both_nights_reach_the_postgres_marts(marts):
    facts = marts["fct_communications"][1]
    assert set(facts["source_system"]) >= {"generic", "hubspot", "salesforce"}
    corrected = facts.loc[facts["communication_id"] == "M00000001"].iloc[0]
    assert corrected["body"] == "Mail me at [email]."
    assert corrected["occurred_at"] == pd.Timestamp("2026-02-25 14:00", tz="UTC")
    new = facts.loc[facts["communication_id"] == "N0001"].iloc[0]
    assert (new["subject"], new["body"]) == ("回复：价格", "请打[phone]。")
    assert new["occurred_at"] == pd.Timestamp("2026-03-03 02:00", tz="UTC")
    customers = marts["dim_customers"][1]
    assert customers["email_hash"].notna().sum() > 0  # equal to DuckDB's: the salts are equal


def test_the_salt_never_appears_in_compiled_sql(both_warehouses):
    duck, _ = both_warehouses
    compiled = list((duck.data_dir / "dbt" / "target-postgres").rglob("*.sql"))
    assert compiled
    assert [p for p in compiled if SALT in p.read_text(encoding="utf-8")] == []
