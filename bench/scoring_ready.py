"""Benchmark: how soon a fresh scoring process can score (issue #13, point 2: ready in <= 5 s).

Trains the three champions once per data folder on the 100k sample (``--customers 3490 --days
180``, as ``bench/nightly.py``), then times fresh processes, as each Airflow scoring task is:
the scoring imports (``import ml.score``) and loading each champion
(``ml.tracking.load_model_version``; skops's own import, which the first load pays, and the
registry look-ups apart), ``--rounds`` times. Each process also scores the first
``--rows`` inbound communications; ``--save`` keeps those scores and ``--compare`` checks a run
against saved ones (the same models loaded by other code must score identically).

    PYTHONPATH=$PWD .venv/bin/python bench/scoring_ready.py --data-dir /tmp/ready-bench --rounds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

# Run in a fresh interpreter: time the imports, then each champion's load, then score.
READY = """
import json, sys, time
started = time.perf_counter()
import ml.score
from crm_followups.core.names import INTENT_MODEL, SENTIMENT_MODEL, TOPICS_MODEL
from crm_followups.core.settings import Settings
from crm_followups.core.warehouse import connect
from ml.features import text_frame
from ml.intent import predict_intents
from ml.topics import predict_topics
from ml.tracking import champion, load_model_version, point_at_store
times = {"imports": time.perf_counter() - started}
start = time.perf_counter()
import skops.io  # what the first load imports: skops lists the types it trusts
times["skops import"] = time.perf_counter() - start
start = time.perf_counter()
settings = Settings(data_dir=sys.argv[1])
point_at_store(settings)
names = (INTENT_MODEL, SENTIMENT_MODEL, TOPICS_MODEL)
versions = {name: str(champion(settings, name).version) for name in names}
times["registry"] = time.perf_counter() - start
models = {}
for name, version in versions.items():
    start = time.perf_counter()
    models[name] = load_model_version(settings, name, version)
    times[name] = time.perf_counter() - start
times["ready"] = time.perf_counter() - started
with connect(settings) as con:
    rows = con.execute("select subject, body from marts.fct_communications where direction = 'inbound' "
                       "order by communication_id limit ?", [int(sys.argv[2])]).df()
x = text_frame(rows["subject"], rows["body"])
intent, confidence = predict_intents(models[INTENT_MODEL], x)
scores = {"intent": intent.tolist(), "confidence": confidence.tolist(),
          "sentiment": models[SENTIMENT_MODEL].predict(x).tolist(),
          "topic": predict_topics(models[TOPICS_MODEL], x).tolist()}
print(json.dumps({"times": times, "scores": scores}))
"""


def train(data_dir: Path, customers: int, days: int) -> None:
    """The three champions on the sample's communications, unless this folder has them."""
    from crm_followups.core.settings import Settings

    settings = Settings(data_dir=data_dir)
    if settings.warehouse_path.exists():
        return
    from bench.score_partitions import write_communications
    from ml.train import train_intent, train_sentiment, train_topics

    settings.ensure_dirs()
    print(f"writing {write_communications(settings, customers, days, None):,} inbound rows and training",
          flush=True)
    for step in (train_intent, train_sentiment, train_topics):
        print(step.__name__, step(settings), flush=True)


def fresh_process(data_dir: Path, rows: int) -> dict:
    done = subprocess.run([sys.executable, "-c", READY, str(data_dir), str(rows)], capture_output=True,
                          text=True, check=False)
    if done.returncode:
        sys.exit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="trained once, reused after")
    parser.add_argument("--customers", type=int, default=3_490)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=5_000, help="inbound rows scored by each process")
    parser.add_argument("--save", type=Path, help="write the scores here (JSON)")
    parser.add_argument("--compare", type=Path, help="fail unless the scores equal these (JSON)")
    args = parser.parse_args()
    train(args.data_dir, args.customers, args.days)
    runs = [fresh_process(args.data_dir, args.rows) for _ in range(args.rounds)]
    for step in runs[0]["times"]:
        seconds = [run["times"][step] for run in runs]
        each = ", ".join(f"{s:.2f}" for s in seconds)
        print(f"{step:>14}: median {statistics.median(seconds):5.2f} s  ({each})")
    scores = runs[0]["scores"]
    assert all(run["scores"] == scores for run in runs), "fresh processes scored differently"
    if args.save:
        args.save.write_text(json.dumps(scores))
    if args.compare:
        expected = json.loads(args.compare.read_text())
        assert scores.keys() == expected.keys()
        for name, values in expected.items():
            assert np.array_equal(np.array(scores[name]), np.array(values)), f"{name} scores differ"
        print(f"scores equal {args.compare} on {len(scores['intent'])} rows")


if __name__ == "__main__":
    main()
