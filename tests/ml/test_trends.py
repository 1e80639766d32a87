"""Trend model choice and the per-customer engagement test, on synthetic data with known truth."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd

from crm_followups.followups.rules import load_rules
from ml.engagement import engagement_changes
from ml.forecasting import BASELINE, MIN_DAYS, backtest, choose_model, fit_series, forecast_with, skip_reason
from ml.trends import model_all

AS_OF = dt.date(2026, 3, 2)


def _weekly_counts(days: int, seed: int = 1) -> pd.Series:
    """Poisson counts with a weekly rhythm: what the sample's channels look like."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(end=pd.Timestamp(AS_OF) - pd.Timedelta(days=1), periods=days, freq="D")
    rhythm = np.array([1.25, 1.2, 1.15, 1.1, 1.0, 0.35, 0.25])[index.day_of_week]
    return pd.Series(rng.poisson(12 * rhythm).astype(float), index=index)


def test_a_model_beats_seasonal_naive_on_a_noisy_weekly_series():
    mase = backtest(_weekly_counts(90))
    assert set(mase) == {"seasonal_naive", "ets", "sarima"}
    chosen = choose_model(mase)
    assert chosen != BASELINE and mase[chosen] < 1 and mase[chosen] < mase[BASELINE]


def test_forecast_has_intervals_ahead_and_flags_an_outlier():
    y = _weekly_counts(90)
    y.iloc[-3] = 80  # a burst three days ago
    fit = fit_series(y)
    out, model = forecast_with(y, fit), fit.model
    ahead = out[out["actual"].isna()]
    assert len(ahead) == 7
    assert (ahead["lower"] < ahead["forecast"]).all() and (ahead["forecast"] < ahead["upper"]).all()
    flagged = out[out["is_anomaly"]]
    assert pd.Timestamp(y.index[-3]).date() in set(flagged["date"])
    assert model in {"seasonal_naive", "ets", "sarima"}


def test_short_and_flat_series_are_skipped_with_a_reason():
    assert "need 35" in skip_reason(_weekly_counts(MIN_DAYS - 1))
    assert skip_reason(pd.Series(3.0, index=_weekly_counts(60).index)).startswith("no week-on-week variation")
    assert skip_reason(_weekly_counts(MIN_DAYS)) is None


def test_a_young_series_too_short_for_ets_and_sarima_falls_back_to_the_baseline():
    """35-45 days pass skip_reason but leave ETS's heuristic start and SARIMA too few days
    before the first backtest origin: those candidates drop out instead of failing the night."""
    for days in (MIN_DAYS, 40, 45):
        fit = fit_series(_weekly_counts(days))
        assert np.isinf(fit.mase["sarima"]) and np.isfinite(fit.mase[BASELINE])
        assert fit.model in {"seasonal_naive", "ets"}
        assert len(forecast_with(_weekly_counts(days), fit)) == days + 7


def test_engagement_test_finds_the_declining_and_the_spiking_customer_among_steady_ones():
    rng = np.random.default_rng(3)
    days = pd.date_range(end=pd.Timestamp(AS_OF) - pd.Timedelta(days=1), periods=120, freq="D")
    customers = 2000
    counts = rng.poisson(0.15, (customers, len(days)))        # steady customers
    counts[0, -28:] = 0                                        # C0000 goes quiet
    counts[0, :-28] = rng.poisson(0.6, len(days) - 28)
    counts[1, -5:] = 3                                         # C0001 suddenly writes a lot
    counts[2, :-5], counts[2, -5:] = 0, 2                      # C0002's only contacts are a burst
    who, when = np.nonzero(counts)
    activity = pd.DataFrame({"customer_id": [f"C{i:04d}" for i in who], "activity_date": days[when].date,
                             "channel": "email", "direction": "inbound", "communications": counts[who, when]})
    con = duckdb.connect()
    con.execute("create schema marts")
    con.register("_activity", activity)
    con.execute("create table marts.agg_customer_activity_daily as select * from _activity")
    # every customer was created before the data starts: observed from its first day
    con.execute("create table marts.dim_customers as select distinct customer_id, "
                "timestamp '2025-01-01' as created_at from _activity")
    flagged = engagement_changes(con, AS_OF, load_rules().engagement.test_thresholds())
    assert flagged[["customer_id", "signal"]].values.tolist() == [["C0000", "declining"], ["C0001", "spike"],
                                                                 ["C0002", "spike"]]
    assert (flagged["q_value"] < 0.05).all()


def test_a_night_without_recent_communications_models_nothing_and_says_why():
    too_short = pd.DataFrame({"series_key": "inbound|all", "date": pd.date_range(end=AS_OF, periods=5),
                              "actual": 3.0})
    for daily in (too_short, too_short.iloc[0:0]):
        trends, models = model_all(daily, AS_OF, {})
        assert trends.empty and list(trends.groupby("series_key")) == []
        assert (models["status"] == "skipped").all() and models["reason"].notna().all()
