"""Trends: daily inbound contact volume per channel, forecast with exponential smoothing.

Each series is fitted with statsmodels' ETS (additive error, damped additive trend, weekly
seasonality when the series holds at least four weeks) and forecast ``HORIZON_DAYS`` ahead
with 95% prediction intervals; a day whose actual falls outside its interval is an anomaly.
Each run is an MLflow run in ``crm-trends`` whose id is on every ``ml.contact_trends`` row.
"""

from __future__ import annotations

import datetime as dt
import logging
import warnings

import mlflow
import numpy as np
import pandas as pd
from statsmodels.tools.sm_exceptions import ConvergenceWarning
from statsmodels.tsa.exponential_smoothing.ets import ETSModel

from crm_followups.settings import TRENDS_EXPERIMENT, Settings
from crm_followups.warehouse import connect
from ml.tracking import use_experiment

log = logging.getLogger(__name__)

HISTORY_DAYS = 180
HORIZON_DAYS = 7
MIN_DAYS = 14
SEASONAL_MIN_DAYS = 28

TRENDS_DDL = """
create table if not exists ml.contact_trends (
    series_key varchar, date date, actual double, forecast double, lower double,
    upper double, is_anomaly boolean, model varchar, mlflow_run_id varchar,
    primary key (series_key, date))"""

DAILY_INBOUND_SQL = """
with days as (
    select cast(unnest(generate_series(cast(? as date) - interval (?) day,
                                       cast(? as date) - interval 1 day, interval 1 day)) as date) as date
),
counts as (
    select cast(occurred_at as date) as date, channel, count(*) as n
    from marts.fct_communications
    where direction = 'inbound' and occurred_at < cast(? as date)
      and occurred_at >= cast(? as date) - interval (?) day
    group by all
),
series as (
    select 'inbound|channel=' || channel as series_key, date, n from counts
    union all
    select 'inbound|all', date, sum(n) from counts group by date
)
select k.series_key, d.date, coalesce(s.n, 0)::double as actual
from (select distinct series_key from series) k
cross join days d
left join series s using (series_key, date)
order by k.series_key, d.date"""


def daily_inbound(settings: Settings, as_of: dt.date) -> pd.DataFrame:
    """One row per series and day over the history window, zero-filled, before ``as_of``."""
    with connect(settings) as con:
        return con.execute(DAILY_INBOUND_SQL,
                           [as_of, HISTORY_DAYS, as_of, as_of, as_of, HISTORY_DAYS]).df()


def _trim_leading_zeros(actual: pd.Series) -> pd.Series:
    nonzero = np.flatnonzero(actual.to_numpy() > 0)
    return actual.iloc[nonzero[0]:] if len(nonzero) else actual.iloc[0:0]


def forecast_series(actual: pd.Series) -> tuple[pd.DataFrame, str]:
    """In-sample fit and a forecast with 95% intervals for one daily series indexed by date."""
    seasonal = len(actual) >= SEASONAL_MIN_DAYS
    model = ETSModel(actual.asfreq("D"), error="add", trend="add", damped_trend=True,
                     seasonal="add" if seasonal else None, seasonal_periods=7 if seasonal else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = model.fit(disp=False)
    frame = fit.get_prediction(start=0, end=len(actual) + HORIZON_DAYS - 1).summary_frame(alpha=0.05)
    out = pd.DataFrame({
        "date": frame.index.date,
        "actual": actual.reindex(frame.index).to_numpy(),
        "forecast": frame["mean"].to_numpy(),
        "lower": frame["pi_lower"].clip(lower=0).to_numpy(),
        "upper": frame["pi_upper"].to_numpy(),
    })
    outside = (out["actual"] < out["lower"]) | (out["actual"] > out["upper"])
    out["is_anomaly"] = out["actual"].notna() & outside
    return out, "ets_damped_weekly" if seasonal else "ets_damped"


def forecast_all(daily: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float]]:
    frames, metrics = [], {}
    for key, group in daily.groupby("series_key", sort=True):
        actual = _trim_leading_zeros(group.set_index(pd.DatetimeIndex(group["date"]))["actual"])
        if len(actual) < MIN_DAYS:
            log.info("skipping %s: %d days of history, need %d", key, len(actual), MIN_DAYS)
            continue
        out, model_name = forecast_series(actual)
        out.insert(0, "series_key", key)
        out["model"] = model_name
        frames.append(out)
        history = out.dropna(subset=["actual"])
        metrics[f"mae.{key.replace('|', '.').replace('=', '_')}"] = float(
            (history["actual"] - history["forecast"]).abs().mean())
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), metrics


def forecast_inbound_volume(settings: Settings, as_of: dt.date) -> dict[str, int | str]:
    """Fit every series, log the run to MLflow and replace those series in ``ml.contact_trends``."""
    trends, metrics = forecast_all(daily_inbound(settings, as_of))
    use_experiment(settings, TRENDS_EXPERIMENT)
    with mlflow.start_run(run_name=f"trends-{as_of.isoformat()}") as run:
        mlflow.log_params({"as_of_date": as_of.isoformat(), "history_days": HISTORY_DAYS,
                           "horizon_days": HORIZON_DAYS, "series": len(metrics)})
        mlflow.log_metrics(metrics)
    if trends.empty:
        return {"series": 0, "rows": 0, "mlflow_run_id": run.info.run_id}
    trends["mlflow_run_id"] = run.info.run_id
    with connect(settings) as con:
        con.execute(TRENDS_DDL)
        con.register("_trends", trends)
        con.execute("begin transaction")
        con.execute("delete from ml.contact_trends where series_key in (select series_key from _trends)")
        con.execute("insert into ml.contact_trends by name select * from _trends")
        con.execute("commit")
    return {"series": len(metrics), "rows": len(trends),
            "anomalies": int(trends["is_anomaly"].sum()), "mlflow_run_id": run.info.run_id}
