"""The intent (customer needs) model: how it is built, trained and asked.

Character n-grams beside word n-grams serve English and Chinese; over them, a soft vote of
three fast linear models: a linear SVM calibrated by Platt scaling on out-of-fold scores, a
weakly regularised logistic regression stopped after a few saga passes, and a multinomial
naive Bayes. Each alone reads 88-90.5% on banking77; their averaged probabilities read about
91.0%, with a lower log loss than the calibrated SVM alone (``docs/models.md``). The
probabilities are the confidence: the follow-up rules decide, per intent, from which
probability an answer is acted on.

Training is bounded so a night costs minutes however large the labelled history grows: the
settings are fixed (``IntentParams``, chosen once by ``bench/intent_banking77.py``, not by a
grid search every night) and at most about ``max_rows`` labelled rows are learnt from, drawn
per label so that every label keeps its share and rare labels keep their rows
(``bench/intent_training_scale.py`` measures what the cap costs).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import VotingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import MultinomialNB
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
# Passes of the logistic regression's saga solver: stopped early on purpose; it is cheap
# (lbfgs to convergence was 10x slower) and reads as well in the vote.
LR_MAX_ITER = 15
# Types skops does not trust by default (MLflow stores models with skops): calibration
# internals, the vote's named members (a dict) and the features' text normaliser.
TRUSTED_TYPES = ["sklearn.calibration._CalibratedClassifier", "sklearn.calibration._SigmoidCalibration",
                 "sklearn.utils._bunch.Bunch", "ml.features.normalise"]


@dataclass(frozen=True)
class IntentParams:
    """The model's settings. The defaults are the best of the banking77 benchmark
    (``docs/bench_banking77.md``); the cap keeps 250k labelled rows within the nightly budget
    at no measurable cost in accuracy (``docs/models.md``)."""

    char_ngrams: tuple[int, int] = (2, 5)
    word_ngrams: tuple[int, int] = (1, 2)
    c: float = 1.0
    lr_c: float = 30.0
    nb_alpha: float = 0.03
    # the vote's weights: calibrated SVM, logistic regression, naive Bayes
    vote_weights: tuple[float, float, float] = (0.5, 0.3, 0.2)
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
    """The soft vote of the calibrated SVM, the logistic regression and naive Bayes over
    character and word n-grams. They err differently (a margin, a likelihood, word counts per
    intent), so their averaged probabilities are right more often than any of them.

    SVM: ``dual=True``: with noisy labels and more rows than features, scikit-learn's automatic
    choice (the primal solver) was 30x slower here; and on noisy labels the dual solver runs to
    its iteration limit, hence a lower one (``SVM_MAX_ITER``). ``ensemble=False``: one SVM on
    all the rows, its calibration learnt from out-of-fold scores; as accurate as the plain SVM and a
    third of the work to score."""
    # liblinear's dual solver visits samples in a random order: seeded, the same rows give the same model
    svm = LinearSVC(C=params.c, dual=True, max_iter=SVM_MAX_ITER, random_state=SEED)
    calibrated = CalibratedClassifierCV(svm, method="sigmoid", cv=CV_FOLDS, ensemble=False, n_jobs=n_jobs)
    logistic = LogisticRegression(C=params.lr_c, solver="saga", max_iter=LR_MAX_ITER, random_state=SEED)
    bayes = MultinomialNB(alpha=params.nb_alpha)
    vote = VotingClassifier([("svm", calibrated), ("logistic", logistic), ("bayes", bayes)], voting="soft",
                            weights=list(params.vote_weights))
    return Pipeline([
        ("features", text_features(char_ngrams=params.char_ngrams, word_ngrams=params.word_ngrams)),
        ("classifier", vote),
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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the solvers' pass limits are deliberate
        model = build_intent_model(params, n_jobs).fit(x.iloc[rows], y.iloc[rows])
    return IntentFit(model, params, len(rows))


def predict_intents(model, x: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The most likely intent and its calibrated probability, always: whether an unsure answer
    is acted on is the follow-up rules' decision (``min_confidence`` per intent), not the
    model's, so the answer is never replaced by ``unknown`` here."""
    proba = model[-1].predict_proba(transform_text(model[0], x))  # as model.predict_proba(x), faster
    best = proba.argmax(axis=1)
    return model.classes_[best], proba[np.arange(len(best)), best]
