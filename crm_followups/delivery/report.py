"""The one-page HTML report of a night: top follow-ups per queue, each with the customer's name
and company, the first lines of the message that raised it and a link to the customer's CRM
record, and per channel the inbound trend with its forecast band. Self-contained (inline CSS,
charts inline), so it can be mailed or opened from the MLflow run's artifacts as it is.

Chinese is readable without embedding a font (a CJK font would add megabytes to every mail):
the page is UTF-8 and its font stack names the CJK system fonts of Linux (Noto Sans CJK,
Debian's ``fonts-noto-cjk``), macOS (PingFang) and Windows (Microsoft YaHei)."""

from __future__ import annotations

import base64
import datetime as dt
import html
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from crm_followups.core.files import write_atomically
from crm_followups.core.settings import Settings

TOP_PER_QUEUE = 10
CHART_DAYS = 56

COUNTS_SQL = """
select owner_queue as queue, count(*) filter (status = 'open') as open,
       count(*) filter (status = 'open' and priority = 1) as priority_1,
       count(*) filter (status = 'closed') as closed_today
from marts.followups where as_of_date = ? group by 1 order by 1"""

MESSAGE_LINES = 3
MESSAGE_CHARS = 280

# The top open follow-ups per queue, with the customer's latest name and company and the
# message that raised each (its first evidence; marts text is already redacted by dbt's
# redact_contact_details): its subject and first lines.
TOP_SQL = """
with top as (
    select followup_id, owner_queue, priority, score, due_date, customer_id, reason,
           recommended_channel, detail, evidence_communication_ids[1] as evidence_id
    from marts.followups where as_of_date = $as_of and status = 'open'
    qualify row_number() over (partition by owner_queue order by priority, score desc, followup_id) <= $top
), customers as (
    select customer_id, arg_max(name, updated_at) as name, arg_max(company, updated_at) as company
    from marts.dim_customers where customer_id in (select customer_id from top) group by customer_id
), messages as (
    select t.followup_id, m.subject,
           left(array_to_string(list_filter(string_split(replace(trim(m.body), chr(13), ''), chr(10)),
                                            lambda line: trim(line) <> '')[:$lines], chr(10)),
                $chars) as first_lines
    from top t join marts.fct_communications m
        on m.customer_id = t.customer_id and m.communication_id = t.evidence_id
    qualify row_number() over (partition by t.followup_id order by m.occurred_at desc) = 1
)
select t.owner_queue, t.priority, t.score, strftime(t.due_date, '%Y-%m-%d') as due_date, t.customer_id,
       c.name, c.company, t.reason, m.subject, m.first_lines, t.recommended_channel, t.detail
from top t left join customers c using (customer_id) left join messages m using (followup_id)
order by t.owner_queue, t.priority, t.score desc, t.followup_id"""

CHANNEL_TRENDS_SQL = """
select * from ml.contact_trends
where series_key like 'inbound|channel=%' and as_of_date = ? and date >= cast(? as date) - to_days(?)
order by series_key, date"""

SKIPPED_SQL = """
select series_key, reason from ml.trend_models
where as_of_date = ? and status = 'skipped' order by 1"""

# System fonts only (see the module docstring): CJK fonts named after the Latin ones.
FONT_STACK = ('system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans CJK SC","Noto Sans SC",'
              '"Source Han Sans SC","PingFang SC","Hiragino Sans GB","Microsoft YaHei",sans-serif')
STYLE = f"""body{{font:13px {FONT_STACK};margin:24px;max-width:1100px}}
table{{border-collapse:collapse;margin:6px 0 18px}}
td,th{{border:1px solid #ddd;padding:3px 6px;text-align:left}}
th{{background:#f4f4f4}}h2{{margin-top:26px}}.charts img{{width:49%}}td{{vertical-align:top}}
.msg{{white-space:pre-line;max-width:420px}}.company{{color:#555}}"""


@dataclass(frozen=True)
class ReportData:
    """What the report shows, read from the warehouse in one go."""

    as_of: dt.date
    crm_record_url: str  # the rules' link template, "" for no link
    counts: pd.DataFrame
    top: pd.DataFrame
    channel_trends: pd.DataFrame
    skipped_series: pd.DataFrame


def read_report_data(con: duckdb.DuckDBPyConnection, as_of: dt.date, crm_record_url: str) -> ReportData:
    top_params = {"as_of": as_of, "top": TOP_PER_QUEUE, "lines": MESSAGE_LINES, "chars": MESSAGE_CHARS}
    return ReportData(as_of, crm_record_url,
                      counts=con.execute(COUNTS_SQL, [as_of]).df(),
                      top=con.execute(TOP_SQL, top_params).df(),
                      channel_trends=con.execute(CHANNEL_TRENDS_SQL, [as_of, as_of, CHART_DAYS]).df(),
                      skipped_series=con.execute(SKIPPED_SQL, [as_of]).df())


def _charts(trends: pd.DataFrame) -> list[str]:
    from ml.charts import forecast_figure, png_bytes  # matplotlib only when a report is drawn

    images = []
    for key, frame in trends.groupby("series_key"):
        png = png_bytes(forecast_figure(frame, f"{key} ({frame['model'].iat[0]})"))
        images.append(f'<img alt="{html.escape(key)}" src="data:image/png;base64,'
                      f'{base64.b64encode(png).decode()}">')
    return images


FOLLOWUP_HEADERS = ("Priority", "Customer", "Customer id", "Reason", "Message", "Reply by", "Due", "Score")


def _text(value: object) -> str:
    """A cell's text, escaped; missing values (NULL, NaN) are empty."""
    return "" if pd.isna(value) else html.escape(str(value))


def record_link(crm_record_url: str, customer_id: str) -> str:
    """The customer's CRM record: the rules' template with the id URL-quoted into it."""
    return crm_record_url.format(customer_id=urllib.parse.quote(customer_id, safe=""))


def _customer_cell(row: pd.Series, crm_record_url: str) -> str:
    name = _text(row["name"]) or _text(row["customer_id"])
    if crm_record_url:
        name = f'<a href="{html.escape(record_link(crm_record_url, row["customer_id"]))}">{name}</a>'
    return f"{name}<div class='company'>{_text(row['company'])}</div>"


def _message_cell(row: pd.Series) -> str:
    return f"<b>{_text(row['subject'])}</b><div class='msg'>{_text(row['first_lines'])}</div>"


def _followup_row(row: pd.Series, crm_record_url: str) -> str:
    """One follow-up; the id has a cell of its own, which erasure finds the row by."""
    cells = [_text(row["priority"]), _customer_cell(row, crm_record_url), _text(row["customer_id"]),
             _text(row["reason"]), _message_cell(row), _text(row["recommended_channel"]),
             _text(row["due_date"]), f"{row['score']:.2f}"]
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def followup_table(rows: pd.DataFrame, crm_record_url: str) -> str:
    header = "".join(f"<th>{h}</th>" for h in FOLLOWUP_HEADERS)
    body = "\n".join(_followup_row(row, crm_record_url) for _, row in rows.iterrows())
    return f"<table><thead><tr>{header}</tr></thead><tbody>\n{body}\n</tbody></table>"


def render_report(data: ReportData) -> str:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Follow-ups {data.as_of}</title>"
             f"<style>{STYLE}</style></head><body>",
             f"<h1>Follow-ups for {data.as_of}</h1>", data.counts.to_html(index=False, border=0)]
    for queue, rows in data.top.groupby("owner_queue"):
        parts += [f"<h2>Top follow-ups: {html.escape(str(queue))}</h2>",
                  followup_table(rows, data.crm_record_url)]
    parts += ["<h2>Inbound contacts per channel: last weeks and the forecast (95% band)</h2>",
              "<div class='charts'>", *_charts(data.channel_trends), "</div>"]
    if not data.skipped_series.empty:
        parts += ["<h2>Series not modelled</h2>", data.skipped_series.to_html(index=False, border=0)]
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(settings: Settings, data: ReportData) -> Path:
    """``reports/run_<date>.html``, written atomically."""
    page = render_report(data)
    path = settings.reports_dir / f"run_{data.as_of.isoformat()}.html"
    return write_atomically(path, lambda temp: temp.write_text(page, encoding="utf-8"))
