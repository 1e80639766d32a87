"""Bad input never stops the night and never disappears: each file (and each object reading
it) is loaded, rejected row by row, failed with a reason, left waiting or listed as ignored;
and no failure quotes the file's content into the log or the manifest."""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from pathlib import Path

import duckdb
import pytest

from crm_followups.core.settings import Settings
from crm_followups.extract import load
from crm_followups.extract.load import load_exports

HEADER = "communication_id,customer_id,channel,direction,occurred_at,subject,body,agent_id,label\n"
SECRET = "SECRET-CONTENT"  # text of the files that must never reach a log line or an error


def _row(cid: str, occurred_at: str = "2026-01-30T10:00:00Z", body: str = "hello") -> str:
    return f"{cid},C1,email,inbound,{occurred_at},subject,{body},A1,\n"


def _manifest(settings: Settings) -> dict[str, list[tuple]]:
    """File name -> its manifest rows (object, status, rows_in, rows_loaded, rows_rejected, error)."""
    with duckdb.connect(str(settings.warehouse_path)) as con:
        rows = con.execute("""select file_path, object, status, rows_in, rows_loaded, rows_rejected, error
                              from raw._load_manifest order by file_path, object""").fetchall()
    manifest: dict[str, list[tuple]] = {}
    for path, *rest in rows:
        manifest.setdefault(Path(path).name, []).append(tuple(rest))
    return manifest


def _query(settings: Settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path)) as con:
        return con.execute(sql).fetchall()


def _assert_accounted(settings: Settings) -> None:
    for name, rows in _manifest(settings).items():
        for _obj, _status, rows_in, loaded, rejected, _error in rows:
            assert rows_in == loaded + rejected, name


def _generic(settings: Settings) -> Path:
    folder = settings.exports_dir / "generic"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _settings(settings: Settings, **changes) -> Settings:
    return settings.model_copy(update=changes)


def test_an_over_long_line_fails_its_file_by_line_number_and_the_rest_loads(settings, caplog):
    settings = _settings(settings, max_line_bytes=1024)
    folder = _generic(settings)
    (folder / "communications_a_long.csv").write_text(
        HEADER + _row("L1") + _row("L2", body=SECRET + "y" * 3000) + _row("L3"))
    (folder / "communications_b_good.csv").write_text(HEADER + _row("G1") + _row("G2"))
    caplog.set_level(logging.INFO)
    summary = load_exports(settings)

    manifest = _manifest(settings)
    (_obj, status, rows_in, loaded, rejected, error), = manifest["communications_a_long.csv"]
    assert (status, rows_in, loaded, rejected) == ("failed", 3, 0, 3)
    assert error.endswith("communications_a_long.csv: line 3 is longer than 1024 bytes "
                          "(CRM_MAX_LINE_BYTES); raise it or split the field")
    assert manifest["communications_b_good.csv"][0][1:5] == ("loaded", 2, 2, 0)
    assert summary.as_dict()["files_failed"] == 1
    assert SECRET not in caplog.text and "yyyy" not in caplog.text
    _assert_accounted(settings)


def test_a_field_over_duckdbs_default_2_mb_loads(settings):
    folder = _generic(settings)
    (folder / "communications_big.csv").write_text(HEADER + _row("B1", body="z" * 2_500_000) + _row("B2"))
    load_exports(settings)
    assert _manifest(settings)["communications_big.csv"][0][1:5] == ("loaded", 2, 2, 0)
    assert _query(settings, "select max(length(body)) from raw.communications") == [(2_500_000,)]


def test_a_binary_file_named_like_an_export_fails_alone_and_once(settings, caplog):
    folder = _generic(settings)
    (folder / "communications_x.csv").write_bytes(
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + SECRET.encode() + bytes(range(256)) * 4)
    (folder / "communications_y.csv").write_text(HEADER + _row("Y1"))
    caplog.set_level(logging.INFO)
    load_exports(settings)
    load_exports(settings)  # the next night: no second failure row, the good file not again

    manifest = _manifest(settings)
    (_obj, status, rows_in, loaded, rejected, error), = manifest["communications_x.csv"]
    assert status == "failed" and rows_in == rejected == 6 and loaded == 0  # lines after the first
    assert "binary content (NUL bytes in the first 8192 bytes), not a text export" in error
    assert manifest["communications_y.csv"][0][1:5] == ("loaded", 1, 1, 0)
    assert SECRET not in caplog.text and SECRET not in error
    assert _query(settings, "select count(*) from raw._rejects where file_path like '%x.csv'") == [(1,)]


def test_undecodable_bytes_reject_their_record_with_a_clear_reason(settings, caplog):
    folder = _generic(settings)
    (folder / "communications_bytes.csv").write_bytes(
        (HEADER + _row("U1")).encode() + b"U2,C1,email,inbound,2026-01-30,s,caf\xe9 " + SECRET.encode()
        + b",A1,\n" + _row("U3").encode())
    caplog.set_level(logging.INFO)
    load_exports(settings)
    assert _manifest(settings)["communications_bytes.csv"][0][1:5] == ("loaded", 3, 2, 1)
    assert _query(settings, "select reason, line_number from raw._rejects") == [
        ("INVALID ENCODING: bytes that are not valid utf-8", 3)]
    assert SECRET not in caplog.text


def test_the_generic_inbox_reads_the_declared_encoding(settings):
    settings = _settings(settings, generic_encoding="gb18030")
    (_generic(settings) / "communications_cn.csv").write_bytes(
        (HEADER + _row("CN1", body="想再买二十个许可证")).encode("gb18030") + b"CN2,C1,email,inbound,"
        b"2026-01-30,s,\x81\x20,A1,\n")
    load_exports(settings)
    assert _manifest(settings)["communications_cn.csv"][0][1:5] == ("loaded", 2, 1, 1)
    assert _query(settings, "select body from raw.communications") == [("想再买二十个许可证",)]
    assert _query(settings, "select reason from raw._rejects") == [
        ("INVALID ENCODING: bytes that are not valid gb18030",)]


def test_an_unknown_generic_encoding_fails_when_the_settings_are_read():
    with pytest.raises(ValueError, match="unknown encoding 'klingon'"):
        Settings(generic_encoding="klingon")


def test_a_file_still_being_written_waits_for_the_next_night(settings):
    settings = _settings(settings, file_settle_seconds=300)
    path = _generic(settings) / "communications_now.csv"
    path.write_text(HEADER + _row("W1") + "W2,C1,email,inb")  # cut mid-line, still growing
    summary = load_exports(settings).as_dict()
    assert summary["files_waiting"] == 1 and summary["waiting"] == [str(path)]
    assert _manifest(settings) == {}
    assert _query(settings, "select count(*) from raw._rejects") == [(0,)]

    path.write_text(HEADER + _row("W1") + _row("W2"))
    old = time.time() - 600
    os.utime(path, (old, old))
    assert load_exports(settings).as_dict()["files_loaded"] == 1
    assert _manifest(settings)["communications_now.csv"][0][1:5] == ("loaded", 2, 2, 0)
    assert _query(settings, "select count(*) from raw._rejects") == [(0,)]


def test_a_file_that_changes_while_loading_is_rolled_back_and_waits(settings, monkeypatch):
    path = _generic(settings) / "communications_growing.csv"
    path.write_text(HEADER + _row("G1"))
    load_staged = load._load_staged

    def append_meanwhile(*args, **kwargs):
        with path.open("a") as fh:
            fh.write(_row("G2"))
        return load_staged(*args, **kwargs)

    monkeypatch.setattr(load, "_load_staged", append_meanwhile)
    assert load_exports(settings).as_dict()["files_waiting"] == 1
    assert _manifest(settings) == {}
    assert _query(settings, "select count(*) from raw.communications") == [(0,)]


def test_an_unchanged_loaded_file_is_skipped_without_hashing(settings, monkeypatch):
    path = _generic(settings) / "communications_once.csv"
    path.write_text(HEADER + _row("O1"))
    assert load_exports(settings).as_dict()["files_hashed"] == 1
    size, mtime = _query(settings, "select file_size, file_mtime from raw._load_manifest")[0]
    assert size == path.stat().st_size and mtime.timestamp() == pytest.approx(path.stat().st_mtime)

    def no_hashing(_path):
        raise AssertionError("an unchanged file was hashed")

    monkeypatch.setattr(load, "file_sha256", no_hashing)
    summary = load_exports(settings).as_dict()
    assert (summary["files_skipped"], summary["files_hashed"]) == (1, 0)


COMPLAINTS_MAPPING = """\
objects:
  communications:
    files: "complaints*.csv"
    columns: {communication_id: complaint_id, customer_id: consumer_id, occurred_at: received,
              body: narrative}
  customers:
    files: "complaints*.csv"
    columns: {customer_id: consumer_id, name: consumer_name, updated_at: received}
"""


def test_a_file_read_by_two_objects_loads_into_both_with_a_manifest_row_each(settings):
    folder = settings.exports_dir / "mapped" / "complaints"
    folder.mkdir(parents=True)
    (folder / "mapping.yml").write_text(COMPLAINTS_MAPPING)
    (folder / "complaints_2026.csv").write_text(
        "complaint_id,consumer_id,consumer_name,received,narrative\n"
        "K1,P1,Ann,2026-01-30T10:00:00Z,late delivery\n"
        "K2,,Bob,2026-01-30T11:00:00Z,no consumer\n")
    (folder / "notes.csv").write_text("a,b\n1,2\n")
    summary = load_exports(settings).as_dict()

    assert _manifest(settings)["complaints_2026.csv"] == [
        ("raw.mapped__communications", "loaded", 2, 1, 1, None),
        ("raw.mapped__customers", "loaded", 2, 1, 1, None)]
    assert _query(settings, "select object, reason from raw._rejects order by object") == [
        ("raw.mapped__communications", "missing customer_id"),
        ("raw.mapped__customers", "missing customer_id")]
    assert _query(settings, "select customer_id, name from raw.mapped__customers") == [("P1", "Ann")]
    assert summary["files_ignored"] == 1 and summary["ignored"] == [str(folder / "notes.csv")]
    # a renamed copy is skipped for both objects
    (folder / "complaints_copy.csv").write_bytes((folder / "complaints_2026.csv").read_bytes())
    assert load_exports(settings).as_dict()["files_skipped"] == 4


def test_a_generic_file_of_no_object_is_listed_as_ignored(settings):
    path = _generic(settings) / "notes_export.csv"
    path.write_text("a\n1\n")
    summary = load_exports(settings).as_dict()
    assert (summary["files_ignored"], summary["ignored"]) == (1, [str(path)])
    assert _manifest(settings) == {}


def test_event_times_in_the_future_are_rejected_and_times_without_zone_are_utc(settings):
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    soon = (now + dt.timedelta(hours=20)).strftime("%Y-%m-%d %H:%M:%S")  # no zone: UTC, within 24 h
    late = (now + dt.timedelta(hours=26)).strftime("%Y-%m-%d %H:%M:%S")  # no zone: UTC, beyond it
    (_generic(settings) / "communications_future.csv").write_text(
        HEADER + _row("F1") + _row("F2", "2031-05-01T00:00:00Z") + _row("F3", "2099-12-31T23:59:59+08:00")
        + _row("F4", soon) + _row("F5", late))
    load_exports(settings)
    assert _manifest(settings)["communications_future.csv"][0][1:5] == ("loaded", 5, 2, 3)
    reason = "occurred_at in the future (after the load time plus CRM_FUTURE_TOLERANCE_HOURS)"
    assert _query(settings, "select record_number, reason from raw._rejects order by 1") == [
        (2, reason), (3, reason), (5, reason)]
    loaded = _query(settings, "select communication_id from raw.communications order by 1")
    assert loaded == [("F1",), ("F4",)]


def test_sql_looking_text_loads_as_data(settings):
    payload = "'); drop table raw.communications; --"
    (_generic(settings) / "communications_sql.csv").write_text(
        HEADER + f'"{payload}","{payload}",email,inbound,2026-01-30T10:00:00Z,"{payload}",x,A1,\n')
    (_generic(settings) / "customers_sql.csv").write_text(
        "customer_id,name,email,phone,company,segment,country,created_at,updated_at\n"
        f'"{payload}","Robert\'); DROP TABLE students;--",,,,,,,\n')
    load_exports(settings)
    assert _query(settings, "select communication_id, customer_id, subject from raw.communications") == [
        (payload, payload, payload)]
    assert _query(settings, "select name from raw.customers") == [("Robert'); DROP TABLE students;--",)]
    _assert_accounted(settings)


CUSTOMERS_HEADER = "customer_id,name,email,phone,company,segment,country,created_at,updated_at\n"


def test_the_same_rows_in_files_out_of_date_order_stage_once_latest_version_winning(settings):
    """Night one brings the newest customer version; night two an older export with the same
    records: raw keeps every delivery (accounted), staging one row per record, newest winning."""
    from crm_followups.transform.dbt_runner import run_dbt  # heavy: dbt

    folder = _generic(settings)
    (folder / "customers_2026-03-02.csv").write_text(
        CUSTOMERS_HEADER + "C1,Ann New,,,Acme,enterprise,US,2024-01-01,2026-03-02T00:00:00Z\n")
    (folder / "communications_2026-03-02.csv").write_text(HEADER + _row("M1") + _row("M2"))
    load_exports(settings)
    (folder / "customers_2026-02-01.csv").write_text(
        CUSTOMERS_HEADER + "C1,Ann Old,,,Acme,smb,US,2024-01-01,2026-02-01T00:00:00Z\n")
    (folder / "communications_2026-02-01.csv").write_text(HEADER + _row("M1", body="again") + _row("M2"))
    load_exports(settings)
    _assert_accounted(settings)
    assert _query(settings, "select count(*) from raw.communications") == [(4,)]

    run_dbt(settings, "run", "--select", "+stg_generic__communications", "+stg_generic__customers")
    assert _query(settings, "select name, segment from staging.stg_generic__customers") == [
        ("Ann New", "enterprise")]
    assert _query(settings, """select communication_id, count(*) from staging.stg_generic__communications
                               group by 1 order by 1""") == [("M1", 1), ("M2", 1)]


def test_a_header_row_that_is_really_data_is_not_quoted_in_the_error(settings, caplog):
    (_generic(settings) / "customers_notes.csv").write_text(f"{SECRET} " + "x" * 80 + "\nsecond line\n")
    caplog.set_level(logging.INFO)
    load_exports(settings)
    (_obj, status, rows_in, loaded, rejected, error), = _manifest(settings)["customers_notes.csv"]
    assert (status, rows_in, loaded, rejected) == ("failed", 1, 0, 1)
    assert "missing column(s) customer_id" in error and "the file has <a header of 95 characters>" in error
    assert SECRET not in error and SECRET not in caplog.text
