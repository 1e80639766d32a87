"""Follow-ups: turn recent inbound communications into the day's ranked follow-up list.

Rules (``followup_rules.yml``) say which intents raise which reason and how long each
channel may wait for a reply; the set-based SQL below applies them to every customer at
once. Re-running a date replaces that date's rows in ``marts.followups``.
"""

from __future__ import annotations

import datetime as dt
import logging
from functools import cache
from pathlib import Path

import duckdb
import pandas as pd
import yaml

from crm_followups.settings import Settings
from crm_followups.warehouse import connect, table_exists

log = logging.getLogger(__name__)

RULES_FILE = Path(__file__).with_name("followup_rules.yml")

FOLLOWUPS_DDL = """
create table if not exists marts.followups (
    followup_id varchar, as_of_date date, customer_id varchar, reason_code varchar,
    reason varchar, status varchar, priority integer, score double, due_date date,
    recommended_channel varchar, owner_queue varchar, evidence_communication_ids varchar[],
    model_version varchar, mlflow_run_id varchar, dag_run_id varchar, created_at timestamptz,
    primary key (followup_id, as_of_date))"""

# Inbound communications in the look-back window, with the intent that applies to them.
CANDIDATES_SQL = """
create or replace temp table _candidates as
select f.source_system, f.communication_id, f.customer_id, f.channel, f.occurred_at,
       coalesce(s.intent, f.label) as intent,
       case when s.intent is not null then s.intent_confidence when f.label is not null then 1.0 end
           as confidence,
       s.intent_model_version as model_version, s.mlflow_run_id
from marts.fct_communications f
left join {scores} s using (source_system, communication_id)
where f.direction = 'inbound'
  and f.occurred_at < $as_of
  and f.occurred_at >= $as_of - to_days($lookback_days)"""

# One row per customer and reason, with its evidence, before scoring.
REASONS_SQL = """
create or replace temp table _reasons as
with unanswered as (
    select c.*, u.reason_code, u.reason, u.owner_queue
    from _candidates c
    join _sla using (channel)
    cross join _unanswered u
    where not exists (
        select 1 from marts.fct_communications r
        where r.customer_id = c.customer_id and r.direction = 'outbound'
          and r.occurred_at > c.occurred_at and r.occurred_at < $as_of)
      and c.occurred_at + to_hours(_sla.hours) < $as_of
),
by_intent as (
    select c.*, i.reason_code, i.reason, i.owner_queue
    from _candidates c join _intents i using (intent)
),
raised as (select * from unanswered union all by name select * from by_intent)
select customer_id, reason_code, any_value(reason) as reason, any_value(owner_queue) as owner_queue,
       list(communication_id order by occurred_at) as evidence_communication_ids,
       max(coalesce(confidence, 1.0)) as confidence,
       min(occurred_at) as first_at,
       arg_max(channel, occurred_at) as last_channel,
       arg_max(model_version, occurred_at) as model_version,
       arg_max(mlflow_run_id, occurred_at) as mlflow_run_id,
       max(sla_hours) as sla_hours
from (select r.*, coalesce(s.hours, $default_hours) as sla_hours
      from raised r left join _sla s using (channel))
group by customer_id, reason_code"""

FOLLOWUPS_SQL = """
with customers as (
    select customer_id, do_not_contact, email_opt_out,
           percent_rank() over (order by coalesce(annual_value, 0)) as value_rank
    from marts.dim_customers
),
scored as (
    select r.*, c.email_opt_out,
           $w_confidence * r.confidence + $w_value * c.value_rank
           + $w_waiting * least(1.0, date_diff('hour', r.first_at, $as_of) / (4.0 * r.sla_hours))
               as score
    from _reasons r join customers c using (customer_id)
    where not c.do_not_contact
),
ranked as (
    select *, case when score >= $p1 then 1 when score >= $p2 then 2 else 3 end as priority
    from scored
)
select
    md5(customer_id || '|' || reason_code || '|' || evidence_communication_ids[1]) as followup_id,
    cast($as_of as date) as as_of_date, customer_id, reason_code, reason, 'open' as status,
    priority, round(score, 4) as score,
    cast($as_of as date) + to_days(case priority when 1 then $due1 when 2 then $due2 else $due3 end)
        as due_date,
    case
        when last_channel in ('note', 'other', 'web', 'social') then 'phone'
        when last_channel = 'email' and email_opt_out then 'phone'
        else last_channel
    end as recommended_channel,
    owner_queue, evidence_communication_ids, model_version, mlflow_run_id,
    $dag_run_id as dag_run_id, now() as created_at
from ranked"""


@cache
def load_rules(path: Path = RULES_FILE) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _register_rules(con: duckdb.DuckDBPyConnection, rules: dict) -> None:
    """Expose the rules to SQL as three small tables: SLA per channel, intents, the unanswered reason."""
    sla = {k: v for k, v in rules["reply_within_hours"].items() if k != "default"}
    con.register("_sla", pd.DataFrame({"channel": list(sla), "hours": list(sla.values())}))
    con.register("_intents", pd.DataFrame([{"intent": k, **v} for k, v in rules["intents"].items()]))
    con.register("_unanswered", pd.DataFrame([rules["unanswered"]]))


def _parameters(rules: dict, as_of: dt.date, dag_run_id: str | None) -> dict:
    weights, (p1, p2), due = rules["score_weights"], rules["priority_thresholds"], rules["due_in_days"]
    return {
        "as_of": dt.datetime.combine(as_of, dt.time()), "lookback_days": rules["lookback_days"],
        "default_hours": rules["reply_within_hours"]["default"],
        "w_confidence": weights["confidence"], "w_value": weights["value"], "w_waiting": weights["waiting"],
        "p1": p1, "p2": p2, "due1": due[1], "due2": due[2], "due3": due[3], "dag_run_id": dag_run_id,
    }


def _used(sql: str, params: dict) -> dict:
    return {k: v for k, v in params.items() if f"${k}" in sql}


def build_followups(settings: Settings, as_of: dt.date, dag_run_id: str | None = None) -> dict[str, int]:
    """Replace ``as_of``'s rows of ``marts.followups`` with the follow-ups the rules raise."""
    rules = load_rules()
    params = _parameters(rules, as_of, dag_run_id)
    with connect(settings) as con:
        con.execute("set TimeZone = 'UTC'")
        con.execute(FOLLOWUPS_DDL)
        _register_rules(con, rules)
        scores = "ml.communication_scores" if table_exists(con, "ml.communication_scores") else (
            "(select null::varchar as source_system, null::varchar as communication_id, "
            "null::varchar as intent, null::double as intent_confidence, "
            "null::varchar as intent_model_version, null::varchar as mlflow_run_id where false)")
        candidates = CANDIDATES_SQL.format(scores=scores)
        con.execute(candidates, _used(candidates, params))
        con.execute(REASONS_SQL, _used(REASONS_SQL, params))
        con.execute("begin transaction")
        con.execute("delete from marts.followups where as_of_date = ?", [as_of])
        con.execute(f"insert into marts.followups by name {FOLLOWUPS_SQL}", _used(FOLLOWUPS_SQL, params))
        con.execute("commit")
        counts = dict(con.execute(
            "select reason_code, count(*) from marts.followups where as_of_date = ? group by 1", [as_of]
        ).fetchall())
    log.info("follow-ups for %s: %s", as_of, counts)
    return {"followups": sum(counts.values()), **{f"reason.{k}": v for k, v in counts.items()}}
