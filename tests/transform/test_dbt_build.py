"""The dbt warehouse, really built into DuckDB files: two nights of exports (the second with
new, late and corrected files), an incremental build compared with a full refresh of the same
raw data, the customer snapshot, and the privacy of every text column in ``marts``."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest

from crm_followups.core.settings import Settings
from crm_followups.core.warehouse import connect
from crm_followups.extract.load import ensure_raw_tables, load_exports
from crm_followups.extract.sources import GENERIC_COMMUNICATIONS as COMMUNICATIONS
from crm_followups.extract.sources import GENERIC_CUSTOMERS as CUSTOMERS
from crm_followups.sample.generate import write_export
from crm_followups.transform.dbt_runner import DbtError, check_source_freshness, run_dbt

FIRST_NIGHT = dt.date(2026, 3, 2)
# Marts dbt rebuilds from raw; the snapshot is history and not part of a full refresh.
REBUILT_MARTS = ("fct_communications", "dim_customers", "agg_customer_activity_daily",
                 "agg_channel_daily", "fct_threads")
# incremental or rebuilt tables of the layers below marts
REBUILT_BELOW_MARTS = ("staging.stg_generic__communications", "intermediate.int_communications__threaded")
EMAIL = r"[\w.+-]+@[\w-]+\.[\w.]+"
PHONE = r"\+\d[\d\s().-]{7,}\d|(^|[^0-9A-Za-z])1[3-9]\d{9}([^0-9A-Za-z]|$)"  # international; Chinese mobile


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)


def _message(cid: str, customer: str, occurred_at: str, body: str, channel: str = "email") -> dict[str, str]:
    return {"communication_id": cid, "customer_id": customer, "channel": channel, "direction": "inbound",
            "occurred_at": occurred_at, "subject": "Question", "body": body, "label": ""}


def deliver_mapped_version(settings: Settings, direction: str, modified_at: str) -> None:
    """One version of the mapped export's communication K1, delivered now: a CRM export with a
    modification time, where the latest modification wins whatever the delivery order."""
    with connect(settings) as con:
        con.execute("""insert into raw.mapped__communications by name
            select 'K1' as communication_id, 'C000001' as customer_id, 'call' as channel,
                   ? as direction, '2026-02-20T10:00:00Z' as occurred_at, ? as updated_at,
                   'Callback' as subject, 'About the renewal.' as body, 'kingdee' as _source_system,
                   now() as _loaded_at, 'kingdee.csv' as _file, 1 as _row_number""", [direction, modified_at])


def write_second_night(folder: Path) -> None:
    """New messages for the next day, a late file for older days (one corrects a delivered
    message and leaves contact details in it), and a customer whose segment changed."""
    _write_csv(folder / "communications_2026-03-02.csv", COMMUNICATIONS.columns, [
        _message("N0001", "C000001", "2026-03-02T09:00:00Z", "Please call back."),
        _message("N0002", "C999999", "2026-03-02T10:00:00+08:00", "新客户，想了解价格。", "chat"),
    ])
    _write_csv(folder / "communications_late_2026-02-15.csv", COMMUNICATIONS.columns, [
        _message("L0001", "C000002", "2026-02-15T11:00:00Z", "Mail me at late.buyer@example.org."),
        _message("L0002", "C000003", "2026-02-16T08:30:00-05:00", "My number is +44 20 7946 0958."),
        _message("M00000001", "C000001", "2026-02-10T09:00:00Z",
                 "Corrected: reach me on 13812345678 or c000001@example.com."),
    ])
    _write_csv(folder / "customers_2026-03-02.csv", CUSTOMERS.columns, [{
        "customer_id": "C000001", "name": "Alice Smith", "email": "alice@example.com",
        "phone": "+1-555-00000001", "company": "Acme Ltd", "segment": "enterprise", "country": "US",
        "created_at": "2024-01-01T00:00:00Z", "updated_at": "2026-03-01T12:00:00Z", "owner_id": "U099",
    }])


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory):
    """Night one, then night two built incrementally; a copy of night two's warehouse rebuilt
    with --full-refresh. Yields (incremental settings, full-refresh settings, first snapshot)."""
    incremental = Settings(data_dir=tmp_path_factory.mktemp("incremental"), configured_hash_salt="test-salt")
    full = Settings(data_dir=tmp_path_factory.mktemp("full_refresh"), configured_hash_salt="test-salt")
    incremental.ensure_dirs()
    write_export(incremental.exports_dir / "generic", FIRST_NIGHT, customers=30, days=21)
    load_exports(incremental)
    deliver_mapped_version(incremental, "in", "2026-02-21T00:00:00Z")
    run_dbt(incremental, "build")
    with duckdb.connect(str(incremental.warehouse_path)) as con:
        first = con.execute("select count(*) from marts.fct_communications").fetchone()[0]
    write_second_night(incremental.exports_dir / "generic")
    load_exports(incremental)
    # K1 again, delivered later but modified earlier: the version already built must stay
    deliver_mapped_version(incremental, "out", "2026-02-20T12:00:00Z")
    run_dbt(incremental, "build")
    with duckdb.connect(str(incremental.warehouse_path)) as con:
        con.execute("checkpoint")  # the file alone, without its write-ahead log, is the whole state
    shutil.copy(incremental.warehouse_path, full.warehouse_path)
    run_dbt(full, "build", "--full-refresh")
    return incremental, full, first


def _differences(con: duckdb.DuckDBPyConnection, table: str) -> tuple[int, int]:
    """Rows only in the incremental build, rows only in the full refresh (EXCEPT ALL both ways);
    ``table`` is schema-qualified."""
    only_incremental = con.execute(f"""select count(*) from (
        select * from incremental.{table} except all select * from {table})""").fetchone()[0]
    only_full = con.execute(f"""select count(*) from (
        select * from {table} except all select * from incremental.{table})""").fetchone()[0]
    return only_incremental, only_full


def test_incremental_marts_equal_a_full_refresh(nights):
    incremental, full, first = nights
    # dbt-duckdb keeps the full-refresh file open in this process: open it, attach the other
    with duckdb.connect(str(full.warehouse_path)) as con:
        con.execute(f"attach '{incremental.warehouse_path}' as incremental (read_only)")
        try:
            rebuilt = [*(f"marts.{t}" for t in REBUILT_MARTS), *REBUILT_BELOW_MARTS]
            differing = {t: _differences(con, t) for t in rebuilt}
        finally:
            con.execute("detach incremental")
    assert differing == dict.fromkeys(rebuilt, (0, 0)), "incremental tables differ from a full refresh"
    with duckdb.connect(str(incremental.warehouse_path)) as con:
        # the second night did add rows, replaced the corrected one and recounted a late day
        assert con.execute("select count(*) from marts.fct_communications").fetchone()[0] == first + 4
        # the later delivery of K1 lost to the version modified later, delivered the night before
        assert con.execute("""select direction from marts.fct_communications
                              where communication_id = 'K1'""").fetchall() == [("inbound",)]
        assert con.execute("""select body from marts.fct_communications
                              where communication_id = 'M00000001'""").fetchone()[0].startswith("Corrected")
        late_day = """select (select sum(communications) from marts.agg_channel_daily
                                  where activity_date = '2026-02-15'),
                                 (select count(*) from marts.fct_communications
                                  where occurred_at::date = '2026-02-15')"""
        counted, in_fact = con.execute(late_day).fetchone()
        assert counted == in_fact


def test_a_table_built_before_its_watermark_column_existed_is_rebuilt_whole(nights, tmp_path):
    """A warehouse from before fct_threads was incremental has no last_loaded_at: the next
    build treats every customer as new (append_new_columns adds the column), not fail."""
    incremental, full, _ = nights
    older = Settings(data_dir=tmp_path / "older", configured_hash_salt="test-salt")
    older.ensure_dirs()
    shutil.copy(incremental.warehouse_path, older.warehouse_path)
    with duckdb.connect(str(older.warehouse_path)) as con:
        con.execute("alter table marts.fct_threads drop column last_loaded_at")
    run_dbt(older, "build", "--select", "fct_threads")
    with duckdb.connect(str(full.warehouse_path)) as con:
        con.execute(f"attach '{older.warehouse_path}' as incremental (read_only)")
        try:
            assert _differences(con, "marts.fct_threads") == (0, 0)
        finally:
            con.execute("detach incremental")


def test_a_late_file_for_an_old_day_is_counted_in_the_daily_aggregates(nights):
    incremental, _, _ = nights
    with duckdb.connect(str(incremental.warehouse_path)) as con:
        counted, in_fact = con.execute("""
            select (select sum(communications) from marts.agg_customer_activity_daily
                    where customer_id = 'C000002' and activity_date = '2026-02-15'),
                   (select count(*) from marts.fct_communications
                    where customer_id = 'C000002' and occurred_at::date = '2026-02-15')""").fetchone()
    assert counted == in_fact >= 1


def test_snapshot_keeps_a_customers_old_segment_after_a_change(nights):
    incremental, _, _ = nights
    with duckdb.connect(str(incremental.warehouse_path)) as con:
        versions = con.execute("""select segment, owner_id, dbt_valid_from, dbt_valid_to
                                  from marts.snp_customers where customer_id = 'C000001'
                                  order by dbt_valid_from""").fetchall()
        on_date = con.execute("""select segment from marts.snp_customers where customer_id = 'C000001'
                                 and timestamp '2026-02-01' >= dbt_valid_from
                                 and timestamp '2026-02-01' < dbt_valid_to""").fetchall()
        current = con.execute(
            "select segment from marts.dim_customers where customer_id = 'C000001'").fetchone()
    assert len(versions) == 2
    (old_segment, _, _, closed_at), (new_segment, new_owner, opened_at, open_until) = versions
    assert (new_segment, new_owner) == ("enterprise", "U099") and current == ("enterprise",)
    assert old_segment != "enterprise" and on_date == [(old_segment,)]
    assert closed_at == opened_at == dt.datetime(2026, 3, 1, 12) and open_until.year == 9999


def test_marts_hold_no_plain_email_or_phone_in_any_text_column(nights):
    incremental, _, _ = nights
    with duckdb.connect(str(incremental.warehouse_path)) as con:
        text_columns = con.execute("""
            select table_name, column_name from information_schema.columns
            where table_schema = 'marts' and data_type like 'VARCHAR%'""").fetchall()
        assert len(text_columns) > 20
        for table, column in text_columns:
            as_text = f"cast({column} as varchar)"
            leaked = con.execute(f"""select count(*) from marts.{table}
                where regexp_matches({as_text}, '{EMAIL}|{PHONE}')
                   or {as_text} in (select email from raw.customers union all select phone from raw.customers)
                """).fetchone()[0]
            assert leaked == 0, f"marts.{table}.{column} holds a plain e-mail or phone"
        redacted = con.execute("""select count(*) from marts.fct_communications
                                  where body like '%[email]%' or body like '%[phone]%'""").fetchone()[0]
        kept_in_raw = con.execute(f"""select count(*) from raw.communications
                                      where regexp_matches(body, '{EMAIL}|{PHONE}')""").fetchone()[0]
    assert redacted >= 3 and kept_in_raw >= redacted


def test_dbt_docs_generate_and_source_freshness(nights):
    incremental, _, _ = nights
    run_dbt(incremental, "docs generate")
    freshness = check_source_freshness(incremental)
    assert (incremental.dbt_target_dir / "catalog.json").stat().st_size > 0
    assert {name: status for name, status in freshness.items() if status != "warn"} == {
        "generic.communications": "pass", "generic.customers": "pass", "extract._load_manifest": "pass",
        "mapped.communications": "pass",
    }
    # optional feeds with no rows are "infinitely old": a warning, never a failed night
    assert freshness["hubspot.calls"] == freshness["mapped.customers"] == "warn"


def test_no_file_loaded_for_a_week_stops_the_night(settings: Settings) -> None:
    with connect(settings) as con:
        ensure_raw_tables(con)
        con.execute("insert into raw.communications (_loaded_at) values (now() - interval 8 day)")
        con.execute("""insert into raw._load_manifest (file_path, status, loaded_at)
                       values ('exports/generic/communications_old.csv', 'loaded', now() - interval 8 day),
                              ('exports/generic/communications_bad.csv', 'failed', now())""")
    with pytest.raises(DbtError, match=r"extract\._load_manifest \(error"):
        check_source_freshness(settings)


def test_a_quiet_feed_only_warns(settings: Settings) -> None:
    with connect(settings) as con:
        ensure_raw_tables(con)
        con.execute("insert into raw._load_manifest (file_path, status, loaded_at) "
                    "values ('exports/salesforce/Task.csv', 'loaded', now())")
    statuses = check_source_freshness(settings)
    assert statuses["extract._load_manifest"] == "pass"
    assert statuses["generic.communications"] == "warn"
