"""The trends step's work follows what changed: a series' model is chosen and fitted once a
week; the nights between forecast with the stored fit and draw no charts. Real DuckDB file and
MLflow store, marts written directly from synthetic counts (no dbt build)."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from crm_followups.core.settings import Settings
from crm_followups.core.warehouse import connect
from crm_followups.followups.rules import load_rules
from ml.trends import REFIT_DAYS, forecast_trends

D = dt.date(2026, 3, 2)
RULES = load_rules()
TREND_RULES = {"negative_below": RULES.negative_sentiment_below,
               "engagement": RULES.engagement.test_thresholds()}


def _write_marts(settings: Settings) -> int:
    """The marts the trends step reads, as dbt would build them: 90 days of inbound e-mails of 60
    customers of one segment, dense enough for its three series (all, channel, segment) to be
    modelled. Returns how many communications there are."""
    rng = np.random.default_rng(13)
    days = pd.date_range(end=pd.Timestamp(D) - pd.Timedelta(days=1), periods=90, freq="D")
    rate = np.where(days.day_of_week < 5, 0.4, 0.1)
    counts = rng.poisson(np.broadcast_to(rate, (60, len(days))))  # customer x day
    customer, day = np.nonzero(counts)
    repeat = counts[customer, day]
    comms = pd.DataFrame({"customer_id": np.repeat([f"C{c:02d}" for c in customer], repeat),
                          "occurred_at": np.repeat(days[day] + pd.Timedelta(hours=9), repeat)})
    with connect(settings) as con:
        con.register("_comms", comms)
        con.execute("""create table marts.fct_communications as
                       select 'M' || row_number() over () as communication_id, 'generic' as source_system,
                              customer_id, 'email' as channel, 'inbound' as direction, occurred_at
                       from _comms""")
        con.execute("""create table marts.dim_customers as
                       select distinct customer_id, 'smb' as segment, timestamp '2025-01-01' as created_at
                       from _comms""")
        con.execute("""create table marts.agg_customer_activity_daily as
                       select customer_id, cast(occurred_at as date) as activity_date, channel, direction,
                              count(*) as communications
                       from marts.fct_communications group by all""")
    return len(comms)


def _fits(settings: Settings, as_of: dt.date) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute("""select series_key, model, fitted_on, params from ml.trend_models
                              where as_of_date = ? and status = 'modelled' order by series_key""",
                           [as_of]).fetchall()


def _charts(run_id: str) -> int:
    return len(MlflowClient().list_artifacts(run_id, "charts"))


def test_series_are_refitted_weekly_and_forecast_with_their_stored_fit_between(settings):
    inbound = _write_marts(settings)
    first = forecast_trends(settings, D, **TREND_RULES)
    next_day = forecast_trends(settings, D + dt.timedelta(days=1), **TREND_RULES)
    week_later = forecast_trends(settings, D + dt.timedelta(days=REFIT_DAYS), **TREND_RULES)

    assert first["communications_read"] == next_day["communications_read"] == inbound
    assert first["modelled"] == first["refitted"] == _charts(first["mlflow_run_id"]) == 3
    assert (next_day["modelled"], next_day["refitted"]) == (first["modelled"], 0)
    assert _charts(next_day["mlflow_run_id"]) == 0
    reused = _fits(settings, D + dt.timedelta(days=1))
    assert [(key, model, fitted_on) for key, model, fitted_on, _ in reused] == \
        [(key, model, D) for key, model, _, _ in _fits(settings, D)]
    assert [params for *_, params in reused] == [params for *_, params in _fits(settings, D)]
    assert week_later["refitted"] == week_later["modelled"] > 0
    assert {fitted_on for _, _, fitted_on, _ in _fits(settings, D + dt.timedelta(days=REFIT_DAYS))} == \
        {D + dt.timedelta(days=REFIT_DAYS)}
