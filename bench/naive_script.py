"""The naive script the nightly bench compares against: what the seed documents describe, in
one process and one pass (pandas read_csv, TF-IDF, logistic regression, predict, Parquet), with
none of the product's guarantees (no dedup, rejects, history, champion or follow-ups).

    .venv/bin/python bench/naive_script.py OUT.parquet communications_*.csv

Prints one JSON line: rows read, labelled rows trained on, inbound rows scored, seconds.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

COLUMNS = ["communication_id", "direction", "subject", "body", "label"]


def naive_score(files: list[Path], out: Path) -> dict[str, float | int]:
    """Read, train on labelled inbound, predict every inbound message, write them to Parquet."""
    started = time.perf_counter()
    comms = pd.concat([pd.read_csv(f, usecols=COLUMNS, dtype=str, on_bad_lines="skip") for f in files],
                      ignore_index=True)
    inbound = comms[comms["direction"].str.strip().str.lower() == "inbound"]
    text = inbound["subject"].fillna("") + " " + inbound["body"].fillna("")
    labelled = inbound["label"].notna().to_numpy()
    vectorizer = TfidfVectorizer(sublinear_tf=True, min_df=2)
    features = vectorizer.fit_transform(text)
    model = LogisticRegression(max_iter=200).fit(features[labelled], inbound["label"][labelled])
    scored = inbound[["communication_id"]].assign(intent=model.predict(features),
                                                  confidence=model.predict_proba(features).max(axis=1))
    scored.to_parquet(out, index=False)
    return {"rows_read": len(comms), "labelled": int(labelled.sum()), "scored": len(scored),
            "seconds": time.perf_counter() - started}


if __name__ == "__main__":
    print(json.dumps(naive_score([Path(f) for f in sys.argv[2:]], Path(sys.argv[1]))))
