"""What Airflow's metadata DB knows about runs of ``crm_nightly``, read through its ORM in
this process: task instances, return values and recorded errors (XComs), recent runs.

Import only after ``stack.prepare_environment``: the ORM binds to the configured DB on import.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from crm_followups.core.names import DAG_ID, ERROR_XCOM_KEY

# worst first: a step shows the worst state of its tasks (a dbt group, mapped partitions)
STATE_RANK = ("failed", "upstream_failed", "up_for_retry", "running", "queued", "scheduled",
              "deferred", "removed", None, "skipped", "success")


@dataclass(frozen=True)
class TaskRecord:
    """One task instance: enough to judge it and to time it."""

    task_id: str
    map_index: int
    state: str | None
    start: dt.datetime | None
    end: dt.datetime | None

    @property
    def step(self) -> str:
        """The step a task belongs to: its task group (``transform.<model>.run`` -> transform)."""
        return self.task_id.split(".")[0]


@dataclass(frozen=True)
class StepStatus:
    name: str
    state: str | None
    seconds: float | None
    error: str | None


@dataclass(frozen=True)
class RunStatus:
    run_id: str
    date: dt.date
    state: str
    seconds: float | None
    steps: list[StepStatus]


def _span(records: list[TaskRecord]) -> float | None:
    """Wall time from the first task's start to the last one's end. Not the run's own
    start_date: ``dag.test`` sets that to the logical date."""
    starts = [r.start for r in records if r.start]
    ends = [r.end for r in records if r.end]
    return (max(ends) - min(starts)).total_seconds() if starts and ends else None


def _worst(states: list[str | None]) -> str | None:
    return min(states, key=lambda s: STATE_RANK.index(s) if s in STATE_RANK else 0)


def task_records(session: Any, run_id: str) -> list[TaskRecord]:
    from airflow.models.taskinstance import TaskInstance

    rows = session.scalars(select(TaskInstance).where(
        TaskInstance.dag_id == DAG_ID, TaskInstance.run_id == run_id))
    return [TaskRecord(ti.task_id, ti.map_index, ti.state and str(ti.state), ti.start_date, ti.end_date)
            for ti in rows]


def xcom_values(session: Any, run_id: str, key: str) -> dict[tuple[str, int], Any]:
    """``{(task_id, map_index): value}`` of one XCom key in a run."""
    from airflow.models.xcom import XComModel

    rows = session.scalars(select(XComModel).where(
        XComModel.dag_id == DAG_ID, XComModel.run_id == run_id, XComModel.key == key))
    return {(x.task_id, x.map_index): XComModel.deserialize_value(x) for x in rows}


def steps_of(records: list[TaskRecord], errors: dict[tuple[str, int], str]) -> list[StepStatus]:
    """One line per step, in the order the steps started (steps that never started last)."""
    groups: dict[str, list[TaskRecord]] = defaultdict(list)
    for record in records:
        groups[record.step].append(record)
    never = dt.datetime.max.replace(tzinfo=dt.UTC)
    order = sorted(groups, key=lambda s: (min((r.start or never) for r in groups[s]), s))
    return [StepStatus(step, _worst([r.state for r in groups[step]]), _span(groups[step]),
                       "\n".join(f"{task}: {error}" for (task, _), error in errors.items()
                                 if task.split(".")[0] == step) or None)
            for step in order]


def recent_runs(limit: int) -> list[RunStatus]:
    """The latest ``limit`` runs of the DAG, newest first, each with its steps."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        runs = session.scalars(select(DagRun).where(DagRun.dag_id == DAG_ID)
                               .order_by(DagRun.id.desc()).limit(limit)).all()
        statuses = []
        for run in runs:
            records = task_records(session, run.run_id)
            statuses.append(RunStatus(
                run.run_id, (run.logical_date or run.run_after).date(), str(run.state), _span(records),
                steps_of(records, xcom_values(session, run.run_id, ERROR_XCOM_KEY))))
    return statuses
