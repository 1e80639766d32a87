"""Forecast charts: the actual series, the forecast and its prediction band, anomalies marked.
Drawn headless (Agg) for MLflow artifacts and the nightly HTML report."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure


def forecast_figure(frame: pd.DataFrame, title: str) -> Figure:
    """One series of ``ml.contact_trends`` rows (date, actual, forecast, lower, upper, is_anomaly)."""
    dates = pd.to_datetime(frame["date"])
    fig, ax = plt.subplots(figsize=(7, 2.4), dpi=90)
    ax.fill_between(dates, frame["lower"], frame["upper"], color="tab:blue", alpha=0.18,
                    label="95% interval", linewidth=0)
    ax.plot(dates, frame["forecast"], color="tab:blue", linewidth=1, label="forecast")
    ax.plot(dates, frame["actual"], color="black", linewidth=0.8, label="actual")
    anomalies = frame["is_anomaly"].astype(bool).to_numpy()
    ax.scatter(dates[anomalies], frame["actual"][anomalies], color="tab:red", s=12, zorder=3, label="anomaly")
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, loc="upper left", ncols=4, frameon=False)
    # fixed margins: tight_layout measures every text artist, half of a chart's drawing time
    fig.subplots_adjust(left=0.07, right=0.99, bottom=0.12, top=0.88)
    return fig


def release(fig: Figure) -> None:
    """pyplot keeps every figure until closed: a night draws dozens."""
    plt.close(fig)


def png_bytes(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    release(fig)
    return buffer.getvalue()
