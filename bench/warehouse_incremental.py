"""Benchmark: a night's incremental dbt run against a full refresh of the same warehouse.

Builds a sample warehouse, then delivers one more night (new communications for the last day
and a late file for older days, ``--late-share`` of the volume), and times
``dbt run --select marts`` incremental against the same with ``--full-refresh`` on a copy
(the baseline, measured in the same run). Results go to docs/bench-warehouse.md.

    .venv/bin/python bench/warehouse_incremental.py --customers 2000 --days 180
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import tempfile
import time
from pathlib import Path

import duckdb

from crm_followups.extract import load_exports
from crm_followups.sample import generate, write_export
from crm_followups.settings import REPO_ROOT, Settings
from crm_followups.transform import run_dbt

RUN_DATE = dt.date(2026, 3, 2)


def deliver_next_night(settings: Settings, customers: int, days: int, share: float) -> int:
    """A new file: ``share`` of the volume again, under new ids, spread over the whole period
    (so most of it is late: for days already built)."""
    _, comms = generate(RUN_DATE + dt.timedelta(days=1), customers, days, seed=11)
    comms = comms[comms["communication_id"] != ""].sample(frac=share, random_state=1)
    comms["communication_id"] = "NEXT-" + comms["communication_id"]
    comms.to_csv(settings.exports_dir / "generic" / "communications_next.csv", index=False)
    return len(comms)


def timed(settings: Settings, *args: str) -> float:
    start = time.perf_counter()
    run_dbt(settings, "run", "--select", "marts", *args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--late-share", type=float, default=0.01)
    args = parser.parse_args()
    os.environ.setdefault("CRM_HASH_SALT", "bench")
    root = Path(tempfile.mkdtemp(prefix="crm-bench-"))
    incremental, full = Settings(root / "incremental"), Settings(root / "full")
    incremental.ensure_dirs()
    write_export(incremental.exports_dir / "generic", RUN_DATE, args.customers, args.days)
    load_exports(incremental)
    run_dbt(incremental, "build")
    new_rows = deliver_next_night(incremental, args.customers, args.days, args.late_share)
    load_exports(incremental)
    run_dbt(incremental, "run", "--select", "staging", "intermediate")
    with duckdb.connect(str(incremental.warehouse_path)) as con:
        con.execute("checkpoint")
        total = con.execute("select count(*) from marts.fct_communications").fetchone()[0]
    full.data_dir.mkdir(parents=True)
    shutil.copy(incremental.warehouse_path, full.warehouse_path)
    incremental_s = timed(incremental)
    full_s = timed(full, "--full-refresh")
    report = REPO_ROOT / "docs" / "bench-warehouse.md"
    report.write_text(
        "# Benchmark: incremental marts against a full refresh\n\n"
        f"`bench/warehouse_incremental.py --customers {args.customers} --days {args.days} "
        f"--late-share {args.late_share}`, {dt.date.today()}, {os.cpu_count()} cores (shared).\n\n"
        f"Warehouse: {total:,} communications; the night delivers {new_rows:,} more "
        "(new and late ones).\n\n"
        "| `dbt run --select marts` | seconds |\n| --- | --- |\n"
        f"| full refresh (baseline) | {full_s:.1f} |\n| incremental | {incremental_s:.1f} |\n",
        encoding="utf-8",
    )
    print(report.read_text(encoding="utf-8"))
    shutil.rmtree(root)


if __name__ == "__main__":
    main()
