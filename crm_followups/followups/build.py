"""Follow-ups: turn open causes into the day's ranked follow-up list, with their lifecycle.

A cause is an unanswered inbound message (its intent's reason at once, or
``unanswered_inbound`` once its channel's reply time has passed) or an engagement change
that the trends step found for the customer (``ml.customer_engagement``). The rules
(``followup_rules.yml``) say which cause raises which reason, who owns it and how urgent it
is; the set-based SQL below applies them to every customer at once.

Lifecycle: a follow-up is named by its customer, its reason and the episode it belongs to
(everything since the customer's last outbound reply), so its ``followup_id`` is the same on
every date while the cause is open, whichever dates were run and in what order; ``opened_on``
is the day of its oldest evidence. One that was open on the previous day's list and is no
longer raised appears once more, ``closed``, with why. Re-running a date replaces that date's
rows and nothing else.
"""

from __future__ import annotations

import datetime as dt
import logging

import duckdb
import pandas as pd

from crm_followups.core.settings import Settings
from crm_followups.core.warehouse import connect
from crm_followups.followups.rules import FollowupRules, load_rules

log = logging.getLogger(__name__)

# The customer's latest outbound communication: anything inbound before it is answered, and
# it starts the customer's current episode, which names the follow-ups raised in it.
LAST_REPLY_SQL = """
create or replace temp table _last_reply as
select customer_id, max(occurred_at) as replied_at
from marts.fct_communications
where direction = 'outbound' and occurred_at < $as_of
group by customer_id"""

# Inbound messages with their intent (the model's best answer and its probability, else the
# CRM's label with confidence 1): of the look-back window for every customer, and of the
# engagement history for the few customers it flagged. Whether an answer is sure enough to act
# on is each intent rule's `min_confidence`, applied in RAISED_SQL.
INBOUND_SQL = """
create or replace temp table _inbound as
with flagged as (select distinct customer_id from ml.customer_engagement where as_of_date = $as_of_date)
select f.communication_id, f.customer_id, f.channel, f.occurred_at,
       coalesce(s.intent, f.label) as intent,
       case when s.intent is not null then s.intent_confidence when f.label is not null then 1.0 end
           as confidence,
       s.sentiment, s.intent_model_version as model_version, s.mlflow_run_id,
       f.occurred_at > coalesce(r.replied_at, '-infinity'::timestamptz) as unanswered
from marts.fct_communications f
left join ml.communication_scores s
    on s.source_system = f.source_system and s.communication_id = f.communication_id
left join _last_reply r on r.customer_id = f.customer_id
where f.direction = 'inbound' and f.occurred_at < $as_of
  and (f.occurred_at >= $as_of - to_days($lookback_days)
       or (f.occurred_at >= $as_of - to_days($history_days)
           and f.customer_id in (select customer_id from flagged)))"""

# One row per (customer, reason, evidence message), from every rule. An intent raises its reason
# when the intent's confidence reaches the rule's `min_confidence` (intents match without regard
# to case: rules written for lower-cased labels keep working); below it, or with an intent no
# rule lists, the message waits its channel's reply time and becomes `unanswered_inbound`.
RAISED_SQL = """
create or replace temp table _raised as
with open_messages as (
    select i.*, coalesce(s.hours, $default_hours) as sla_hours
    from _inbound i left join _sla s using (channel)
    where i.unanswered and i.occurred_at >= $as_of - to_days($lookback_days)
),
engaged as (
    select e.*, i.communication_id, i.channel, i.occurred_at, i.sentiment,
           row_number() over (partition by e.customer_id, e.signal order by i.occurred_at desc) as recency,
           row_number() over (partition by e.customer_id, e.signal, i.sentiment is null
                              order by i.occurred_at desc) as scored_recency
    from ml.customer_engagement e join _inbound i using (customer_id)
    where e.as_of_date = $as_of_date
),
negative_decliners as (
    select customer_id from engaged
    where signal = 'declining' and sentiment is not null and scored_recency <= $latest_messages
    group by customer_id having avg(sentiment) < $negative_below
)
select m.customer_id, t.reason_code, t.reason, m.communication_id, m.occurred_at, m.channel,
       coalesce(m.confidence, 1.0) as confidence, m.model_version, m.mlflow_run_id,
       m.occurred_at as waiting_since, m.sla_hours, null as detail
from open_messages m join _intents t on t.intent = lower(m.intent) and m.confidence >= t.min_confidence
union all by name
select m.customer_id, $unanswered_code as reason_code, $unanswered_reason as reason, m.communication_id,
       m.occurred_at, m.channel, coalesce(m.confidence, 1.0) as confidence, m.model_version, m.mlflow_run_id,
       m.occurred_at as waiting_since, m.sla_hours, null as detail
from open_messages m
where not exists (select 1 from _intents t
                  where t.intent = lower(m.intent) and m.confidence >= t.min_confidence)
  and m.occurred_at + to_hours(m.sla_hours) < $as_of
union all by name
select g.customer_id, r.reason_code, r.reason, g.communication_id, g.occurred_at, g.channel,
       1 - g.q_value as confidence, 'engagement_rate_test' as model_version, g.mlflow_run_id,
       null as waiting_since, $default_hours as sla_hours,
       format('{} inbound contacts in the last {} days against {} in the {} days before '
              '(rate x{:.2f}, false-discovery q {:.2g})', g.window_contacts, g.window_days,
              g.earlier_contacts, g.earlier_days, g.rate_ratio, g.q_value) as detail
from engaged g join _engagement_reasons r using (signal)
where (g.signal = 'declining' and g.recency <= $latest_messages)
   or (g.signal = 'spike' and g.occurred_at >= $as_of - to_days(g.window_days))
union all by name
select g.customer_id, $negative_code as reason_code, $negative_reason as reason, g.communication_id,
       g.occurred_at, g.channel, 1 - g.q_value as confidence,
       'engagement_rate_test+sentiment' as model_version,
       g.mlflow_run_id, null as waiting_since, $default_hours as sla_hours,
       format('latest messages negative on average while inbound contacts fell to x{:.2f} '
              'of the earlier rate', g.rate_ratio) as detail
from engaged g join negative_decliners using (customer_id)
where g.signal = 'declining' and g.sentiment is not null and g.scored_recency <= $latest_messages"""

# One row per customer and reason, its evidence in time order.
REASONS_SQL = """
create or replace temp table _reasons as
select customer_id, reason_code,
       string_agg(distinct reason, '; ' order by reason) as reason,
       list(communication_id order by occurred_at, communication_id) as evidence_communication_ids,
       max(confidence) as confidence,
       min(waiting_since) as waiting_since,
       min(sla_hours) as sla_hours,
       arg_max(channel, occurred_at) as last_channel,
       arg_max(model_version, occurred_at) as model_version,
       arg_max(mlflow_run_id, occurred_at) as mlflow_run_id,
       min(occurred_at) as first_evidence_at,
       coalesce(any_value(detail), format(
           '{} unanswered message(s), the oldest waiting {} h (reply expected within {} h)',
           count(*), date_diff('hour', min(waiting_since), $as_of), min(sla_hours))) as detail
from (select * from _raised
      qualify row_number() over (partition by customer_id, reason_code, communication_id
                                 order by confidence desc) = 1)
group by customer_id, reason_code"""

FOLLOWUPS_SQL = """
with customers as (
    select customer_id, coalesce(do_not_contact, false) as do_not_contact,
           coalesce(email_opt_out, false) as email_opt_out,
           percent_rank() over (order by coalesce(annual_value, 0)) as value_rank
    from marts.dim_customers
),
previous as (
    select * from marts.followups where as_of_date = $as_of_date - 1
),
named as (
    -- a follow-up is its customer, its reason and the episode since the customer's last reply:
    -- the same whichever dates were run before, and new once the customer has been answered
    select r.*, c.email_opt_out, c.value_rank,
           md5(r.customer_id || '|' || r.reason_code || '|'
               || coalesce(strftime(lr.replied_at, '%Y-%m-%dT%H:%M:%S.%f'), 'never')) as followup_id,
           cast(r.first_evidence_at as date) as opened_on
    from _reasons r
    join customers c using (customer_id)
    left join _last_reply lr using (customer_id)
    where not c.do_not_contact
),
carried as (
    select n.*, p.followup_id is not null as is_carried
    from named n left join previous p on p.followup_id = n.followup_id and p.status = 'open'
),
scored as (
    select *, $w_confidence * confidence + $w_value * value_rank + $w_waiting * least(1.0,
              date_diff('hour', coalesce(waiting_since, $as_of), $as_of) / (4.0 * sla_hours))
              as score
    from carried
),
opened as (
    select *, case when score >= $p1 then 1 when score >= $p2 then 2 else 3 end as priority,
           coalesce(rc.instead, last_channel) as reply_channel
    from scored left join _reply_channel rc on rc.channel = scored.last_channel
),
closed as (
    select p.*, case when c.do_not_contact then 'customer is do-not-contact'
                     when lr.replied_at >= p.as_of_date::timestamptz then 'answered'
                     else 'cause no longer detected' end as why_closed
    from previous p
    left join customers c using (customer_id)
    left join _last_reply lr using (customer_id)
    where p.status = 'open' and p.followup_id not in (select followup_id from opened)
)
select followup_id, $as_of_date as as_of_date, customer_id, reason_code, reason, 'open' as status,
       priority, round(score, 4) as score,
       $as_of_date + to_days(case priority when 1 then $due1 when 2 then $due2 else $due3 end) as due_date,
       case when reply_channel = 'email' and email_opt_out then $opt_out_channel else reply_channel end
           as recommended_channel,
       q.owner_queue, evidence_communication_ids, model_version, mlflow_run_id,
       $dag_run_id as dag_run_id, now() as created_at, opened_on,
       case when is_carried then 'still open' else 'new' end as status_reason, detail
from opened join _queues q using (reason_code)
union all by name
select followup_id, $as_of_date as as_of_date, customer_id, reason_code, reason, 'closed' as status,
       priority, score, due_date, recommended_channel, owner_queue, evidence_communication_ids,
       model_version, mlflow_run_id, $dag_run_id as dag_run_id, now() as created_at, opened_on,
       why_closed as status_reason, detail
from closed"""


def _register_rules(con: duckdb.DuckDBPyConnection, rules: FollowupRules) -> None:
    """Expose the rules to SQL as small tables."""
    sla = {k: v for k, v in rules.reply_within_hours.items() if k != "default"}
    engagement = rules.engagement
    tables = {
        "_sla": pd.DataFrame({"channel": list(sla), "hours": list(sla.values())}),
        "_intents": pd.DataFrame([{"intent": k.lower(), **v.model_dump()}
                                  for k, v in rules.intents.items()]),
        "_queues": pd.DataFrame(rules.owner_queue.items(), columns=["reason_code", "owner_queue"]),
        "_engagement_reasons": pd.DataFrame([{"signal": "declining", **engagement.declining.model_dump()},
                                             {"signal": "spike", **engagement.spike.model_dump()}]),
        "_reply_channel": pd.DataFrame(rules.reply_channel_instead.items(), columns=["channel", "instead"]),
    }
    for name, frame in tables.items():
        con.register(name, frame)


def _parameters(rules: FollowupRules, as_of: dt.date, dag_run_id: str | None) -> dict:
    weights, (p1, p2), due = rules.score_weights, rules.priority_thresholds, rules.due_in_days
    engagement = rules.engagement
    return {
        "as_of": dt.datetime.combine(as_of, dt.time(), tzinfo=dt.UTC), "as_of_date": as_of,
        "lookback_days": rules.lookback_days, "history_days": engagement.history_days,
        "default_hours": rules.reply_within_hours["default"],
        "unanswered_code": rules.unanswered.reason_code, "unanswered_reason": rules.unanswered.reason,
        "negative_code": engagement.negative_and_declining.reason_code,
        "negative_reason": engagement.negative_and_declining.reason,
        "latest_messages": engagement.latest_messages, "negative_below": rules.negative_sentiment_below,
        "w_confidence": weights.confidence, "w_value": weights.value, "w_waiting": weights.waiting,
        "p1": p1, "p2": p2, "due1": due[1], "due2": due[2], "due3": due[3],
        "opt_out_channel": rules.email_opt_out_channel, "dag_run_id": dag_run_id,
    }


def _used(sql: str, params: dict) -> dict:
    """DuckDB refuses named parameters a statement does not use."""
    return {k: v for k, v in params.items() if f"${k}" in sql}


def build_followups(settings: Settings, as_of: dt.date, dag_run_id: str | None = None,
                    rules: FollowupRules | None = None) -> dict[str, int]:
    """Replace ``as_of``'s rows of ``marts.followups`` with the follow-ups the rules raise (the
    shipped ``followup_rules.yml`` unless other rules are given, as tests do)."""
    rules = rules or load_rules()
    params = _parameters(rules, as_of, dag_run_id)
    with connect(settings) as con:
        _register_rules(con, rules)
        for sql in (LAST_REPLY_SQL, INBOUND_SQL, RAISED_SQL, REASONS_SQL):
            con.execute(sql, _used(sql, params))
        con.execute("begin transaction")
        con.execute("delete from marts.followups where as_of_date = ?", [as_of])
        con.execute(f"insert into marts.followups by name {FOLLOWUPS_SQL}", _used(FOLLOWUPS_SQL, params))
        con.execute("commit")
        counts = dict(con.execute("""
            select status || '.' || reason_code, count(*) from marts.followups
            where as_of_date = ? group by 1""", [as_of]).fetchall())
    log.info("follow-ups for %s: %s", as_of, counts)
    return {"followups": sum(n for k, n in counts.items() if k.startswith("open.")), **counts}
