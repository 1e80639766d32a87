"""Forecast one daily series and choose its model by a rolling-origin backtest.

Candidates: weekly seasonal naive (the baseline), exponential smoothing (ETS, additive
error, additive weekly season) and a seasonal ARIMA. Each is scored by MASE: its mean
absolute forecast error over the backtest folds divided by the in-sample mean absolute
error of the weekly seasonal-naive one-step forecast (Hyndman & Koehler, 2006). A MASE
below 1 means the model forecasts better than "same day last week" does in sample; the
series keeps whichever candidate has the lowest MASE, the baseline included.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm
from statsmodels.tsa.arima.model import ARIMA
from statsmodels.tsa.exponential_smoothing.ets import ETSModel

SEASON = 7
HORIZON_DAYS = 7
BACKTEST_FOLDS = 3
# Two seasons to fit on before the first backtest origin, plus the folds themselves.
MIN_DAYS = 2 * SEASON + BACKTEST_FOLDS * HORIZON_DAYS
ALPHA = 0.05

@dataclass(frozen=True)
class Candidate:
    """A forecasting method: estimate parameters on one stretch of a series, then predict
    any (longer) stretch with them. The backtest estimates once, before its first origin,
    and re-filters for the later origins: no refit per fold, no look-ahead."""

    fit: Callable[[pd.Series], object]
    # (series, parameters, horizon) -> frame of in-sample one-step predictions, then
    # ``horizon`` days ahead: columns mean, lower, upper on a daily DatetimeIndex.
    predict: Callable[[pd.Series, object, int], pd.DataFrame]


def _quiet(fit: Callable[[], object]) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on short, noisy count series
        return fit()


def _seasonal_naive(y: pd.Series, _params: object, horizon: int) -> pd.DataFrame:
    """Same day last week, with intervals from the spread of weekly differences."""
    values = y.to_numpy(dtype=float)
    n = len(values)
    steps = np.arange(1, horizon + 1)
    ahead = values[n - SEASON + (steps - 1) % SEASON]
    sigma = np.nanstd(values[SEASON:] - values[:-SEASON], ddof=1)
    spread = norm.ppf(1 - ALPHA / 2) * sigma * np.sqrt(np.r_[np.ones(n), (steps - 1) // SEASON + 1])
    mean = np.r_[np.full(SEASON, np.nan), values[:-SEASON], ahead]
    index = pd.date_range(y.index[0], periods=n + horizon, freq="D")
    return pd.DataFrame({"mean": mean, "lower": mean - spread, "upper": mean + spread}, index=index)


def _ets_model(y: pd.Series) -> ETSModel:
    """ETS(A,N,A): level and weekly season. Initial states by the heuristic of Hyndman et al.
    rather than estimated (10x faster); a damped trend costs 7x the fit time for no gain here."""
    return ETSModel(y.asfreq("D"), error="add", seasonal="add", seasonal_periods=SEASON,
                    initialization_method="heuristic")


def _ets_predict(y: pd.Series, params: object, horizon: int) -> pd.DataFrame:
    frame = (_ets_model(y).smooth(params).get_prediction(start=0, end=len(y) + horizon - 1)
             .summary_frame(alpha=ALPHA))
    return frame.rename(columns={"pi_lower": "lower", "pi_upper": "upper"})[["mean", "lower", "upper"]]


def _sarima_model(y: pd.Series) -> ARIMA:
    """SARIMA(1,0,0)(0,1,1)7: one day of memory on top of a weekly difference."""
    return ARIMA(y.asfreq("D"), order=(1, 0, 0), seasonal_order=(0, 1, 1, SEASON))


def _sarima_predict(y: pd.Series, params: object, horizon: int) -> pd.DataFrame:
    filtered = _quiet(lambda: _sarima_model(y).filter(params, cov_type="none"))
    frame = filtered.get_prediction(start=0, end=len(y) + horizon - 1).summary_frame(alpha=ALPHA)
    frame = frame.rename(columns={"mean_ci_lower": "lower", "mean_ci_upper": "upper"})
    frame.iloc[:SEASON + 1] = np.nan  # the first season is the differencing's burn-in, not a prediction
    return frame[["mean", "lower", "upper"]]


CANDIDATES: dict[str, Candidate] = {
    "seasonal_naive": Candidate(fit=lambda y: None, predict=_seasonal_naive),
    "ets": Candidate(fit=lambda y: _quiet(lambda: _ets_model(y).fit(disp=False)).params,
                     predict=_ets_predict),
    # innovations MLE: the same likelihood as the state-space fit, at a third of its cost
    "sarima": Candidate(fit=lambda y: _quiet(lambda: _sarima_model(y).fit(
        method="innovations_mle", cov_type="none")).params,
                        predict=_sarima_predict),
}
BASELINE = "seasonal_naive"


def mase_scale(train: np.ndarray) -> float:
    """In-sample mean absolute error of the weekly seasonal-naive one-step forecast."""
    return float(np.mean(np.abs(train[SEASON:] - train[:-SEASON])))


# What statsmodels raises for a stretch too short (ETS's heuristic start needs 16 days,
# SARIMA's innovations start about 45) or too degenerate (all zeros) for a model.
UNFIT_ERRORS = (ValueError, ZeroDivisionError, np.linalg.LinAlgError)


def candidate_mase(candidate: Candidate, y: pd.Series, origins: list[int]) -> float:
    """MASE of one candidate over the backtest origins; infinite when the model cannot be
    estimated on the stretch before the first origin (a young or sparse series): it then
    loses to the baseline, which always can, instead of failing the night."""
    values = y.to_numpy(dtype=float)
    try:
        params = candidate.fit(y.iloc[:origins[0]])
        errors = []
        for origin in origins:
            train, test = y.iloc[:origin], values[origin:origin + HORIZON_DAYS]
            ahead = candidate.predict(train, params, HORIZON_DAYS)["mean"].to_numpy()[-HORIZON_DAYS:]
            errors.append(float(np.mean(np.abs(test - ahead))) / mase_scale(train.to_numpy(dtype=float)))
    except UNFIT_ERRORS:
        return float("inf")
    return float(np.mean(errors))


def backtest(y: pd.Series) -> dict[str, float]:
    """MASE of every candidate over the last ``BACKTEST_FOLDS`` weeks, one origin per week."""
    origins = [len(y) - fold * HORIZON_DAYS for fold in range(BACKTEST_FOLDS, 0, -1)]
    return {name: candidate_mase(candidate, y, origins) for name, candidate in CANDIDATES.items()}


def choose_model(mase: dict[str, float]) -> str:
    """Lowest MASE wins; on a tie the simpler model (the order of ``CANDIDATES``)."""
    return min(CANDIDATES, key=lambda name: (round(mase[name], 6), list(CANDIDATES).index(name)))


def skip_reason(y: pd.Series) -> str | None:
    """Why a series cannot be modelled and backtested, or None when it can."""
    if len(y) < MIN_DAYS:
        return (f"{len(y)} days of history, need {MIN_DAYS} "
                f"(two weeks to fit plus {BACKTEST_FOLDS} to backtest)")
    if y.isna().any():
        return f"{int(y.isna().sum())} days without a value"
    values = y.to_numpy(dtype=float)
    for fold in range(BACKTEST_FOLDS, 0, -1):
        if mase_scale(values[:len(values) - fold * HORIZON_DAYS]) == 0:
            return "no week-on-week variation: MASE undefined"
    return None


@dataclass(frozen=True)
class Fit:
    """A series' chosen model, its parameters (empty for the parameter-free baseline) and
    every candidate's backtest MASE: what a later night needs to forecast without refitting."""

    model: str
    params: np.ndarray
    mase: dict[str, float]


def fit_series(y: pd.Series) -> Fit:
    """Backtest the candidates and refit the winner on the whole series."""
    mase = backtest(y)
    model = choose_model(mase)
    params = CANDIDATES[model].fit(y)
    return Fit(model, np.empty(0) if params is None else np.asarray(params, dtype=float), mase)


def forecast_with(y: pd.Series, fit: Fit) -> pd.DataFrame:
    """In-sample one-step predictions and ``HORIZON_DAYS`` ahead with the fitted model: the
    frame (date, actual, forecast, lower, upper, is_anomaly). An actual outside its one-step
    interval is an anomaly."""
    frame = CANDIDATES[fit.model].predict(y, fit.params, HORIZON_DAYS)
    out = pd.DataFrame({
        "date": frame.index.date,
        "actual": y.reindex(frame.index).to_numpy(),
        "forecast": frame["mean"].to_numpy(),
        "lower": frame["lower"].to_numpy(),
        "upper": frame["upper"].to_numpy(),
    })
    outside = (out["actual"] < out["lower"]) | (out["actual"] > out["upper"])
    out["is_anomaly"] = out["actual"].notna() & out["forecast"].notna() & outside
    return out

