import datetime as dt
import shutil

import duckdb

from crm_followups.extract.load import load_exports
from crm_followups.sample.generate import write_export


def _query(settings, sql):
    with duckdb.connect(str(settings.warehouse_path)) as con:
        return con.execute(sql).fetchall()


def test_every_row_is_loaded_or_rejected(settings):
    export = write_export(settings.exports_dir / "generic", dt.date(2026, 2, 1), customers=40, days=20)
    summary = load_exports(settings)
    assert summary.count("loaded") == 2
    rows_in, loaded, rejected = _query(settings, """
        select sum(rows_in), sum(rows_loaded), sum(rows_rejected) from raw._load_manifest
        where file_path like '%communications%'""")[0]
    assert rows_in == export.rows == loaded + rejected
    assert loaded == _query(settings, "select count(*) from raw.communications")[0][0]
    assert rejected == _query(
        settings, "select count(*) from raw._rejects where file_path like '%communications%'")[0][0]
    reasons = {r[0] for r in _query(settings, "select reason from raw._rejects")}
    assert {"missing customer_id", "missing communication_id", "unparseable occurred_at"} <= reasons
    assert any(r.startswith("MISSING COLUMNS") for r in reasons)
    line = _query(settings, "select line_number, raw_text from raw._rejects where line_number is not null")
    assert line == [(export.rows + 1, "M-BROKEN,C000001,email,inbound")]


def test_a_file_loads_once_even_renamed(settings):
    export = write_export(settings.exports_dir / "generic", dt.date(2026, 2, 1), customers=10, days=5)
    load_exports(settings)
    shutil.copy(export.communications, export.communications.with_name("communications_copy.csv"))
    again = load_exports(settings)
    assert again.count("skipped") == 3 and again.count("loaded") == 0
    assert _query(settings, "select count(*) from raw._load_manifest")[0][0] == 2


def test_a_changed_file_is_a_new_version(settings):
    export = write_export(settings.exports_dir / "generic", dt.date(2026, 2, 1), customers=10, days=5)
    load_exports(settings)
    with export.customers.open("a") as f:
        f.write("C999999,New Customer,new@example.com,+1,New Co,smb,US,"
                "2026-01-01,2026-01-02,U1,10,False,False\n")
    assert load_exports(settings).count("loaded") == 1
    assert _query(settings, "select count(*) from raw.customers where customer_id = 'C999999'") == [(1,)]


def test_wrong_columns_fail_with_a_clear_message_and_the_rest_loads(settings):
    folder = settings.exports_dir / "generic"
    write_export(folder, dt.date(2026, 2, 1), customers=10, days=5)
    (folder / "communications_bad.csv").write_text("id,text\n1,hello\n")
    summary = load_exports(settings)
    failed = [f for f in summary.files if f.status == "failed"]
    assert len(failed) == 1 and summary.count("loaded") == 2
    assert "communications_bad.csv" in failed[0].error and "communication_id" in failed[0].error
    assert "the file has id, text" in failed[0].error
    status, error = _query(settings, """
        select status, error from raw._load_manifest where file_path like '%communications_bad.csv'""")[0]
    assert status == "failed" and "missing column(s)" in error
