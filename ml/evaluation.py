"""Evaluation artifacts for a training run: per-class report and confusion matrix.

matplotlib is imported when a matrix is drawn, not with this module: the nights that train
nothing import the training code all the same, and matplotlib's import takes a second."""

from __future__ import annotations

import mlflow
import numpy as np
from sklearn.metrics import ConfusionMatrixDisplay, classification_report


def log_evaluation(y_true, y_pred, prefix: str = "holdout") -> None:
    """``<prefix>_classification_report.json`` and ``<prefix>_confusion_matrix.png`` on the run."""
    from ml.charts import plt, release  # headless (Agg), configured there

    labels = np.unique(np.concatenate([np.asarray(y_true), np.asarray(y_pred)]))
    report = classification_report(y_true, y_pred, labels=labels, output_dict=True, zero_division=0)
    mlflow.log_dict(report, f"{prefix}_classification_report.json")
    size = max(6.0, 0.25 * len(labels))
    fig, ax = plt.subplots(figsize=(size, size))
    ConfusionMatrixDisplay.from_predictions(y_true, y_pred, labels=labels, ax=ax, colorbar=False,
                                            include_values=len(labels) <= 20, xticks_rotation="vertical")
    ax.set_title(f"{prefix} confusion matrix")
    fig.tight_layout()
    mlflow.log_figure(fig, f"{prefix}_confusion_matrix.png")
    release(fig)
