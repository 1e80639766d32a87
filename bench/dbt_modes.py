"""Benchmark: the transform step rendered into Airflow tasks in different ways, on the same
100k warehouse, for a night with nothing new and a night with 1% new rows (issue #13 point 3).

    .venv/bin/python bench/dbt_modes.py --data /tmp/dbt-modes [--rounds 2] [--modes a,b]

``--data`` is prepared once (not timed): a generated 100k export loaded and built with one
``dbt build`` (the published warehouse: the "nothing new" state), then 1% new communications
loaded into a copy (the "1% new" state, not yet transformed). Each measurement runs in its own
process (Airflow reads AIRFLOW_HOME on import) that first imports what a real night's process
holds by the time ``transform`` runs (MLflow, scikit-learn, the model code: ``dag.test`` runs every
task in one process), then ``dag.test``s a DAG of one task copying the state to the run's working
copy and the transform tasks of one mode. Modes alternate within each round; the step's span
(first dbt task start to last end) is reported, with the median over rounds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.nightly import (
    CUSTOMERS,
    DAYS,
    NEW_SEED,
    NEW_SHARE,
    REPO,
    RUN_DATE,
    SEED,
    child_environment,
    night_settings,
)

STATES = ("nothing new", "1% new")
TIMEOUT = timedelta(minutes=30)
BENCH_DAG = "bench_dbt_modes"
# dbt build per layer: each selection after the layers before it; a test runs in the first layer
# that builds all it reads (``buildable``: the default ``eager`` would run a test spanning
# intermediate and marts with the intermediate layer, before the marts it checks are built)
LAYERS = {"staging": "path:models/staging", "intermediate": "path:models/intermediate path:snapshots",
          "marts": "path:models/marts"}


def state_file(data_dir: Path, state: str) -> Path:
    return data_dir / "bench-states" / f"{state.replace(' ', '_').replace('%', 'pct')}.duckdb"


# --- preparing the two warehouse states (once, not timed) ---------------------------------------

def prepare(data_dir: Path) -> None:
    from crm_followups.cli.stack import set_up
    from crm_followups.extract.load import load_exports
    from crm_followups.sample.generate import write_export, write_new_communications
    from crm_followups.transform.dbt_runner import build_warehouse

    settings = night_settings(data_dir)
    inbox = settings.exports_dir / "generic"
    customers = CUSTOMERS["100k"]
    export = write_export(inbox, RUN_DATE, customers, DAYS, SEED)
    set_up(settings)
    load_exports(settings)
    build_warehouse(settings)
    state_file(data_dir, "nothing new").parent.mkdir(exist_ok=True)
    shutil.copyfile(settings.published_warehouse_path, state_file(data_dir, "nothing new"))
    new_rows = round(export.rows * NEW_SHARE)
    write_new_communications(inbox, RUN_DATE + dt.timedelta(days=2), customers, new_rows, NEW_SEED)
    load_exports(settings)
    shutil.copyfile(settings.published_warehouse_path, state_file(data_dir, "1% new"))
    shutil.copyfile(state_file(data_dir, "nothing new"), settings.published_warehouse_path)
    print(f"prepared {export.rows} communications in {data_dir}", flush=True)


# --- the modes --------------------------------------------------------------------------------

def _unfrozen_hooks() -> dict[str, Any]:
    """The hooks as they were before gc.freeze: environment and connection only."""
    from crm_followups.core.settings import Settings
    from crm_followups.transform.dbt_runner import export_dbt_task_environment, release_duckdb

    def pre_execute(context: Any) -> None:
        export_dbt_task_environment(Settings().for_night(context["run_id"]))

    return {"pre_execute": pre_execute, "post_execute": lambda context, result=None: release_duckdb()}


def _group(test_behavior: Any, frozen: bool, execution_mode: Any = None) -> Any:
    from cosmos import DbtTaskGroup, ExecutionConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode

    from crm_followups.transform import dbt_tasks

    args = dbt_tasks.operator_args(TIMEOUT) | ({} if frozen else _unfrozen_hooks())
    return DbtTaskGroup(
        group_id=dbt_tasks.GROUP_ID, project_config=dbt_tasks.project_config(),
        profile_config=dbt_tasks.profile_config(),
        execution_config=ExecutionConfig(execution_mode=execution_mode or ExecutionMode.LOCAL,
                                         invocation_mode=InvocationMode.DBT_RUNNER),
        render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST, test_behavior=test_behavior,
                                   should_detach_multiple_parents_tests=True, emit_datasets=False),
        operator_args=args)


def after_each() -> Any:
    from cosmos.constants import TestBehavior

    return _group(TestBehavior.AFTER_EACH, frozen=False)


def after_each_frozen() -> Any:
    from cosmos.constants import TestBehavior

    return _group(TestBehavior.AFTER_EACH, frozen=True)


def build_frozen() -> Any:
    from cosmos.constants import TestBehavior

    return _group(TestBehavior.BUILD, frozen=True)


def watcher() -> Any:
    """One ``dbt build`` (the producer) and a sensor per model run and tests reading its
    per-node results. With a one-slot pool the sensors cannot run beside the producer, so they
    follow it (cosmos links the producer to the roots only in a DbtDag)."""
    from cosmos.constants import PRODUCER_WATCHER_TASK_ID, ExecutionMode, TestBehavior

    group = _group(TestBehavior.AFTER_EACH, frozen=True, execution_mode=ExecutionMode.WATCHER)
    producer = group.children[f"{group.group_id}.{PRODUCER_WATCHER_TASK_ID}"]
    for child in group.children.values():
        if child is not producer:
            producer >> child
    return group


def _builds(selections: dict[str, str | None]) -> Any:
    from airflow.sdk import TaskGroup
    from cosmos.constants import InvocationMode
    from cosmos.operators.local import DbtBuildLocalOperator

    from crm_followups.core.settings import DBT_PROJECT_DIR
    from crm_followups.transform import dbt_tasks

    with TaskGroup(dbt_tasks.GROUP_ID) as group:
        tasks = [DbtBuildLocalOperator(task_id=name, project_dir=str(DBT_PROJECT_DIR),
                                       profile_config=dbt_tasks.profile_config(), select=select,
                                       invocation_mode=InvocationMode.DBT_RUNNER, emit_datasets=False,
                                       indirect_selection="buildable",
                                       **dbt_tasks.operator_args(TIMEOUT))
                 for name, select in selections.items()]
        for upstream, downstream in itertools.pairwise(tasks):
            upstream >> downstream
    return group


def per_layer() -> Any:
    return _builds(LAYERS)


def one_build() -> Any:
    return _builds({"build": None})


MODES: dict[str, Callable[[], Any]] = {
    "after_each": after_each, "after_each_frozen": after_each_frozen, "build_frozen": build_frozen,
    "watcher": watcher, "per_layer": per_layer, "one_build": one_build}


# --- one measurement, in its own process ------------------------------------------------------

# dag.test runs only a DAG its bundle (the DAGs folder) holds: the child's folder has this file
DAG_FILE = """# the airflow dag of bench/dbt_modes.py: mode and warehouse state from the environment
from bench.dbt_modes import bench_dag

bench_dag()
"""


def bench_dag() -> Any:
    """A task copying the state (``BENCH_DBT_STATE``) to the run's working copy, then the
    transform tasks of one mode (``BENCH_DBT_MODE``)."""
    from airflow.sdk import dag, task

    from crm_followups.core.names import WAREHOUSE_POOL
    from crm_followups.core.nights import link_current_night
    from crm_followups.core.settings import Settings

    state, mode = Path(os.environ["BENCH_DBT_STATE"]), os.environ["BENCH_DBT_MODE"]

    @dag(dag_id=BENCH_DAG, schedule=None, start_date=dt.datetime(2000, 1, 1, tzinfo=dt.UTC), catchup=False,
         default_args={"retries": 0, "pool": WAREHOUSE_POOL})
    def bench() -> None:
        @task
        def working_copy(run_id: str | None = None) -> None:
            night = Settings().for_night(run_id)
            night.night_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(state, night.warehouse_path)
            link_current_night(night.night_dir)  # dbt opens the copy through nights/current

        working_copy() >> MODES[mode]()

    return bench()


def transform_times(run_id: str) -> dict[str, Any]:
    """The transform tasks of a run: span (first start to last end), busy (durations summed),
    task count, and the tasks that did not succeed."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        tis = list(session.scalars(select(TaskInstance).where(
            TaskInstance.dag_id == BENCH_DAG, TaskInstance.run_id == run_id,
            TaskInstance.task_id.startswith("transform."))))
        return {"span": (max(t.end_date for t in tis) - min(t.start_date for t in tis)).total_seconds(),
                "busy": sum((t.end_date - t.start_date).total_seconds() for t in tis), "tasks": len(tis),
                "not_success": sorted(t.task_id for t in tis if t.state != "success")}


def measure(logical_date: dt.datetime, result_file: Path) -> None:
    import mlflow  # noqa: F401  what a night's process holds when transform runs
    import sklearn.linear_model  # noqa: F401
    from airflow.dag_processing.dagbag import DagBag

    import ml.score
    import ml.train  # noqa: F401

    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"], safe_mode=False).get_dag(BENCH_DAG)
    started = time.perf_counter()
    run = dag.test(logical_date=logical_date)
    wall = time.perf_counter() - started
    result = {"state": run.state, "wall": wall, "transform": transform_times(run.run_id)}
    result_file.write_text(json.dumps(result))


def measurement_environment(data_dir: Path, mode: str, state: str) -> dict[str, str]:
    dags = data_dir / "bench-dags"
    dags.mkdir(exist_ok=True)
    (dags / "bench_dbt_modes.py").write_text(DAG_FILE)
    return {**child_environment(data_dir), "AIRFLOW__CORE__DAGS_FOLDER": str(dags), "BENCH_DBT_MODE": mode,
            "BENCH_DBT_STATE": str(state_file(data_dir, state))}


def run_measurement(data_dir: Path, mode: str, state: str, number: int) -> dict[str, Any]:
    work = data_dir / "bench-runs"
    work.mkdir(exist_ok=True)
    name = f"{number:02d}-{mode}-{state.replace(' ', '_').replace('%', 'pct')}"
    result_file, log_file = work / f"{name}.json", work / f"{name}.log"
    logical_date = dt.datetime(2030, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=number)
    command = [sys.executable, __file__, "--measure", logical_date.isoformat(), str(result_file)]
    with log_file.open("w") as log:
        subprocess.run(command, env=measurement_environment(data_dir, mode, state), stdout=log,
                       stderr=subprocess.STDOUT, cwd=REPO, check=True)
    result = json.loads(result_file.read_text())
    if result["state"] != "success":
        failed = result["transform"]["not_success"]
        raise RuntimeError(f"{name}: run {result['state']}, not successful: {failed}; see {log_file}")
    return result


def bench(data_dir: Path, modes: list[str], rounds: int) -> dict[tuple[str, str], list[dict[str, Any]]]:
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    number = 0
    for round_ in range(rounds):
        for state in STATES:
            for mode in modes if round_ % 2 == 0 else modes[::-1]:
                number += 1
                result = run_measurement(data_dir, mode, state, number)
                results.setdefault((mode, state), []).append(result)
                step = result["transform"]
                print(f"round {round_ + 1} {state:12s} {mode:18s} span {step['span']:6.1f} s, "
                      f"busy {step['busy']:6.1f} s, {step['tasks']} tasks; load {os.getloadavg()[0]:.1f}",
                      flush=True)
    return results


def table(results: dict[tuple[str, str], list[dict[str, Any]]], modes: list[str]) -> str:
    lines = ["| mode | tasks | " + " | ".join(f"{s}: span s (median; runs)" for s in STATES) + " |",
             "|---|---:|" + "---|" * len(STATES)]
    for mode in modes:
        cells = []
        for state in STATES:
            spans = [r["transform"]["span"] for r in results[(mode, state)]]
            cells.append(f"{statistics.median(spans):.1f} ({', '.join(f'{s:.1f}' for s in spans)})")
        tasks = results[(mode, STATES[0])][0]["transform"]["tasks"]
        lines.append(f"| {mode} | {tasks} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="the bench's data folder (prepared on first use)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--measure", nargs=2, metavar=("LOGICAL_DATE", "RESULT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        logical_date, result_file = args.measure
        measure(dt.datetime.fromisoformat(logical_date), Path(result_file))
        return
    if not state_file(args.data, STATES[-1]).exists():
        os.environ.update(child_environment(args.data))
        prepare(args.data)
    modes = args.modes.split(",")
    started = time.perf_counter()
    print(f"load average at start {os.getloadavg()[0]:.1f}", flush=True)
    results = bench(args.data, modes, args.rounds)
    print(f"\n{table(results, modes)}\n\n{time.perf_counter() - started:.0f} s in all, load average at end "
          f"{os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
