"""The report a sales or service lead reads: names and companies, the message behind each
follow-up, a link to the CRM record, by priority, readable in Chinese, escaped and small."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import pytest

from crm_followups.core.warehouse import create_python_tables
from crm_followups.delivery.report import read_report_data, render_report
from crm_followups.privacy.files import without_customer_html

AS_OF = dt.date(2026, 3, 2)
URL = "https://crm.example.com/customers/{customer_id}"
LONG_BODY = "\n".join(f"line {n}" for n in range(1, 10))

CUSTOMERS = [  # customer_id, name, company, updated_at
    ("c1", "Old Name", "Old Co", "2026-01-01"),
    ("c1", "Ann Lee", "Acme Ltd", "2026-02-01"),  # the latest version names the customer
    ("c2", "王小明", "北京星辰科技有限公司", "2026-02-01"),
    ("c 3/x", "<script>alert(1)</script>", "A & B", "2026-02-01"),
]
COMMUNICATIONS = [  # communication_id, customer_id, occurred_at, subject, body
    ("m1", "c1", "2026-03-01 09:00", "Pricing for 50 seats", f"\n\n{LONG_BODY}"),
    ("m2", "c2", "2026-03-01 10:00", "投诉：发票错误", "你好，\n发票金额不对，请联系我 [phone]。\n谢谢"),
    ("m3", "c 3/x", "2026-03-01 11:00", "<b>hi</b>", "1 < 2 & 3 > 2"),
    ("m4", "c2", "2026-02-20 10:00", "older", "not the evidence"),
]
FOLLOWUPS = [  # followup_id, customer_id, reason, priority, score, owner_queue, evidence
    ("f1", "c1", "Asked about pricing", 2, 0.80, "sales", ["m1"]),
    ("f2", "c2", "Complaint to resolve", 1, 0.95, "service", ["m2", "m4"]),
    ("f3", "c 3/x", "Asked about pricing", 1, 0.92, "sales", ["m3"]),
    ("f4", "c1", "Ready to buy", 3, 0.60, "sales", ["m1"]),
]


def _warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    """A warehouse file with the contract tables the report reads, holding the rows above."""
    con = duckdb.connect(str(path))
    create_python_tables(con)
    con.execute("""create table marts.dim_customers (customer_id varchar, source_system varchar,
                   name varchar, company varchar, updated_at timestamptz)""")
    con.execute("""create table marts.fct_communications (communication_id varchar, source_system varchar,
                   customer_id varchar, direction varchar, occurred_at timestamptz, subject varchar,
                   body varchar)""")
    con.executemany("insert into marts.dim_customers values (?, 'generic', ?, ?, ?)", CUSTOMERS)
    con.executemany("insert into marts.fct_communications values (?, 'generic', ?, 'inbound', ?, ?, ?)",
                    COMMUNICATIONS)
    con.executemany("""insert into marts.followups (followup_id, as_of_date, customer_id, reason, status,
                       priority, score, due_date, recommended_channel, owner_queue,
                       evidence_communication_ids)
                       select $1, $8, $2, $3, 'open', $4, $5, $8, 'email', $6, $7""",
                    [(*row, AS_OF) for row in FOLLOWUPS])
    return con


@pytest.fixture
def page(tmp_path: Path) -> str:
    with _warehouse(tmp_path / "warehouse.duckdb") as con:
        return render_report(read_report_data(con, AS_OF, URL))


def _rows(page: str) -> list[str]:
    return re.findall(r"<tr><td>.*?</tr>", page, flags=re.S)


def test_each_followup_shows_the_customers_name_company_and_the_message_that_raised_it(page: str) -> None:
    ann = next(row for row in _rows(page) if "<td>c1</td>" in row and "Asked about pricing" in row)
    assert "Ann Lee" in ann and "Acme Ltd" in ann and "Old Name" not in ann
    assert "<b>Pricing for 50 seats</b>" in ann
    assert "line 1\nline 2\nline 3</div>" in ann and "line 4" not in ann  # first lines only

    wang = next(row for row in _rows(page) if "<td>c2</td>" in row)
    assert "王小明" in wang and "北京星辰科技有限公司" in wang and f"<td>{AS_OF}</td>" in wang
    assert "投诉：发票错误" in wang and "发票金额不对，请联系我 [phone]。" in wang
    assert "not the evidence" not in wang  # the first evidence raised it, not a later one


def test_names_link_to_the_crm_record_with_the_id_quoted(page: str) -> None:
    assert '<a href="https://crm.example.com/customers/c1">Ann Lee</a>' in page
    assert 'href="https://crm.example.com/customers/c%203%2Fx"' in page


def test_no_template_means_no_link(tmp_path: Path) -> None:
    with _warehouse(tmp_path / "warehouse.duckdb") as con:
        page = render_report(read_report_data(con, AS_OF, ""))
    assert "<a " not in page and "Ann Lee" in page


def test_each_queue_lists_its_followups_by_priority_then_score(page: str) -> None:
    sales = page[page.index("Top follow-ups: sales"):page.index("Top follow-ups: service")]
    order = [re.match(r"<tr><td>(\d)</td>.*<td>(f\d|[\d.]+)</td></tr>", row, flags=re.S).groups()
             for row in _rows(sales)]
    assert order == [("1", "0.92"), ("2", "0.80"), ("3", "0.60")]


def test_text_from_exports_is_escaped(page: str) -> None:
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "A &amp; B" in page and "&lt;b&gt;hi&lt;/b&gt;" in page and "1 &lt; 2 &amp; 3 &gt; 2" in page


def test_the_page_is_utf8_names_cjk_system_fonts_and_fetches_nothing(page: str) -> None:
    assert "<meta charset='utf-8'>" in page
    assert '"Noto Sans CJK SC"' in page and '"Microsoft YaHei"' in page
    assert not re.search(r"""(src|href)=["'](?!https://crm\.example\.com/|data:)""", page)
    assert len(page.encode()) < 20_000


def test_erasure_still_finds_the_customers_rows(page: str) -> None:
    erased = without_customer_html(page, "c2")
    assert "王小明" not in erased and "Ann Lee" in erased
