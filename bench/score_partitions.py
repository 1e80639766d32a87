"""Benchmark: scoring one night in a single process against split by customer bucket.

Trains the three champions on a small warehouse, then puts the whole sample (about 50,000
inbound communications by default) into ``marts.fct_communications`` and scores it twice
from scratch with the same champions: ``score_communications`` in one process (the
baseline), then ``snapshot_unscored`` -> one process per bucket (as Celery workers would
run ``score_partition``, each loading the models itself) -> ``merge_partition_scores``.
Checks both give the same scores. Results go to docs/bench-scoring.md.

    .venv/bin/python bench/score_partitions.py --customers 4000 --days 180 --buckets 4 --workers 2
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import duckdb

from crm_followups.core.settings import REPO_ROOT, Settings
from crm_followups.sample.generate import generate
from ml.score import champion_versions, load_champions, score_communications
from ml.score_partitions import merge_partition_scores, score_partition, snapshot_unscored
from ml.train import train_intent, train_sentiment, train_topics

RUN_DATE = dt.date(2026, 3, 2)
TRAINING_ROWS = 6_000  # training is not what is measured: keep it short


def write_communications(settings: Settings, customers: int, days: int, rows: int | None) -> int:
    """``marts.fct_communications`` as dbt builds it (inbound and outbound), from the sample."""
    _, comms = generate(RUN_DATE, customers, days)
    comms = comms.assign(direction=comms["direction"].str.strip().str.lower(), source_system="generic")
    comms = comms[comms["direction"].isin(["inbound", "outbound"])].drop_duplicates("communication_id")
    comms = comms.head(rows) if rows else comms
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create schema if not exists marts; drop table if exists marts.fct_communications")
        con.register("comms", comms)
        con.execute("""create table marts.fct_communications as
                       select communication_id, source_system, customer_id, channel, direction, occurred_at,
                              subject, body, agent_id, nullif(label, '') as label from comms""")
        return con.execute("select count(*) from marts.fct_communications where direction = 'inbound'"
                           ).fetchone()[0]


def reset_scores(settings: Settings) -> None:
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("drop table if exists ml.communication_scores; drop table if exists ml.score_history")


def scores(settings: Settings) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path)) as con:
        return con.execute("select * exclude (scored_at) from ml.communication_scores order by all"
                           ).fetchall()


def in_fresh_process(step, *args) -> float:
    """Run ``step`` as an Airflow task runs: in a new process that imports and loads the
    models itself. Returns that process's peak memory in MB."""
    step(*args)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_tonights_champions(settings: Settings) -> None:
    load_champions(settings, champion_versions(settings))


def start_up_s(settings: Settings) -> float:
    """What every scoring process pays before its first communication: a fresh interpreter,
    the imports, and loading the three models from MLflow."""
    start = time.perf_counter()
    with ProcessPoolExecutor(1, max_tasks_per_child=1) as pool:
        pool.submit(in_fresh_process, load_tonights_champions, settings).result()
    return time.perf_counter() - start


def single(settings: Settings) -> tuple[dict[str, float], float]:
    start = time.perf_counter()
    with ProcessPoolExecutor(1, max_tasks_per_child=1) as pool:
        peak_mb = pool.submit(in_fresh_process, score_communications, settings).result()
    return {"total": time.perf_counter() - start}, peak_mb


def partitioned(settings: Settings, workers: int) -> tuple[dict[str, float], float]:
    """Seconds of each stage (snapshot and merge in this process, as the pooled tasks), and
    the largest partition process's peak memory; ``workers`` partitions run at a time."""
    start = time.perf_counter()
    partitions = snapshot_unscored(settings, "bench")
    snapshot_s = time.perf_counter() - start
    with ProcessPoolExecutor(workers, max_tasks_per_child=1) as pool:
        peak_mb = max(pool.map(partial(in_fresh_process, score_partition, settings), partitions))
    partitions_s = time.perf_counter() - start - snapshot_s
    merge_partition_scores(settings, partitions)
    total_s = time.perf_counter() - start
    return ({"snapshot": snapshot_s, "partitions": partitions_s, "merge": total_s - snapshot_s - partitions_s,
             "total": total_s}, peak_mb)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=4000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--buckets", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="partition processes at a time")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="crm-bench-scoring-"))
    settings = Settings(data_dir=root / "data", score_buckets=args.buckets)
    settings.ensure_dirs()
    write_communications(settings, args.customers, args.days, TRAINING_ROWS)
    for train in (train_intent, train_topics, train_sentiment):
        train(settings)
    inbound = write_communications(settings, args.customers, args.days, None)

    start_up = start_up_s(settings)
    (single_s, single_mb) = single(settings)
    baseline = scores(settings)
    reset_scores(settings)
    sequential, _ = partitioned(settings, workers=1)
    reset_scores(settings)
    parallel, partition_mb = partitioned(settings, workers=args.workers)
    assert scores(settings) == baseline, "partitioned scores differ from the single-process path"

    def row(name: str, stages: dict[str, float], peak_mb: float | None = None) -> str:
        scoring = stages.get("partitions", stages["total"])
        return (f"| {name} | {stages.get('snapshot', 0):.1f} | {scoring:.1f} "
                f"| {stages.get('merge', 0):.1f} | {stages['total']:.1f} | {inbound / stages['total']:,.0f} "
                f"| {'' if peak_mb is None else f'{peak_mb:,.0f}'} |\n")

    report = REPO_ROOT / "docs" / "bench-scoring.md"
    report.write_text(
        "# Benchmark: single-process scoring against partitioned scoring\n\n"
        f"`bench/score_partitions.py --customers {args.customers} --days {args.days} "
        f"--buckets {args.buckets} --workers {args.workers}`, {dt.date.today()}, "
        f"{os.cpu_count()} cores (shared with other jobs).\n\n"
        f"{inbound:,} inbound communications, scored from scratch by the same champions (intent, "
        "sentiment, topics); both paths give identical `ml.communication_scores` (checked).\n\n"
        "| path | snapshot s | scoring s | merge s | total s | communications/s "
        "| peak MB of a scoring process |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n"
        + row("single process, `score_communications` (baseline)", single_s, single_mb)
        + row(f"{args.buckets} buckets, 1 partition process at a time", sequential)
        + row(f"{args.buckets} buckets, {args.workers} partition processes at a time", parallel, partition_mb)
        + "\nEvery scoring process is a fresh one that imports the stack and loads the three models "
        "from MLflow itself, as an Airflow task on a Celery worker does; snapshot and merge are the "
        "two tasks in the `warehouse` pool. That start-up alone, measured in the same run: "
        f"{start_up:.1f} s per process.\n",
        encoding="utf-8",
    )
    print(report.read_text(encoding="utf-8"))
    shutil.rmtree(root)


if __name__ == "__main__":
    main()
