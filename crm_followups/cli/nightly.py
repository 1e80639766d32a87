"""Run ``crm_nightly`` in this process (``dag.test``: no scheduler, no servers) for one date or
a range of dates in order, and make sure each night really did its work: a night whose tasks
did not all run fails, naming the date and the steps, instead of ending as an empty success.

What a scheduler would record, ``dag.test`` alone does not: each task's log file
(``task_logs``) and the run's wall-clock start (it starts the run at its logical date)."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

from crm_followups.cli.collector import collector_paused, collector_relaxed
from crm_followups.core.names import DAG_ID, ERROR_XCOM_KEY, TRANSFORM_DECISION_XCOM_KEY
from crm_followups.core.settings import DAGS_DIR, Settings

log = logging.getLogger("crm_followups")


class NightFailedError(RuntimeError):
    """A night did not do what it was asked; the message names the date and why."""

    def __init__(self, date: dt.date, reason: str) -> None:
        super().__init__(f"{DAG_ID} for {date} failed: {reason}")
        self.date = date


def dates_between(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    """Every date from ``first`` to ``last``, both included, in order."""
    for offset in range((last - first).days + 1):
        yield first + dt.timedelta(days=offset)


def inbox_is_empty(settings: Settings) -> bool:
    return not any(p.is_file() for p in settings.exports_dir.rglob("*"))


def _write_sample_if_empty(settings: Settings, date: dt.date) -> None:
    """A first run on an empty inbox demonstrates the product on the bundled sample."""
    from crm_followups.sample.generate import write_export

    if inbox_is_empty(settings):
        export = write_export(settings.exports_dir / "generic", date)
        log.info("export inbox was empty: wrote the bundled sample (%d communications) to %s",
                 export.rows, export.communications.parent)
        # written whole by this process just now: nothing is still being written to wait for
        os.environ["CRM_FILE_SETTLE_SECONDS"] = "0"


def load_dag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR), safe_mode=False)
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    return bag.get_dag(DAG_ID)


def _check_date(dag: Any, date: dt.date) -> None:
    """Airflow creates no task instance before a task's start_date: refuse such a date."""
    if date < dag.start_date.date():
        raise NightFailedError(date, f"the DAG's start_date is {dag.start_date.date()}: no task would run")


def _not_done(task: Any, records: list, skipped_on_purpose: set[str] = frozenset()) -> str | None:
    """Why a task did not do its work, or None. Skipped counts as done only for a mapped task
    over nothing (no partitions to score) and for the tasks ``transform_due`` chose to skip."""
    if not records:
        return "never ran (no task instance)"
    states = {r.state for r in records}
    if states == {"success"} or (states == {"skipped"} and (
            task.task_id in skipped_on_purpose or (task.is_mapped and records[0].map_index == -1))):
        return None
    return ", ".join(sorted(str(s) for s in states))


def _problems(dag: Any, run_id: str) -> list[str]:
    """Every task of the DAG that did not do its work in the run, with its state and error."""
    from airflow.utils.session import create_session

    from crm_followups.cli.metadata import task_records, xcom_values
    from crm_followups.transform.dbt_tasks import DUE_TASK_ID

    with create_session() as session:
        records = task_records(session, run_id)
        errors = xcom_values(session, run_id, ERROR_XCOM_KEY)
        decision = xcom_values(session, run_id, TRANSFORM_DECISION_XCOM_KEY).get((DUE_TASK_ID, -1), {})
    by_task: dict[str, list] = {}
    for record in records:
        by_task.setdefault(record.task_id, []).append(record)
    # the tasks transform_due skipped as current (the whole step when nothing dbt reads changed)
    on_purpose = set(decision.get("skipped_tasks", []))
    problems = []
    for task in dag.tasks:
        if why := _not_done(task, by_task.get(task.task_id, []), on_purpose):
            error = next((e.splitlines()[-1] for (t, _), e in errors.items() if t == task.task_id), "")
            problems.append(f"{task.task_id} {why}{f' ({error})' if error else ''}")
    return problems


def step_results(run_id: str) -> dict[str, Any]:
    """What each step returned (its XCom), keyed by step; mapped partitions as a list, the dbt
    tasks as counts of models built (with their tests), snapshots taken, tests spanning models
    passed and tasks skipped as current, with whether the night built at all and why
    (``transform_due``'s decision)."""
    from airflow.utils.session import create_session

    from crm_followups.cli.metadata import task_records, xcom_values
    from crm_followups.transform.dbt_tasks import DUE_TASK_ID, GROUP_ID, TASK_SUFFIXES

    with create_session() as session:
        values = xcom_values(session, run_id, "return_value")
        decisions = xcom_values(session, run_id, TRANSFORM_DECISION_XCOM_KEY)
        records = task_records(session, run_id)
    steps: dict[str, Any] = {}
    for (task_id, map_index), value in sorted(values.items()):
        if map_index >= 0:
            steps.setdefault(task_id, []).append(value)
        elif "." not in task_id:
            steps[task_id] = value
    dbt_done = [r.task_id for r in records if r.step == GROUP_ID and r.state == "success"]
    decision = decisions.get((DUE_TASK_ID, -1), {})
    done = {kind: sum(t.endswith(suffix) for t in dbt_done) for kind, suffix in TASK_SUFFIXES.items()}
    current = [t for t in decision.get("skipped_tasks", []) if t.startswith(f"{GROUP_ID}.")]
    steps[GROUP_ID] = {**done, "current": len(current) if decision.get("due") else 0,
                          "built": decision.get("due"), "reason": decision.get("reason")}
    return steps


def _record_wall_clock_start(run_id: str, started: dt.datetime) -> None:
    """``dag.test`` starts a run at its logical date (midnight of the night's date), so the UI
    would show an 81 s night as lasting hours: record when it really started."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import update

    with create_session() as session:
        session.execute(update(DagRun).where(DagRun.dag_id == DAG_ID, DagRun.run_id == run_id)
                        .values(start_date=started))


def run_nightly(settings: Settings, date: dt.date, force_train: bool = False,
                force_transform: bool = False) -> dict[str, Any]:
    """Run the night for ``date``; return what each step did, or raise NightFailedError."""
    from crm_followups.cli.task_logs import task_log_files

    _write_sample_if_empty(settings, date)
    with collector_paused():
        dag = load_dag()
    _check_date(dag, date)
    log.info("running %s for %s", DAG_ID, date)
    logical_date = dt.datetime.combine(date, dt.time(), tzinfo=dt.UTC)
    started = dt.datetime.now(dt.UTC)
    with task_log_files(), collector_relaxed():
        run = dag.test(logical_date=logical_date, run_conf={"force_train": force_train,
                                                                    "force_transform": force_transform})
    _record_wall_clock_start(run.run_id, started)
    problems = _problems(dag, run.run_id)
    if run.state != "success" or problems:
        raise NightFailedError(date, f"run {run.run_id} ended {run.state}; " + "; ".join(problems))
    return step_results(run.run_id)


def backfill(settings: Settings, dates: list[dt.date], force_train: bool,
             after_night: Callable[[dt.date, dict[str, Any]], None]) -> None:
    """Run the nights in date order; the first failure stops the range (NightFailedError names it)."""
    for number, date in enumerate(sorted(dates), start=1):
        log.info("night %d of %d: %s", number, len(dates), date)
        after_night(date, run_nightly(settings, date, force_train))
