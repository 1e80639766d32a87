"""The one-page HTML report of a night: top follow-ups per queue, and per channel the
inbound trend with its forecast band. Self-contained (charts inline), so it can be mailed or
opened from the MLflow run's artifacts as it is."""

from __future__ import annotations

import base64
import datetime as dt
import html
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

TOP_SQL = """
select owner_queue, priority, score, due_date, customer_id, reason, recommended_channel, detail
from marts.followups where as_of_date = ? and status = 'open'
qualify row_number() over (partition by owner_queue order by priority, score desc, followup_id) <= ?
order by owner_queue, priority, score desc"""

CHANNEL_TRENDS_SQL = """
select * from ml.contact_trends
where series_key like 'inbound|channel=%' and as_of_date = ? and date >= cast(? as date) - to_days(?)
order by series_key, date"""

SKIPPED_SQL = """
select series_key, reason from ml.trend_models
where as_of_date = ? and status = 'skipped' order by 1"""

STYLE = """body{font:13px system-ui,sans-serif;margin:24px;max-width:1000px}
table{border-collapse:collapse;margin:6px 0 18px}td,th{border:1px solid #ddd;padding:3px 6px;text-align:left}
th{background:#f4f4f4}h2{margin-top:26px}.charts img{width:49%}"""


@dataclass(frozen=True)
class ReportData:
    """What the report shows, read from the warehouse in one go."""

    as_of: dt.date
    counts: pd.DataFrame
    top: pd.DataFrame
    channel_trends: pd.DataFrame
    skipped_series: pd.DataFrame


def read_report_data(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> ReportData:
    return ReportData(as_of,
                      counts=con.execute(COUNTS_SQL, [as_of]).df(),
                      top=con.execute(TOP_SQL, [as_of, TOP_PER_QUEUE]).df(),
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


def render_report(data: ReportData) -> str:
    parts = [f"<!doctype html><meta charset='utf-8'><title>Follow-ups {data.as_of}</title>"
             f"<style>{STYLE}</style>",
             f"<h1>Follow-ups for {data.as_of}</h1>", data.counts.to_html(index=False, border=0)]
    for queue, rows in data.top.groupby("owner_queue"):
        parts += [f"<h2>Top follow-ups: {html.escape(str(queue))}</h2>",
                  rows.drop(columns="owner_queue").to_html(index=False, border=0)]
    parts += ["<h2>Inbound contacts per channel: last weeks and the forecast (95% band)</h2>",
              "<div class='charts'>", *_charts(data.channel_trends), "</div>"]
    if not data.skipped_series.empty:
        parts += ["<h2>Series not modelled</h2>", data.skipped_series.to_html(index=False, border=0)]
    return "\n".join(parts)


def write_report(settings: Settings, data: ReportData) -> Path:
    """``reports/run_<date>.html``, written atomically."""
    page = render_report(data)
    path = settings.reports_dir / f"run_{data.as_of.isoformat()}.html"
    return write_atomically(path, lambda temp: temp.write_text(page, encoding="utf-8"))
