"""Benchmark: the pipeline's intent model on real customer queries (banking77, 77 intents).

The queries are written as the canonical export would carry them (one inbound communication
per row, ``body`` = text, ``label`` = intent) and go through the pipeline's own code:
``text_frame`` and ``fit_intent_model`` with its fixed defaults (``IntentParams``), the fit
``ml.train.train_intent`` runs. On the same folds, in the same run: a plain word TF-IDF +
logistic regression and the walking skeleton's char+word TF-IDF + logistic regression. The
defaults were chosen on these folds (``docs/models.md``), so the pipeline's figure is
slightly optimistic.

    .venv/bin/python bench/intent_banking77.py [--folds 5] [--out docs/bench_banking77.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline

from crm_followups.sample.labelled_queries import BANKING77, banking77_export
from ml.features import TEXT_COLUMN, text_frame
from ml.intent import DEFAULT_PARAMS, SEED, baseline_model, fit_intent_model

PUBLISHED = [("BERT-Large, fine-tuned (Casanueva et al. 2020)", "93.66", "official test split"),
             ("USE+ConveRT (Casanueva et al. 2020)", "93.36", "official test split")]


def plain_baseline() -> Pipeline:
    """Word TF-IDF (scikit-learn defaults) + logistic regression: the textbook baseline."""
    return Pipeline([("features", ColumnTransformer([("word", TfidfVectorizer(), TEXT_COLUMN)])),
                     ("classifier", LogisticRegression(max_iter=2000))])


def _measure(fit_predict, x: pd.DataFrame, y: pd.Series, folds: StratifiedKFold) -> dict:
    accuracy, macro_f1, started = [], [], time.perf_counter()
    for train, test in folds.split(x, y):
        predicted = fit_predict(x.iloc[train], y.iloc[train], x.iloc[test])
        accuracy.append(accuracy_score(y.iloc[test], predicted))
        macro_f1.append(f1_score(y.iloc[test], predicted, average="macro"))
    return {"accuracy": np.mean(accuracy), "accuracy_sd": np.std(accuracy), "macro_f1": np.mean(macro_f1),
            "seconds": time.perf_counter() - started}


def _fixed(model_factory):
    return lambda x_train, y_train, x_test: model_factory().fit(x_train, y_train).predict(x_test)


def _pipeline(x_train, y_train, x_test):
    return fit_intent_model(x_train, y_train).model.predict(x_test)


def report(results: dict[str, dict], rows: int, labels: int, folds: int) -> str:
    lines = [f"# banking77 intent benchmark ({dt.date.today()})", "",
             f"{rows} real customer queries, {labels} intents; {folds}-fold stratified cross-validation "
             f"(seed {SEED}), the same folds for every model; scikit-learn {sklearn.__version__}, "
             f"Python {platform.python_version()}, {os.cpu_count()} cores. Written by "
             f"`bench/intent_banking77.py --folds {folds}`.", "",
             "| model | accuracy | ± sd | macro-F1 | seconds (all folds) |",
             "| --- | --- | --- | --- | --- |"]
    lines += [f"| {name} | {r['accuracy']:.2%} | {r['accuracy_sd']:.2%} | {r['macro_f1']:.2%} "
              f"| {r['seconds']:.0f} |" for name, r in results.items()]
    lines += ["", f"Pipeline settings (fixed, `IntentParams`): {DEFAULT_PARAMS}.", "",
              "Published, trained on the full training split and measured on the official test split "
              "(not here, see `docs/models.md`):", "",
              "| model | accuracy | measured on |", "| --- | --- | --- |"]
    lines += [f"| {name} | {acc}% | {where} |" for name, acc, where in PUBLISHED]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--data", type=Path, default=BANKING77)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parents[1] / "docs" / "bench_banking77.md")
    args = parser.parse_args()
    export = banking77_export(args.data)
    x, y = text_frame(export["subject"], export["body"]), export["label"]
    folds = StratifiedKFold(args.folds, shuffle=True, random_state=SEED)
    results = {}
    for name, fit_predict in [
        ("baseline: word TF-IDF + logistic regression", _fixed(plain_baseline)),
        ("skeleton: char 1-3 + word 1-2 TF-IDF + logistic regression", _fixed(baseline_model)),
        ("pipeline: char_wb 2-5 + word 1-2 TF-IDF, soft vote of a calibrated linear SVM, logistic "
         "regression and naive Bayes", _pipeline),
    ]:
        results[name] = _measure(fit_predict, x, y, folds)
        print(name, {k: round(v, 4) for k, v in results[name].items()}, flush=True)
    text = report(results, len(export), y.nunique(), args.folds)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
