"""Real exports (HubSpot, Salesforce, a GBK mapped CSV, JSONL) through extract and dbt."""

import csv
import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest

from crm_followups.extract.load import load_exports
from crm_followups.extract.readers import transcode_to_utf8
from crm_followups.transform.dbt_runner import build_warehouse

FIXTURES = Path(__file__).parents[1] / "fixtures" / "exports"


def _query(settings, sql, params=()):
    with duckdb.connect(str(settings.warehouse_path)) as con:
        return con.execute(sql, params).fetchall()


@pytest.fixture
def delivered(settings):
    """The fixture exports, copied into the inbox and loaded."""
    shutil.copytree(FIXTURES, settings.exports_dir, dirs_exist_ok=True)
    summary = load_exports(settings)
    assert summary.count("failed") == 0
    return settings


def _comm(settings, source_system, communication_id):
    rows = _query(settings, """
        select customer_id, channel, direction, occurred_at, subject, body
        from marts.fct_communications where source_system = ? and communication_id = ?""",
                  (source_system, communication_id))
    assert len(rows) == 1, (source_system, communication_id, rows)
    return rows[0]


def test_every_source_reaches_the_marts(delivered):
    build_warehouse(delivered)
    s = delivered
    # HubSpot: display-name headers, INCOMING_EMAIL is inbound, notes are internal
    assert _comm(s, "hubspot", "31002")[:4] == ("9002", "phone", "inbound", dt.datetime(2026, 1, 30, 14, 2))
    assert _comm(s, "hubspot", "41001")[:3] == ("9001", "email", "inbound")
    assert _comm(s, "hubspot", "51001")[1:3] == ("note", "internal")
    assert "\n" in _comm(s, "hubspot", "31002")[5]  # quoted multi-line body
    # the same e-mail delivered twice: the later modification wins
    assert _comm(s, "hubspot", "41002")[4] == "Your quote (edited)"
    # Salesforce: upper-case API names; done at CompletedDateTime, not the ActivityDate due date
    assert _comm(s, "salesforce", "00T5e00000AbCd1EAF")[:4] == (
        "0035e00000XyZa1AAB", "phone", "outbound", dt.datetime(2026, 1, 28, 9, 25))
    # an e-mail task without an EmailMessage (a customer's complaint) is inbound by default
    assert _comm(s, "salesforce", "00T5e00000AbCd2EAF")[1:4] == (
        "email", "inbound", dt.datetime(2026, 1, 29, 15, 45))
    assert _comm(s, "salesforce", "00T5e00000AbCd3EAF")[:3] == ("00Q5e00000LdLd1EAA", "phone", "inbound")
    # an EmailMessage logged with a task gives it its direction and text; events are meetings
    assert _comm(s, "salesforce", "00T5e00000AbCd6EAF")[1:3] == ("email", "inbound")
    assert _comm(s, "salesforce", "00T5e00000AbCd6EAF")[5].startswith("When will the replacement parts")
    assert _comm(s, "salesforce", "00U5e00000EvEv1EAA")[1:4] == (
        "meeting", "outbound", dt.datetime(2026, 1, 27, 13, 0))
    # HubSpot: a completed call task happened when completed; meeting HTML is stripped
    assert _comm(s, "hubspot", "61002")[1:4] == ("phone", "outbound", dt.datetime(2026, 1, 31, 16, 30))
    assert _comm(s, "hubspot", "71001")[5] == "Walked through the  reporting  module."
    # a to-do and a deleted call are not communications
    assert _query(s, """select count(*) from marts.fct_communications
                        where communication_id in ('00T5e00000AbCd4EAF', '00T5e00000AbCd5EAF', '61001')
                     """) == [(0,)]
    # GBK, semicolons, Beijing time and the mapping's channel values; the revised record wins
    assert _comm(s, "kingdee", "K-1")[:4] == ("KD-001", "phone", "inbound", dt.datetime(2026, 1, 30, 1, 30))
    assert _comm(s, "kingdee", "K-2")[1:3] == ("chat", "outbound")
    assert _comm(s, "kingdee", "K-2")[5] == "已发送报价单（修订版）。"
    # JSONL: an offset is honoured, no offset means UTC
    assert _comm(s, "generic", "J-1")[3] == dt.datetime(2026, 1, 30, 2, 0)
    assert _comm(s, "generic", "J-2")[3] == dt.datetime(2026, 1, 30, 2, 5)

    customers = {r[0]: r[1:] for r in _query(s, """
        select customer_id, name, company, country, do_not_contact, email_opt_out
        from marts.dim_customers""")}
    assert customers["0035e00000XyZa1AAB"] == ("Nora Invented", "Acme Imaginary GmbH", "DE", True, False)
    assert customers["00Q5e00000LdLd1EAA"] == ("Sam Placeholder", "Demo Corp", "FR", False, True)
    assert customers["9002"] == ("Leo Sample", "Sample Widgets Ltd", "GB", False, True)
    assert customers["KD-001"][:2] == ("张三（虚构）", "示例科技有限公司")


def test_a_later_email_message_alone_reaches_its_task_and_thread(delivered):
    """A Salesforce e-mail task takes its direction and text from its EmailMessage: a newer
    message delivered without its task must reach the incremental fact and thread tables."""
    build_warehouse(delivered)
    with (FIXTURES / "salesforce" / "EmailMessage.csv").open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        message = next(reader)
        columns = reader.fieldnames
    message.update(LASTMODIFIEDDATE="2026-02-01T09:00:00.000Z", INCOMING="0",
                   TEXTBODY="The replacement parts shipped today.")
    with (delivered.exports_dir / "salesforce" / "EmailMessage_2.csv").open(
            "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, quoting=csv.QUOTE_ALL)
        writer.writeheader()
        writer.writerow(message)
    assert load_exports(delivered).count("loaded") == 1
    build_warehouse(delivered)
    task = message["ACTIVITYID"]
    assert _comm(delivered, "salesforce", task)[2] == "outbound"
    assert _comm(delivered, "salesforce", task)[5] == "The replacement parts shipped today."
    assert _query(delivered, """select direction from intermediate.int_communications__threaded
                                where source_system = 'salesforce' and communication_id = ?""",
                  (task,)) == [("outbound",)]


def test_raw_keeps_every_delivery_in_its_own_table(delivered):
    s = delivered
    assert _query(s, "select count(*) from raw.hubspot__emails where hs_object_id = '41002'") == [(2,)]
    assert _query(s, "select count(*) from raw.salesforce__task") == [(6,)]
    assert _query(s, "select distinct _source_system from raw.mapped__communications") == [("kingdee",)]
    rejected = _query(delivered, "select reason from raw._rejects")
    assert rejected == [("no associated contact",)]


def test_renamed_copies_add_nothing(delivered):
    before = _query(delivered, "select count(*) from raw._load_manifest")
    both = "select count(*) from raw.salesforce__task, raw.mapped__communications"
    raw_rows = _query(delivered, both)
    for path in [p for p in delivered.exports_dir.rglob("*") if p.suffix in (".csv", ".jsonl")]:
        shutil.copy(path, path.with_name(f"{path.stem}_2{path.suffix}"))
    again = load_exports(delivered)
    assert again.count("loaded") == again.count("failed") == 0
    assert again.count("skipped") == len(again.files) == 2 * before[0][0]
    assert _query(delivered, "select count(*) from raw._load_manifest") == before
    assert _query(delivered, both) == raw_rows


def test_transcoding_streams_and_marks_undecodable_bytes(settings, monkeypatch, tmp_path):
    monkeypatch.setattr("crm_followups.extract.readers.CHUNK_BYTES", 3)  # split characters
    source = tmp_path / "in.csv"
    source.write_bytes("a,b\n1,中文\n".encode("gb18030") + b"2,\x81\x30bad\n" + "3,好\n".encode("gb18030"))
    target = tmp_path / "out.csv"
    transcode_to_utf8(source, target, "gb18030")
    lines = target.read_bytes().split(b"\n")
    assert lines[1].decode() == "1,中文" and lines[3].decode() == "3,好"
    assert b"\xff" in lines[2]


def test_generic_parquet_loads_with_its_types_as_text(settings):
    folder = settings.exports_dir / "generic"
    with duckdb.connect() as con:
        con.execute(f"""copy (select 'P-1' as communication_id, 'C-P' as customer_id, 'sms' as channel,
                                     'inbound' as direction,
                                     timestamptz '2026-01-30 10:00:00+00' as occurred_at,
                                     null as subject, 'hi' as body, null as agent_id, null as label)
                        to '{folder / "communications_sms.parquet"}' (format parquet)""")
    assert load_exports(settings).count("loaded") == 1
    rows = _query(settings, "select communication_id, occurred_at::timestamptz from raw.communications")
    assert rows == [("P-1", dt.datetime(2026, 1, 30, 10, tzinfo=dt.UTC))]
