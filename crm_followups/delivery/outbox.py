"""The follow-ups as a CSV that a CRM imports as tasks: ``outbox/followups_<date>.csv``.

Columns carry Salesforce Task field names (Subject, Description, ActivityDate, Priority,
Status, TaskSubtype), so Data Loader's auto-match maps them; ``FollowupId`` is the external
id to upsert on, so tomorrow's file closes today's task (Status Completed) instead of adding
one. HubSpot's task import maps them by hand (docs/followups.md). The file is written to a
temporary name and renamed: an importer never sees half a file. Text that a spreadsheet
would run as a formula (a customer id of ``=HYPERLINK(...)`` from an export) is written with
a leading single quote, as OWASP recommends for CSV injection; numbers stay numbers.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
from pandas.api.types import is_numeric_dtype

from crm_followups.core.files import write_atomically
from crm_followups.core.settings import Settings

TASKS_SQL = """
select f.followup_id as "FollowupId",
       format('[P{}] {}: {}', f.priority, f.reason, coalesce(c.name, f.customer_id)) as "Subject",
       format('{}. Reason: {} (score {:.2f}). Reply by {}. Evidence: {}.{}',
              f.detail, f.reason_code, f.score, f.recommended_channel,
              array_to_string(f.evidence_communication_ids, ', '),
              case when f.status = 'closed' then ' Closed: ' || f.status_reason else '' end) as "Description",
       strftime(f.due_date, '%Y-%m-%d') as "ActivityDate",
       case f.priority when 1 then 'High' when 2 then 'Normal' else 'Low' end as "Priority",
       case f.status when 'open' then 'Not Started' else 'Completed' end as "Status",
       case f.recommended_channel when 'email' then 'Email' when 'phone' then 'Call' else 'Task' end
           as "TaskSubtype",
       f.owner_queue as "OwnerQueue", c.owner_id as "CustomerOwnerId", f.customer_id as "CustomerId",
       f.reason_code as "ReasonCode", f.score as "Score", f.recommended_channel as "RecommendedChannel"
from marts.followups f
left join marts.dim_customers c using (customer_id)
where f.as_of_date = ?
order by f.status desc, f.priority, f.score desc, f.followup_id"""


def followup_tasks(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> pd.DataFrame:
    """Every follow-up of the date as a CRM task row, open and just closed."""
    return con.execute(TASKS_SQL, [as_of]).df()


# Characters that make Excel, LibreOffice or Google Sheets read a cell as a formula (OWASP).
FORMULA_START = r"^[=+\-@\t\r]"


def neutralise_formulas(tasks: pd.DataFrame) -> pd.DataFrame:
    """Every text cell starting like a formula gets a leading single quote, so a spreadsheet
    shows it as text instead of running it; numeric columns are left as they are."""
    safe = tasks.copy()
    for column in safe.columns:
        if is_numeric_dtype(safe[column]):
            continue
        text = safe[column].astype("string")
        safe[column] = safe[column].mask(text.str.match(FORMULA_START, na=False), "'" + text)
    return safe


def write_outbox(settings: Settings, as_of: dt.date, tasks: pd.DataFrame) -> Path:
    """``outbox/followups_<date>.csv``, written atomically, formula payloads neutralised. Lines
    end in CRLF (RFC 4180), which also makes the writer quote a carriage return inside a cell."""
    path = settings.outbox_dir / f"followups_{as_of.isoformat()}.csv"
    safe = neutralise_formulas(tasks)
    return write_atomically(path, lambda temp: safe.to_csv(temp, index=False, encoding="utf-8",
                                                           lineterminator="\r\n"))
