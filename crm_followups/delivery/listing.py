"""A date's open follow-ups as a list to work through, queue by queue (``crm-followups
followups``): the columns a person calling or writing back needs, most urgent first."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

LIST_SQL = """
select f.owner_queue as queue, f.priority, round(f.score, 2) as score, f.customer_id as customer,
       c.name, f.reason, f.recommended_channel as channel, f.due_date as due
from marts.followups f
left join marts.dim_customers c using (customer_id)
where f.as_of_date = ? and f.status = 'open'
order by f.owner_queue, f.priority, f.score desc, f.followup_id"""


def latest_date(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    """The newest date with follow-ups: what a user means by "the list" without a date."""
    return con.execute("select max(as_of_date) from marts.followups").fetchone()[0]


def open_followups(con: duckdb.DuckDBPyConnection, date: dt.date) -> pd.DataFrame:
    return con.execute(LIST_SQL, [date]).df()
