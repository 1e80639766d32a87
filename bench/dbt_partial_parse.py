"""Benchmark: dbt's parsing on a night's first dbt commands, with the code of this checkout and
of another (e.g. before ``nights/current``), on consecutive real nights (issue #13 point 3).

    .venv/bin/python bench/dbt_partial_parse.py --data /tmp/parse-bench --other /tmp/before [--nights 3]

Each checkout gets a data folder of its own under ``--data``; each night of it runs
``crm-followups run``'s set-up and ``run_nightly`` (the real DAG, ``dag.test``) in a process of
its own, with that checkout first on PYTHONPATH. The first night (training) is not compared;
then the checkouts alternate, night by night, on a generated 10k sample with nothing new. Per
night: the set-up's ``dbt parse``, the ``source_freshness`` task and the first dbt task of the
transform group, in seconds, and what dbt logged about partial parsing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PARSE_LOG = ("Unable to do partial parsing", "Partial parsing enabled")


def dbt_log(data_dir: Path) -> Path:
    return data_dir / "dbt" / "logs" / "dbt.log"


def first_transform_task(run_id: str) -> tuple[str, float]:
    """The transform group's first task: the one that reads the partial-parse cache first."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        first = session.scalars(select(TaskInstance).where(
            TaskInstance.run_id == run_id, TaskInstance.task_id.startswith("transform."))
            .order_by(TaskInstance.start_date).limit(1)).one()
        return first.task_id, (first.end_date - first.start_date).total_seconds()


def one_night(data_dir: Path, date: dt.date, result_file: Path) -> None:
    """In the night's process: set up (timed: its ``dbt parse``), run the night, report."""
    from bench.nightly import night_settings, step_times
    from crm_followups.cli.nightly import run_nightly
    from crm_followups.cli.stack import set_up

    settings = night_settings(data_dir)
    log_start = dbt_log(data_dir).stat().st_size if dbt_log(data_dir).exists() else 0
    started = time.perf_counter()
    set_up(settings)
    set_up_seconds = time.perf_counter() - started
    run_id = run_nightly(settings, date)["extract"]["batch_id"]
    with dbt_log(data_dir).open(encoding="utf-8", errors="replace") as log:
        log.seek(log_start if dbt_log(data_dir).stat().st_size >= log_start else 0)
        parse_lines = [line.split("]: ", 1)[-1].strip() for line in log if any(p in line for p in PARSE_LOG)]
    first_task, first_seconds = first_transform_task(run_id)
    result_file.write_text(json.dumps({
        "set_up": set_up_seconds, "source_freshness": step_times(run_id)["source_freshness"]["busy"],
        "first_task": first_task, "first_task_seconds": first_seconds, "parse_log": parse_lines}))


def run_night(checkout: Path, data_dir: Path, date: dt.date, work: Path) -> dict[str, Any]:
    """One night of ``checkout``'s code (first on PYTHONPATH, its DAG file) in a process of its
    own (Airflow reads AIRFLOW_HOME once, on import)."""
    from bench.nightly import child_environment

    result_file, log_file = work / f"{data_dir.name}-{date}.json", work / f"{data_dir.name}-{date}.log"
    env = {**child_environment(data_dir), "PYTHONPATH": str(checkout),
           "AIRFLOW__CORE__DAGS_FOLDER": str(checkout / "dags")}
    command = [sys.executable, __file__, "--night", str(data_dir), str(date), str(result_file)]
    with log_file.open("w") as log:
        subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=checkout, check=True)
    return json.loads(result_file.read_text())


def parse_summary(parse_log: list[str]) -> str:
    """The night's full parses, with dbt's reason each, and how many commands parsed partially."""
    full = [line.removeprefix("Unable to do partial parsing because ").removesuffix(" Starting full parse.")
            for line in parse_log if line.startswith("Unable to do partial parsing")]
    partial = sum(line.startswith("Partial parsing enabled:") for line in parse_log)
    return f"{len(full)} full parses ({'; '.join(full)}), {partial} partial"


def bench(data: Path, checkouts: dict[str, Path], nights: int) -> None:
    from bench.nightly import CUSTOMERS, DAYS, RUN_DATE, SEED
    from crm_followups.sample.generate import write_export

    work = data / "runs"
    work.mkdir(parents=True, exist_ok=True)
    for name in checkouts:
        folder = data / name
        if not folder.exists():
            write_export(folder / "exports" / "generic", RUN_DATE, CUSTOMERS["10k"], DAYS, SEED)
    for number in range(nights + 1):
        date = RUN_DATE + dt.timedelta(days=number)
        for name, checkout in (checkouts.items() if number % 2 else reversed(checkouts.items())):
            result = run_night(checkout, data / name, date, work)
            print(f"night {number} {name:6s} set-up {result['set_up']:5.1f} s, source_freshness "
                  f"{result['source_freshness']:5.1f} s, {result['first_task']} "
                  f"{result['first_task_seconds']:5.1f} s; load {os.getloadavg()[0]:.1f}; "
                  f"dbt: {parse_summary(result['parse_log'])}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="the bench's folder (a data folder per checkout)")
    parser.add_argument("--other", type=Path, help="the checkout to compare with (`git archive` of main)")
    parser.add_argument("--nights", type=int, default=3, help="nights compared after the first")
    parser.add_argument("--night", nargs=3, metavar=("DATA", "DATE", "RESULT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.night:
        data_dir, date, result_file = args.night
        one_night(Path(data_dir), dt.date.fromisoformat(date), Path(result_file))
        return
    bench(args.data, {"this": REPO, "other": args.other.resolve()}, args.nights)


if __name__ == "__main__":
    main()
