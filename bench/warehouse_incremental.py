"""Benchmark: a night's incremental dbt run against a full refresh of the same warehouse.

Builds a sample warehouse, then delivers one more night (communications of a new day and a
late file for ``--late-days`` older days), and times
``dbt run --select marts`` incremental against the same with ``--full-refresh`` on a copy
(the baseline, measured in the same run). Results go to docs/bench-warehouse.md.

    .venv/bin/python bench/warehouse_incremental.py --customers 2000 --days 180
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import duckdb

from crm_followups.core.settings import REPO_ROOT, Settings
from crm_followups.extract.load import load_exports
from crm_followups.sample.generate import generate, write_export
from crm_followups.transform.dbt_runner import run_dbt

RUN_DATE = dt.date(2026, 3, 2)


def deliver_next_night(settings: Settings, customers: int, days: int, late_days: int) -> int:
    """A new file: a new day's communications plus, under new ids, those of ``late_days``
    older days (a late export), as a real night brings them."""
    _, comms = generate(RUN_DATE + dt.timedelta(days=1), customers, days, seed=11)
    older = [(RUN_DATE - dt.timedelta(days=7 * (k + 1))).isoformat() for k in range(late_days)]
    night = comms[comms["occurred_at"].str[:10].isin([RUN_DATE.isoformat(), *older])].copy()
    night["communication_id"] = "NEXT-" + night["communication_id"]
    night.to_csv(settings.exports_dir / "generic" / "communications_next.csv", index=False)
    return len(night)


def timed(settings: Settings, *args: str) -> tuple[float, dict[str, float]]:
    """Wall time of ``dbt run --select marts`` and each model's execution time."""
    start = time.perf_counter()
    run_dbt(settings, "run", "--select", "marts", *args)
    wall = time.perf_counter() - start
    results = json.loads((settings.dbt_target_dir / "run_results.json").read_text(encoding="utf-8"))
    return wall, {r["unique_id"].rsplit(".", 1)[-1]: r["execution_time"] for r in results["results"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--late-days", type=int, default=3, help="older days the late file covers")
    args = parser.parse_args()
    os.environ.setdefault("CRM_HASH_SALT", "bench")
    root = Path(tempfile.mkdtemp(prefix="crm-bench-"))
    incremental, full = Settings(data_dir=root / "incremental"), Settings(data_dir=root / "full")
    incremental.ensure_dirs()
    write_export(incremental.exports_dir / "generic", RUN_DATE, args.customers, args.days)
    load_exports(incremental)
    run_dbt(incremental, "build")
    new_rows = deliver_next_night(incremental, args.customers, args.days, args.late_days)
    load_exports(incremental)
    run_dbt(incremental, "run", "--select", "staging", "intermediate")
    with duckdb.connect(str(incremental.warehouse_path)) as con:
        con.execute("checkpoint")
        total = con.execute("select count(*) from marts.fct_communications").fetchone()[0]
    full.data_dir.mkdir(parents=True)
    shutil.copy(incremental.warehouse_path, full.warehouse_path)
    incremental_s, incremental_models = timed(incremental)
    full_s, full_models = timed(full, "--full-refresh")
    per_model = "".join(f"| {m} | {full_models[m]:.2f} | {incremental_models[m]:.2f} |\n"
                        for m in sorted(full_models))
    report = REPO_ROOT / "docs" / "bench-warehouse.md"
    report.write_text(
        "# Benchmark: incremental marts against a full refresh\n\n"
        f"`bench/warehouse_incremental.py --customers {args.customers} --days {args.days} "
        f"--late-days {args.late_days}`, {dt.date.today()}, {os.cpu_count()} cores (shared).\n\n"
        f"Warehouse: {total:,} communications; the night delivers {new_rows:,} more "
        f"(the new day and {args.late_days} late days).\n\n"
        "| `dbt run --select marts`, seconds | full refresh (baseline) | incremental |\n"
        "| --- | --- | --- |\n"
        f"| wall time, dbt start-up included | {full_s:.1f} | {incremental_s:.1f} |\n{per_model}"
        "\nfct_communications and the daily aggregates are incremental; fct_threads and "
        "dim_customers are rebuilt in full either way (see docs/warehouse.md).\n",
        encoding="utf-8",
    )
    print(report.read_text(encoding="utf-8"))
    shutil.rmtree(root)


if __name__ == "__main__":
    main()
