"""The intent (customer needs) model: how it is built, chosen and asked.

Character n-grams beside word n-grams serve English and Chinese; a linear SVM over them is
the strongest plain scikit-learn text classifier here (see docs/models.md), chosen among a
small grid by cross-validation on the training communications only, then calibrated
(Platt scaling on out-of-fold scores) so its confidence reads as a probability and a
threshold can answer ``unknown``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from ml.features import text_features

CV_FOLDS = 3
SEED = 42
# Below this calibrated probability the model says it does not know.
UNKNOWN_BELOW = 0.4
UNKNOWN = "unknown"
# Kept small on purpose: each candidate costs CV_FOLDS fits on shared cores.
# Calibration internals skops does not trust by default (MLflow stores models with skops).
TRUSTED_TYPES = ["sklearn.calibration._CalibratedClassifier", "sklearn.calibration._SigmoidCalibration"]
PARAM_GRID: list[dict] = [{
    "features__char__ngram_range": [(1, 4), (1, 5)],
    "classifier__C": [0.3, 1.0],
}]


@dataclass
class IntentFit:
    """A fitted, calibrated intent model and what cross-validation said about its settings."""

    model: Pipeline
    params: dict
    cv_accuracy: float
    cv_macro_f1: float


def build_intent_model(c: float = 1.0, char_ngrams: tuple[int, int] = (1, 5)) -> Pipeline:
    """Uncalibrated candidate, as the grid search sees it."""
    return Pipeline([
        ("features", text_features(char_ngrams=char_ngrams)),
        ("classifier", LinearSVC(C=c)),
    ])


def baseline_model() -> Pipeline:
    """The seed's plain TF-IDF + logistic regression, the bar every candidate must clear."""
    return Pipeline([
        ("features", text_features(char_ngrams=(1, 3))),
        ("classifier", LogisticRegression(C=5.0, max_iter=2000)),
    ])


def _folds(y: pd.Series) -> StratifiedKFold:
    return StratifiedKFold(min(CV_FOLDS, int(y.value_counts().min())), shuffle=True, random_state=SEED)


def fit_intent_model(x: pd.DataFrame, y: pd.Series, param_grid: list[dict] | None = None,
                     n_jobs: int = 1) -> IntentFit:
    """Choose settings by cross-validated macro-F1 on (x, y) alone, refit and calibrate."""
    search = GridSearchCV(build_intent_model(), param_grid or PARAM_GRID, cv=_folds(y),
                          scoring={"macro_f1": "f1_macro", "accuracy": "accuracy"},
                          refit="macro_f1", n_jobs=n_jobs)
    search.fit(x, y)
    best = search.best_estimator_
    calibrated = Pipeline([
        ("features", best.named_steps["features"]),
        # ensemble=False: one SVM on all the data, its calibration learnt from out-of-fold
        # scores; as accurate as the plain SVM and a third of the work to score.
        ("classifier", CalibratedClassifierCV(best.named_steps["classifier"], method="sigmoid",
                                              cv=_folds(y).get_n_splits(), ensemble=False)),
    ])
    calibrated.fit(x, y)
    at = search.best_index_
    return IntentFit(calibrated, search.best_params_,
                     float(search.cv_results_["mean_test_accuracy"][at]),
                     float(search.cv_results_["mean_test_macro_f1"][at]))


def predict_intents(model, x: pd.DataFrame, unknown_below: float = UNKNOWN_BELOW
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The most likely intent and its probability; ``unknown`` when the model is unsure."""
    proba = model.predict_proba(x)
    best = proba.argmax(axis=1)
    confidence = proba[np.arange(len(best)), best]
    return np.where(confidence >= unknown_below, model.classes_[best], UNKNOWN), confidence
