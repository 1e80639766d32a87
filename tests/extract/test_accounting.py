"""Broken exports among good ones: every row is loaded or rejected with a reason, per file."""

import shutil
from pathlib import Path

import duckdb

from crm_followups.extract.load import load_exports

FIXTURES = Path(__file__).parents[1] / "fixtures" / "exports"
HEADER = "communication_id,customer_id,channel,direction,occurred_at,subject,body,agent_id,label\n"
MAPPING = """\
encoding: gbk
objects:
  communications:
    files: "calls*.csv"
    columns: {communication_id: 编号, customer_id: 客户, channel: 方式, occurred_at: 时间, body: 内容}
"""


def _manifest(settings):
    with duckdb.connect(str(settings.warehouse_path)) as con:
        rows = con.execute("""select file_path, rows_in, rows_loaded, rows_rejected, status, error
                              from raw._load_manifest""").fetchall()
        reasons = con.execute("""select file_path, list(reason order by record_number)
                                 from raw._rejects group by file_path""").fetchall()
    return {Path(r[0]).name: r[1:] for r in rows}, {Path(r[0]).name: r[1] for r in reasons}


def _write_broken_exports(exports: Path) -> None:
    generic = exports / "generic"
    generic.mkdir(parents=True, exist_ok=True)
    (generic / "communications_mixed.csv").write_text(
        HEADER
        + "M1,C1,email,inbound,2026-01-30T10:00:00Z,Hi,\"a body, with a comma\",,\r\n"
        + "M2,C1,email,inbound\n"                                    # too few columns
        + ",C1,email,inbound,2026-01-30T10:00:00Z,,no id,,\n"        # no key
        + "M3,C1,phone,outbound,not a time,,,A1,\n"                  # bad timestamp
        + "M4,C2,chat,inbound,2026-01-30 11:00,,\"two\nlines\",,\n")
    (generic / "communications_empty.csv").write_text("")
    (generic / "communications_truncated.csv").write_text(
        HEADER + "T1,C1,email,inbound,2026-01-30T10:00:00Z,,\"the export stopped in the mid")
    (generic / "customers_wrong.csv").write_text("id,full_name\n1,Ann\n2,Bob\n")
    (generic / "communications_bad.jsonl").write_text(
        '{"communication_id": "JX1", "customer_id": "C9", "channel": "sms", "direction": "inbound", '
        '"occurred_at": "2026-01-30", "subject": "", "body": "ok", "agent_id": "", "label": ""}\n'
        '{"communication_id": "JX2", "customer_id": \n')
    gbk = exports / "mapped" / "gbk_crm"
    gbk.mkdir(parents=True)
    (gbk / "mapping.yml").write_text(MAPPING, encoding="utf-8")
    (gbk / "calls_jan.csv").write_bytes(
        "编号,客户,方式,时间,内容\n".encode("gbk")
        + "G1,K1,电话,2026-01-30 09:00,你好\n".encode("gbk")
        + b"G2,K1,\xff\xfe,2026-01-30 09:05,x\n"
        + "G3,K1,电话,2026-01-30 09:10,再见\n".encode("gbk"))
    wrong = exports / "mapped" / "wrong_map"
    wrong.mkdir(parents=True)
    (wrong / "mapping.yml").write_text(MAPPING.replace("内容", "正文"), encoding="utf-8")
    (wrong / "calls_feb.csv").write_bytes("编号,客户,方式,时间,内容\nG9,K1,电话,2026-02-01 09:00,你好\n"
                                          .encode("gbk"))


def test_broken_files_are_accounted_and_good_files_load(settings):
    shutil.copytree(FIXTURES / "salesforce", settings.exports_dir / "salesforce")
    _write_broken_exports(settings.exports_dir)
    load_exports(settings)
    manifest, reasons = _manifest(settings)

    for name, (rows_in, loaded, rejected, _status, _error) in manifest.items():
        assert rows_in == loaded + rejected, name
        if rejected:
            assert reasons.get(name), f"{name}: rejected rows without a reason"

    assert manifest["communications_mixed.csv"][:4] == (5, 2, 3, "loaded")
    mixed = reasons["communications_mixed.csv"]
    assert "missing communication_id" in mixed and "unparseable occurred_at" in mixed
    assert any(r.startswith("MISSING COLUMNS") for r in mixed)

    empty = manifest["communications_empty.csv"]
    assert empty[:4] == (0, 0, 0, "failed")
    assert empty[4].endswith("communications_empty.csv: empty file: no header row")
    truncated = manifest["communications_truncated.csv"]
    assert truncated[3] == "failed" and "truncated" in truncated[4]
    wrong = manifest["customers_wrong.csv"]
    assert wrong[:4] == (2, 0, 2, "failed")
    assert "missing column(s) customer_id, name" in wrong[4] and "the file has id, full_name" in wrong[4]
    assert manifest["communications_bad.jsonl"][:4] == (2, 1, 1, "loaded")
    assert reasons["communications_bad.jsonl"] == ["invalid JSON: not one JSON object on the line"]

    # the undecodable record is rejected with its line; the records around it load
    assert manifest["calls_jan.csv"][:4] == (3, 2, 1, "loaded")
    assert reasons["calls_jan.csv"] == ["INVALID ENCODING: bytes that are not valid gbk"]
    # a mapping naming a column the file lacks names the file, the column and what is there
    error = manifest["calls_feb.csv"][4]
    assert "calls_feb.csv" in error and "正文" in error and "编号, 客户, 方式, 时间, 内容" in error

    # the good files still load
    assert all(manifest[n][3] == "loaded" for n in ("Task.csv", "Contact.csv", "Lead.csv", "Account.csv"))

    # a second night changes nothing: no new manifest rows, rejects or raw rows
    again = load_exports(settings)
    assert again.count("loaded") == 0
    assert _manifest(settings) == (manifest, reasons)
