"""A ``marts.fct_communications`` as dbt would build it, from the bundled sample's rows, for the
model tests that need scored-ready rows without a dbt build."""

from __future__ import annotations

import datetime as dt

import duckdb

from crm_followups.core.settings import Settings
from crm_followups.sample.generate import generate


def write_sample_communications(settings: Settings) -> int:
    """Write the table into the settings' warehouse; return its inbound rows."""
    _, comms = generate(dt.date(2026, 3, 2), customers=40, days=30, seed=11)
    comms = comms.assign(direction=comms["direction"].str.strip().str.lower(), source_system="generic")
    comms = comms[comms["direction"].isin(["inbound", "outbound"])].drop_duplicates("communication_id")
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create schema if not exists marts")
        con.register("comms", comms)
        con.execute("""create table marts.fct_communications as
                       select communication_id, source_system, customer_id, channel, direction,
                              occurred_at, subject, body, agent_id, nullif(label, '') as label from comms""")
        return con.execute("select count(*) from marts.fct_communications where direction = 'inbound'"
                           ).fetchone()[0]
