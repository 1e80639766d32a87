"""The intent (customer needs) model: how it is built, trained and asked.

Character n-grams beside word n-grams serve English and Chinese; a linear SVM over them,
calibrated (Platt scaling on out-of-fold scores) so its confidence reads as a probability: the
follow-up rules decide, per intent, from which probability an answer is acted on. Averaging it
with a logistic regression reads about 0.3 points more on banking77 but trains many times
slower (``docs/models.md``), so it is not used.

Training is bounded so a night costs minutes however large the labelled history grows: the
settings are fixed (``IntentParams``, chosen once by ``bench/intent_banking77.py``, not by a
grid search every night) and at most about ``max_rows`` labelled rows are learnt from, drawn
per label so that every label keeps its share and rare labels keep their rows
(``bench/intent_training_scale.py`` measures what the cap costs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from ml.features import text_features, transform_text

# Calibration folds; a label needs at least this many training rows.
CV_FOLDS = 3
SEED = 42
# Cores a nightly training may use (the worker has 2): the calibration folds run side by side.
N_JOBS = 2
# Passes of the SVM's solver: noisy labels never let it converge, and more passes did not help.
SVM_MAX_ITER = 200
# Types skops does not trust by default (MLflow stores models with skops): calibration
# internals and the features' text normaliser.
TRUSTED_TYPES = ["sklearn.calibration._CalibratedClassifier", "sklearn.calibration._SigmoidCalibration",
                 "ml.features.normalise"]


@dataclass(frozen=True)
class IntentParams:
    """The model's settings. The defaults are the best of the banking77 benchmark
    (``docs/bench_banking77.md``); the cap keeps 250k labelled rows within the nightly budget
    at no measurable cost in accuracy (``docs/models.md``)."""

    char_ngrams: tuple[int, int] = (2, 5)
    word_ngrams: tuple[int, int] = (1, 2)
    c: float = 1.0
    max_rows: int = 20_000
    min_rows_per_label: int = 500


DEFAULT_PARAMS = IntentParams()


@dataclass
class IntentFit:
    """A fitted, calibrated intent model, its settings and how many rows it learnt from."""

    model: Pipeline
    params: IntentParams
    fit_rows: int


def capped_rows(y: pd.Series, max_rows: int, min_rows_per_label: int, seed: int = SEED) -> np.ndarray:
    """Positions of a stratified sample of about ``max_rows`` rows: each label keeps its share,
    but at least ``min_rows_per_label`` rows (all of them when it has fewer), so no label is
    lost and rare ones are not thinned. All positions when there are no more than ``max_rows``."""
    if len(y) <= max_rows:
        return np.arange(len(y))
    labels = y.to_numpy()
    rng = np.random.default_rng(seed)
    kept = []
    for label, count in y.value_counts().sort_index().items():
        quota = min(count, max(count * max_rows // len(y), min_rows_per_label))
        kept.append(rng.choice(np.flatnonzero(labels == label), quota, replace=False))
    return np.sort(np.concatenate(kept))


def build_intent_model(params: IntentParams = DEFAULT_PARAMS, n_jobs: int = N_JOBS) -> Pipeline:
    """The calibrated SVM over character and word n-grams.

    ``dual=True``: with noisy labels and more rows than features, scikit-learn's automatic
    choice (the primal solver) was 30x slower here; and on noisy labels the dual solver runs to
    its iteration limit, hence a lower one (``SVM_MAX_ITER``). ``ensemble=False``: one SVM on
    all the rows, its calibration learnt from out-of-fold scores; as accurate as the plain SVM and a
    third of the work to score."""
    # liblinear's dual solver visits samples in a random order: seeded, the same rows give the same model
    svm = LinearSVC(C=params.c, dual=True, max_iter=SVM_MAX_ITER, random_state=SEED)
    return Pipeline([
        ("features", text_features(char_ngrams=params.char_ngrams, word_ngrams=params.word_ngrams)),
        ("classifier", CalibratedClassifierCV(svm, method="sigmoid", cv=CV_FOLDS, ensemble=False,
                                              n_jobs=n_jobs)),
    ])


def baseline_model() -> Pipeline:
    """The seed's plain TF-IDF + logistic regression, the bar every candidate must clear."""
    return Pipeline([
        ("features", text_features(char_ngrams=(1, 3), strip_punctuation=False)),
        ("classifier", LogisticRegression(C=5.0, max_iter=2000)),
    ])


def fit_intent_model(x: pd.DataFrame, y: pd.Series, params: IntentParams = DEFAULT_PARAMS,
                     n_jobs: int = N_JOBS) -> IntentFit:
    """Fit the calibrated model on a stratified cap of (x, y)."""
    rows = capped_rows(y, params.max_rows, params.min_rows_per_label)
    model = build_intent_model(params, n_jobs).fit(x.iloc[rows], y.iloc[rows])
    return IntentFit(model, params, len(rows))


def predict_intents(model, x: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The most likely intent and its calibrated probability, always: whether an unsure answer
    is acted on is the follow-up rules' decision (``min_confidence`` per intent), not the
    model's, so the answer is never replaced by ``unknown`` here."""
    proba = model[-1].predict_proba(transform_text(model[0], x))  # as model.predict_proba(x), faster
    best = proba.argmax(axis=1)
    return model.classes_[best], proba[np.arange(len(best)), best]
