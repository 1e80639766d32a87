"""Benchmark: ``score_batch`` throughput in one process (issue #13: >= 20,000 communications/s).

Puts the 100k sample (3,490 customers x 180 days, seed 13, as ``make bench SIZES=100k``) into
``marts.fct_communications``, trains the three champions as the night does (``ml.train``),
then times ``score_batch`` on all inbound rows, and each model's own step on every row (no
text shared), best of ``--rounds``. The data directory is kept (``--data-dir``) so later runs
reuse the same champions; ``--save`` writes the scores, ``--compare`` asserts they equal a saved
run's.

    PYTHONPATH=$PWD .venv/bin/python bench/score_throughput.py --data-dir /tmp/score-bench
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq

from crm_followups.core.settings import Settings
from crm_followups.sample.generate import generate
from ml.features import text_frame
from ml.intent import predict_intents
from ml.score import champion_versions, load_champions, score_batch
from ml.topics import predict_topics
from ml.train import train_intent, train_sentiment, train_topics

RUN_DATE = dt.date(2026, 3, 2)
CUSTOMERS, DAYS, SEED = 3_490, 180, 13
INBOUND_SQL = """select source_system, communication_id, customer_id, subject, body
                 from marts.fct_communications where direction = 'inbound' order by communication_id"""


def prepare(settings: Settings) -> None:
    """The sample's communications as dbt builds them, and champions trained on them."""
    _, comms = generate(RUN_DATE, CUSTOMERS, DAYS, SEED)
    comms = comms.assign(direction=comms["direction"].str.strip().str.lower(), source_system="generic")
    comms = comms[comms["direction"].isin(["inbound", "outbound"])].drop_duplicates("communication_id")
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create schema if not exists marts")
        con.register("comms", comms)
        con.execute("""create or replace table marts.fct_communications as
                       select communication_id, source_system, customer_id, channel, direction, occurred_at,
                              subject, body, agent_id, nullif(label, '') as label from comms""")
    for train in (train_intent, train_topics, train_sentiment):
        train(settings)


def best_of(rounds: int, step: Callable[[], object]) -> tuple[float, float]:
    """The fastest of ``rounds`` runs: wall seconds, and CPU seconds of this process (the
    steadier figure on shared cores: another job's load lengthens the wall time only)."""
    wall, cpu = [], []
    for _ in range(rounds):
        start, start_cpu = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return min(wall), min(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="kept between runs: the champions")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--save", type=Path, help="write the scores here (parquet)")
    parser.add_argument("--compare", type=Path, help="assert the scores equal this saved run's")
    args = parser.parse_args()
    settings = Settings(data_dir=args.data_dir)
    settings.ensure_dirs()
    if champion_versions(settings) is None:
        prepare(settings)
    models = load_champions(settings, champion_versions(settings))
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        batch: pd.DataFrame = con.execute(INBOUND_SQL).df()
    x = text_frame(batch["subject"], batch["body"])
    seconds = {
        "intent": best_of(args.rounds, lambda: predict_intents(models.intent, x)),
        "sentiment": best_of(args.rounds, lambda: models.sentiment.predict(x)),
        "topics": best_of(args.rounds, lambda: predict_topics(models.topics, x)),
        "score_batch": best_of(args.rounds, lambda: score_batch(models, batch)),
    }
    scores = score_batch(models, batch)
    wall, cpu = seconds["score_batch"]
    print(f"{len(batch):,} inbound rows; best of {args.rounds}, wall (CPU) seconds: "
          + ", ".join(f"{name} {s:.2f} ({c:.2f})" for name, (s, c) in seconds.items())
          + f"; {len(batch) / wall:,.0f} communications/s ({len(batch) / cpu:,.0f} per CPU second)")
    if args.save:
        pq.write_table(scores, args.save)
    if args.compare:
        assert scores.equals(pq.read_table(args.compare)), "the scores differ from the saved run's"
        print(f"scores equal {args.compare}'s")


if __name__ == "__main__":
    main()
