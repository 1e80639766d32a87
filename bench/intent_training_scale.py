"""Benchmark: what a nightly intent training costs at scale, and what its row cap costs.

1. Time. The sample generator writes a 1M-communication export (about 250k labelled inbound
   rows, English and Chinese); its rows go into ``marts.fct_communications`` of a fresh DuckDB
   file, and ``ml.train.train_intent`` runs end to end, as on the first night: load, fit on the
   training four fifths, held-out scores, gate, refit on every labelled row, two models logged
   to a fresh MLflow store and registered. ``fit_intent_model`` alone is timed as well.
2. Accuracy. banking77 is made as large: each training query of an outer fold (the same
   5-fold split as ``bench/intent_banking77.py``) is repeated with small perturbations (typos,
   a dropped word, casing, greetings) to 250k rows; the capped model (``IntentParams``
   defaults) and the uncapped one learn from them and are scored on the fold's real,
   unperturbed held-out queries.

    .venv/bin/python bench/intent_training_scale.py [--outer-folds 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score
from sklearn.model_selection import StratifiedKFold

from crm_followups.core.settings import Settings
from ml.features import text_frame
from ml.intent import DEFAULT_PARAMS, SEED, fit_intent_model
from ml.train import load_labelled, train_intent

ROOT = Path(__file__).resolve().parents[1]
BANKING77 = ROOT.parent / "shared" / "data" / "banking77" / "train.csv"
GREETINGS = ["", "", "hi, ", "hello ", "hey, ", "good morning, "]
CLOSINGS = ["", "", " thanks", " thank you!", " please help", " asap"]


def sample_export(out: Path, customers: int, days: int) -> Path:
    """The project's sample export, through its command line (run date fixed: reproducible)."""
    subprocess.run([sys.executable, "-m", "crm_followups", "sample", "--customers", str(customers),
                    "--days", str(days), "--run-date", "2026-11-27", "--out", str(out)], check=True)
    return next(out.glob("communications_*.csv"))


def warehouse_from_export(settings: Settings, communications: Path) -> None:
    """A minimal ``marts.fct_communications`` as dbt would build it (the sample's broken rows dropped)."""
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create schema if not exists marts")
        con.execute(f"""create or replace table marts.fct_communications as
            select communication_id, 'generic' as source_system, customer_id, channel, direction,
                   occurred_at, subject, body, agent_id, nullif(label, '') as label
            from read_csv('{communications}', all_varchar = true, ignore_errors = true)
            where communication_id is not null""")


def time_first_night(work: Path, customers: int, days: int) -> dict:
    settings = Settings(work / "data")
    settings.ensure_dirs()
    started = time.perf_counter()
    communications = sample_export(work / "export", customers, days)
    warehouse_from_export(settings, communications)
    prepared = time.perf_counter() - started
    with duckdb.connect(str(settings.warehouse_path)) as con:
        rows = con.execute("select count(*) from marts.fct_communications").fetchone()[0]
    started = time.perf_counter()
    result = train_intent(settings, force=True)
    night = time.perf_counter() - started
    labelled = load_labelled(settings)
    train = labelled[~labelled["in_holdout"]]
    started = time.perf_counter()
    fit = fit_intent_model(text_frame(train["subject"], train["body"]), train["label"])
    return {"communications": rows, "labelled": len(labelled), "prepare_s": prepared,
            "train_intent_s": night, "fit_intent_model_s": time.perf_counter() - started,
            "fit_rows": fit.fit_rows, "holdout_accuracy": result.accuracy,
            "holdout_macro_f1": result.macro_f1}


def perturb(texts: pd.Series, copies: int, seed: int) -> pd.Series:
    """``copies`` noisy variants of every text (the first copy is the text itself)."""
    rng = np.random.default_rng(seed)
    out = []
    for text in texts:
        words = text.split()
        out.append(text)
        for _ in range(copies - 1):
            w = list(words)
            if len(w) > 3 and rng.random() < 0.5:
                del w[rng.integers(len(w))]
            i = rng.integers(len(w))
            if len(w[i]) > 3 and rng.random() < 0.5:  # a typo: two neighbouring letters swapped
                j = rng.integers(len(w[i]) - 1)
                w[i] = w[i][:j] + w[i][j + 1] + w[i][j] + w[i][j + 2:]
            variant = " ".join(w)
            variant = variant.lower() if rng.random() < 0.3 else variant
            greeting, closing = GREETINGS[rng.integers(len(GREETINGS))], CLOSINGS[rng.integers(len(CLOSINGS))]
            out.append(greeting + variant + closing)
    return pd.Series(out)


def capped_vs_uncapped(rows: int, outer_folds: int) -> list[dict]:
    queries = pd.read_csv(BANKING77)
    x = text_frame(pd.Series("", index=queries.index), queries["text"])
    y = queries["category"]
    folds = StratifiedKFold(5, shuffle=True, random_state=SEED).split(x, y)
    results = []
    for fold, (train, test) in zip(range(outer_folds), folds, strict=False):
        copies = -(-rows // len(train))
        texts = perturb(queries["text"].iloc[train], copies, SEED + fold)
        x_big = text_frame(pd.Series("", index=texts.index), texts)
        y_big = pd.Series(np.repeat(y.iloc[train].to_numpy(), copies))
        for name, params in [("capped", DEFAULT_PARAMS),
                             ("uncapped", dataclasses.replace(DEFAULT_PARAMS, max_rows=len(y_big)))]:
            started = time.perf_counter()
            fit = fit_intent_model(x_big, y_big, params)
            accuracy = accuracy_score(y.iloc[test], fit.model.predict(x.iloc[test]))
            results.append({"fold": fold, "model": name, "training_rows": len(y_big),
                            "fit_rows": fit.fit_rows, "accuracy": accuracy,
                            "seconds": time.perf_counter() - started})
            print(results[-1], flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=41_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--rows", type=int, default=250_000, help="perturbed banking77 training rows")
    parser.add_argument("--outer-folds", type=int, default=1, help="banking77 folds to run (of 5)")
    parser.add_argument("--skip-night", action="store_true")
    parser.add_argument("--skip-banking77", action="store_true")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, Python {platform.python_version()}", flush=True)
    if not args.skip_night:
        with tempfile.TemporaryDirectory(prefix="intent-scale-") as work:
            print("first night:", time_first_night(Path(work), args.customers, args.days), flush=True)
    if not args.skip_banking77:
        results = pd.DataFrame(capped_vs_uncapped(args.rows, args.outer_folds))
        print(results.groupby("model")[["accuracy", "seconds", "fit_rows"]].mean().to_string())


if __name__ == "__main__":
    main()
