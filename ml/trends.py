"""Trends: daily inbound contacts and negative-sentiment share, per channel and per segment.

Every series gets the model (seasonal naive, ETS or SARIMA) that forecast it best in a
rolling-origin backtest (``ml.forecasting``), then a 7-day forecast with 95% prediction
intervals; a day whose actual falls outside its interval is an anomaly. The backtest and fit
are most of the step's time and change little from one day to the next: a series is refitted
weekly, and the nights between forecast with its stored model and parameters. Series too short or
too sparse to model are skipped, with the reason, in ``ml.trend_models``. Per customer, one
vectorised test over all customers finds declining engagement and volume spikes
(``ml.engagement``). Each run is an MLflow run in ``crm-trends``: model choice per series,
backtest MASE of every candidate, one forecast chart per series; its run id is on every row.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping

import duckdb
import mlflow
import numpy as np
import pandas as pd

from crm_followups.core.names import TRENDS_EXPERIMENT
from crm_followups.core.settings import Settings
from crm_followups.core.warehouse import connect
from ml.engagement import engagement_changes, store_engagement_changes
from ml.forecasting import BASELINE, CANDIDATES, Fit, fit_series, forecast_with, skip_reason
from ml.tracking import use_experiment

log = logging.getLogger(__name__)

HISTORY_DAYS = 180
# A share series may have this fraction of days without scored messages, interpolated.
MAX_MISSING_SHARE = 0.1
# A series' model choice and parameters are reused for this many days, then refitted.
REFIT_DAYS = 7

# Inbound per day by channel, by segment and in total; sentiment, when scored, for the share.
DAILY_SQL = """
with inbound as (
    select cast(f.occurred_at as date) as date, f.channel, coalesce(c.segment, 'unknown') as segment,
           s.sentiment
    from marts.fct_communications f
    left join marts.dim_customers c using (customer_id)
    left join ml.communication_scores s
        on s.source_system = f.source_system and s.communication_id = f.communication_id
    where f.direction = 'inbound' and f.occurred_at < $as_of
      and f.occurred_at >= $as_of - to_days($history_days)
),
per_day as (
    select date,
           case when grouping(channel) = 0 then 'channel=' || channel
                when grouping(segment) = 0 then 'segment=' || segment else 'all' end as dimension,
           count(*) as contacts, count(sentiment) as scored,
           count(*) filter (sentiment < $negative_below) as negative
    from inbound
    group by grouping sets ((date), (date, channel), (date, segment))
),
days as (
    select cast(unnest(generate_series(min(date), cast($as_of as date) - 1, interval 1 day)) as date) as date
    from per_day
)
select dimension, d.date, coalesce(p.contacts, 0) as contacts, coalesce(p.scored, 0) as scored,
       coalesce(p.negative, 0) as negative
from (select distinct dimension from per_day) k
cross join days d
left join per_day p using (dimension, date)
order by dimension, d.date"""

MODEL_COLUMNS = ["series_key", "days", "status", "model", "reason", *(f"mase_{c}" for c in CANDIDATES),
                 "fitted_on", "params"]
TREND_COLUMNS = ["series_key", "date", "actual", "forecast", "lower", "upper", "is_anomaly", "model"]

# Per series, its latest fit made within REFIT_DAYS before as_of (never after: no look-ahead).
RECENT_FITS_SQL = f"""
select series_key, model, params, fitted_on, {", ".join(f"mase_{c}" for c in CANDIDATES)}
from ml.trend_models
where status = 'modelled' and params is not null
  and fitted_on <= $as_of and fitted_on > $as_of - $refit_days
qualify row_number() over (partition by series_key order by fitted_on desc, as_of_date desc) = 1"""


def recent_fits(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> dict[str, tuple[Fit, dt.date]]:
    """The fits a night may reuse, by series: (model, parameters, MASE) and the night it was made."""
    rows = con.execute(RECENT_FITS_SQL, {"as_of": as_of, "refit_days": REFIT_DAYS}).df()
    return {row["series_key"]: (Fit(row["model"], np.asarray(row["params"], dtype=float),
                                    {name: row[f"mase_{name}"] for name in CANDIDATES}), row["fitted_on"])
            for row in rows.to_dict(orient="records")}

def daily_series(con: duckdb.DuckDBPyConnection, as_of: dt.date, negative_below: float) -> pd.DataFrame:
    """Long frame (series_key, date, actual): volume zero-filled; share NaN on days nothing was scored."""
    daily = con.execute(DAILY_SQL, {
        "as_of": dt.datetime.combine(as_of, dt.time()), "history_days": HISTORY_DAYS,
        "negative_below": negative_below}).df()
    volume = daily.assign(series_key="inbound|" + daily["dimension"], actual=daily["contacts"].astype(float))
    share = daily.assign(series_key="negative_share|" + daily["dimension"],
                         actual=daily["negative"] / daily["scored"].where(daily["scored"] > 0))
    return pd.concat([volume, share], ignore_index=True)[["series_key", "date", "actual"]]


def _observed(group: pd.DataFrame) -> pd.Series:
    """The series from its first observed day (a channel may start later than the window)."""
    actual = group.set_index(pd.DatetimeIndex(group["date"]))["actual"]
    started = actual.notna() & (actual > 0) if group["series_key"].iat[0].startswith("inbound") \
        else actual.notna()
    return actual.iloc[int(np.argmax(started.to_numpy())):] if started.any() else actual.iloc[0:0]


def _share_gaps(actual: pd.Series) -> tuple[pd.Series, str | None]:
    """Interpolate a share series over a few unscored days; too many gaps make it unmodellable."""
    if actual.empty:
        return actual, "no scored sentiment yet (ml.communication_scores.sentiment is empty)"
    missing = int(actual.isna().sum())
    if missing > MAX_MISSING_SHARE * len(actual):
        return actual, f"share undefined on {missing} of {len(actual)} days (no scored inbound messages)"
    return actual.interpolate(limit_direction="both"), None


def model_all(daily: pd.DataFrame, as_of: dt.date,
              fits: Mapping[str, tuple[Fit, dt.date]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Forecast every modellable series, with its fit in ``fits`` or a new one made for
    ``as_of``; one row per series saying what was done and why."""
    frames, models = [], []
    for key, group in daily.groupby("series_key", sort=True):
        actual, reason = _observed(group), None
        if key.startswith("negative_share"):
            actual, reason = _share_gaps(actual)
        reason = reason or skip_reason(actual)
        if reason:
            log.info("skipping %s: %s", key, reason)
            models.append({"series_key": key, "days": len(actual), "status": "skipped", "reason": reason})
            continue
        fit, fitted_on = fits[key] if key in fits else (fit_series(actual), as_of)
        out = forecast_with(actual, fit)
        upper_bound = 1.0 if key.startswith("negative_share") else np.inf
        out[["lower", "upper"]] = out[["lower", "upper"]].clip(lower=0, upper=upper_bound)
        frames.append(out.assign(series_key=key, model=fit.model))
        models.append({"series_key": key, "days": len(actual), "status": "modelled", "model": fit.model,
                       **{f"mase_{name}": value for name, value in fit.mase.items()},
                       "fitted_on": fitted_on, "params": fit.params.tolist()})
    # a night with no recent communications models nothing, and says so, rather than failing
    trends = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=TREND_COLUMNS)
    return trends, pd.DataFrame(models, columns=MODEL_COLUMNS)


def _metric_key(series_key: str) -> str:
    return re.sub(r"[^\w.-]", "_", series_key.replace("|", "."))


def log_run(trends: pd.DataFrame, models: pd.DataFrame, refitted: pd.Series, flagged: pd.DataFrame) -> None:
    """Model choice per series, every candidate's MASE, one chart per series ``refitted`` (the
    evidence of its model choice; drawing every series every night took most of a quiet
    night's step)."""
    modelled = models[models["status"] == "modelled"]
    mlflow.log_params({f"model.{_metric_key(r.series_key)}": r.model for r in modelled.itertuples()})
    # an infinite MASE marks a candidate that could not be estimated on the series: no metric
    metrics = {f"mase.{_metric_key(r['series_key'])}.{name}": r[f"mase_{name}"]
               for _, r in modelled.iterrows() for name in CANDIDATES if np.isfinite(r[f"mase_{name}"])}
    chosen = modelled.apply(lambda r: r[f"mase_{r['model']}"], axis=1) if len(modelled) else pd.Series()
    metrics |= {
        "series_modelled": len(modelled), "series_skipped": int((models["status"] == "skipped").sum()),
        "series_refitted": len(refitted),
        "share_beating_seasonal_naive": float((chosen < 1).mean()) if len(modelled) else 0.0,
        "median_mase_chosen": float(chosen.median()) if len(modelled) else float("nan"),
        f"median_mase_{BASELINE}": float(modelled[f"mase_{BASELINE}"].median()) if len(modelled) else 0.0,
        "customers_declining": int((flagged["signal"] == "declining").sum()),
        "customers_spiking": int((flagged["signal"] == "spike").sum()),
    }
    mlflow.log_metrics(metrics)
    series = models.drop(columns="params").assign(fitted_on=models["fitted_on"].astype("string"))
    unset = {np.nan: None, pd.NA: None, np.inf: None}  # JSON has no NaN or infinity
    mlflow.log_dict(series.replace(unset).to_dict(orient="records"), "series.json")
    _log_charts(trends[trends["series_key"].isin(refitted)])


def _log_charts(trends: pd.DataFrame) -> None:
    """One chart per series in ``trends``: the refitted ones, so most nights draw none and
    never pay matplotlib's import (a second)."""
    if trends.empty:
        return
    from ml.charts import forecast_figure, release

    for key, frame in trends.groupby("series_key"):
        figure = forecast_figure(frame, f"{key} ({frame['model'].iat[0]})")
        mlflow.log_figure(figure, f"charts/{_metric_key(key)}.png")
        release(figure)


def _replace(con: duckdb.DuckDBPyConnection, as_of: dt.date, trends: pd.DataFrame,
             models: pd.DataFrame) -> None:
    """The run's forecasts and model table replace those of the same as-of date only, so a
    backfilled date never overwrites a later night's view."""
    con.register("_models", models.assign(as_of_date=as_of))
    con.execute("delete from ml.contact_trends where as_of_date = ?", [as_of])
    if not trends.empty:
        con.register("_trends", trends.assign(as_of_date=as_of))
        con.execute("insert into ml.contact_trends by name select * from _trends")
    con.execute("delete from ml.trend_models where as_of_date = ?", [as_of])
    con.execute("insert into ml.trend_models by name select * from _models")


def forecast_trends(settings: Settings, as_of: dt.date, negative_below: float,
                    engagement: Mapping[str, float]) -> dict[str, int | str]:
    """The nightly trends job: series forecasts and per-customer engagement changes for ``as_of``.

    ``negative_below`` (the sentiment under which a message counts as negative) and the
    ``engagement`` test's thresholds come from the follow-up rules, which the caller reads."""
    use_experiment(settings, TRENDS_EXPERIMENT)
    with connect(settings) as con, mlflow.start_run(run_name=f"trends-{as_of.isoformat()}") as run:
        run_id = run.info.run_id
        mlflow.log_params({"as_of_date": as_of.isoformat(), "history_days": HISTORY_DAYS})
        fits = recent_fits(con, as_of)
        daily = daily_series(con, as_of, negative_below)
        trends, models = model_all(daily, as_of, fits)
        modelled = models.loc[models["status"] == "modelled", "series_key"]
        refitted = modelled[~modelled.isin(list(fits))]
        flagged = engagement_changes(con, as_of, engagement)
        log_run(trends, models, refitted, flagged)
        con.execute("begin transaction")
        _replace(con, as_of, trends.assign(mlflow_run_id=run_id), models.assign(mlflow_run_id=run_id))
        store_engagement_changes(con, as_of, flagged, run_id)
        con.execute("commit")
    # the window's inbound communications, all read every night: the forecasts and the engagement
    # test are of a window that moves with as_of (the aggregation is a small share of the step)
    read = int(daily.loc[daily["series_key"] == "inbound|all", "actual"].sum())
    return {"communications_read": read, "series": len(models), "modelled": len(modelled),
            "refitted": len(refitted),
            "rows": len(trends), "anomalies": int(trends["is_anomaly"].sum()) if len(trends) else 0,
            "customers_flagged": len(flagged), "mlflow_run_id": run_id}
