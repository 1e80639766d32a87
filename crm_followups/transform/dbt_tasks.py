"""The transform step's Airflow tasks: the dbt project rendered by astronomer-cosmos, one
``dbt build`` task per model (the model, then its tests), so the UI names the failed model and
a retry starts there; and what ``transform_due`` skips as current (``skip_current_tasks``).

Imported by the DAG file at parse time: nothing heavy here (dbt loads in the tasks). Which
rendering and why: docs/benchmark-findings.md, "dbt in Airflow"; ``bench/dbt_modes.py``
measures the alternatives with the pieces below.
"""

from __future__ import annotations

import gc
import json
import os
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import InvocationMode, LoadMode, TestBehavior

from crm_followups.core.names import TRANSFORM_DECISION_XCOM_KEY, WAREHOUSE_POOL
from crm_followups.core.settings import DBT_PROJECT_DIR, Settings
from crm_followups.transform.dbt_runner import export_dbt_task_environment, release_duckdb

if TYPE_CHECKING:  # builds imports duckdb: not at DAG parse time
    from crm_followups.transform.builds import TransformDecision

GROUP_ID = "transform"
DUE_TASK_ID = "transform_due"
RECORD_TASK_ID = "record_transform"
# what each task builds, by the suffix cosmos gives its id under TestBehavior.BUILD
TASK_SUFFIXES = {"models": "_model_build", "snapshots": "_snapshot_build", "tests": "_test"}
# the environment variables of dbt's --exclude-resource-type and --full-refresh (night_flags)
EXCLUDE_RESOURCE_TYPES, FULL_REFRESH = NIGHT_FLAGS = ("DBT_EXCLUDE_RESOURCE_TYPES", "DBT_FULL_REFRESH")


def dbt_manifest() -> str:
    """The manifest ``python -m crm_followups setup`` writes with ``dbt parse``: rendering the
    tasks from it keeps dbt out of DAG parsing."""
    manifest = Settings().dbt_manifest_path
    if not manifest.exists():
        raise FileNotFoundError(f"{manifest} is missing: run `python -m crm_followups setup` (dbt parse)")
    return str(manifest)


def project_config() -> ProjectConfig:
    return ProjectConfig(DBT_PROJECT_DIR, manifest_path=dbt_manifest(), install_dbt_deps=False)


def profile_config() -> ProfileConfig:
    return ProfileConfig(profile_name="crm_followups", target_name="duckdb",
                         profiles_yml_filepath=DBT_PROJECT_DIR / "profiles.yml")


def _night(context: Any) -> Settings:
    return Settings().for_night(context["run_id"])


def night_flags(context: Any) -> dict[str, str]:
    """dbt's flags for this night, from ``transform_due``'s decision, as the environment
    variables dbt reads. Unit tests check the models' SQL against fixed rows: their outcome
    depends only on the project files and the dbt and DuckDB versions, so when only raw tables
    changed since the last build whose tests all passed, they are left out (0.1-0.4 s each).
    When the project, the salt or the versions changed, the incremental tables are rebuilt in
    full (``DBT_FULL_REFRESH``), or their rows would keep what the old ones made of them.
    Outside a night (no decision): dbt's defaults."""
    ti = context.get("ti")
    decision = ti.xcom_pull(task_ids=DUE_TASK_ID, key=TRANSFORM_DECISION_XCOM_KEY) if ti else None
    if decision is None:
        return {}
    flags = {EXCLUDE_RESOURCE_TYPES: "unit_test"} if decision.get("changed_tables") is not None else {}
    return flags | ({FULL_REFRESH: "true"} if decision.get("full_refresh") else {})


def _clear_night_flags() -> None:
    for name in NIGHT_FLAGS:
        os.environ.pop(name, None)


def before_dbt_task(context: Any) -> None:
    """Before a dbt task: the run's working copy and the salt in the environment dbt reads, the
    night's flags (a failed task's, whose post_execute did not run, cleared first), and the
    process's heap frozen. Cosmos runs ``gc.collect()`` after every dbt invocation (its
    ``_cleanup_dbt_adapters``); frozen objects are not traversed, so that collection walks only
    what the dbt command allocated, not Airflow, dbt and (under ``dag.test``) MLflow and
    scikit-learn: 29% of a nothing-new night's samples before."""
    export_dbt_task_environment(_night(context))
    _clear_night_flags()
    os.environ.update(night_flags(context))
    gc.freeze()


def after_dbt_task(context: Any, result: Any = None) -> None:
    """After a dbt task: close the working copy dbt-duckdb keeps open, clear the night's
    flags, and unfreeze the heap so that later collections can free the frozen objects again."""
    release_duckdb()
    _clear_night_flags()
    gc.unfreeze()


def operator_args(timeout: timedelta) -> dict[str, Any]:
    """What every dbt task gets: the one-slot warehouse pool (they write the working copy), the
    step's timeout, the hooks above, and ``none_failed``: a task runs after upstream tasks that
    ``transform_due`` skipped as current (``skip_current_tasks``), never after a failed one."""
    return {"install_deps": False, "execution_timeout": timeout, "pool": WAREHOUSE_POOL,
            "pre_execute": before_dbt_task, "post_execute": after_dbt_task, "trigger_rule": "none_failed"}


def transform_group(timeout: timedelta) -> DbtTaskGroup:
    """``transform.<model>_model_build`` per model (``dbt build --select <model>``: the model,
    then its own tests), ``transform.<snapshot>_snapshot_build`` per snapshot: the UI names the
    failed model (its log says whether the model or one of its tests failed), and retrying its
    task rebuilds and retests that model. Tests spanning models (relationships, the singular
    invariants) are ``transform.<test>_test`` tasks once all their models are built. One task per
    model rather than one per model run and one per its tests (``TestBehavior.AFTER_EACH``): 16-22%
    less transform time for the same per-model status (docs/benchmark-findings.md, "dbt in
    Airflow"). No asset per dbt model (cosmos's are the machine's duckdb:/// paths): the night's
    outputs are declared on the tasks that publish them."""
    return DbtTaskGroup(
        group_id=GROUP_ID,
        project_config=project_config(),
        profile_config=profile_config(),
        execution_config=ExecutionConfig(invocation_mode=InvocationMode.DBT_RUNNER),
        render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST, test_behavior=TestBehavior.BUILD,
                                   should_detach_multiple_parents_tests=True, emit_datasets=False),
        operator_args=operator_args(timeout),
    )


def _sources_read(manifest: dict[str, Any]) -> dict[str, frozenset[str]]:
    """Per dbt node, the tables (``schema.identifier``) of the sources it reads, directly or
    through the nodes it depends on."""
    sources = {uid: f"{s['schema']}.{s['identifier']}" for uid, s in manifest["sources"].items()}
    parents = {uid: node["depends_on"]["nodes"] for uid, node in manifest["nodes"].items()}
    reads: dict[str, frozenset[str]] = {}

    def read_by(uid: str) -> frozenset[str]:
        if uid in sources:
            return frozenset({sources[uid]})
        if uid not in reads:
            reads[uid] = frozenset().union(*(read_by(parent) for parent in parents.get(uid, [])))
        return reads[uid]

    return {uid: read_by(uid) for uid in parents}


def transform_tasks(due_task: Any) -> set[str]:
    """The transform step's tasks after ``due_task`` (``transform_due``): the dbt group's and
    the build's record."""
    after = due_task.get_flat_relative_ids(upstream=False)
    return {t for t in after if t.startswith(f"{GROUP_ID}.")} | ({RECORD_TASK_ID} & after)


def current_tasks(due_task: Any, changed_tables: list[str] | None) -> set[str]:
    """The group's tasks whose dbt node reads none of ``changed_tables`` (None: everything
    changed): their tables and tests are as the last build left them. On a night that only
    appends communications, the customers', HubSpot's and Salesforce's models and the snapshot."""
    if changed_tables is None:
        return set()
    reads = _sources_read(json.loads(Path(dbt_manifest()).read_text()))
    dag, changed = due_task.dag, set(changed_tables)
    return {t for t in transform_tasks(due_task) - {RECORD_TASK_ID}
            if not reads[dag.get_task(t).extra_context["dbt_node_config"]["unique_id"]] & changed}


def skip_current_tasks(due_task: Any, ti: Any, decision: TransformDecision) -> None:
    """Record the night's decision with the tasks it skips (the run's checks count those as
    done), then skip them all at once: the whole step when nothing dbt reads changed, else the
    tasks that read only unchanged tables. Their downstream tasks run on ``none_failed``. All at
    once, because skips left to trigger rules spread one level per scheduler pass: a second
    each under ``dag.test``, 4 s of a 19 s night."""
    from airflow.sdk.exceptions import DownstreamTasksSkipped

    skipped = sorted(transform_tasks(due_task) if not decision.due
                     else current_tasks(due_task, decision.changed_tables))
    ti.xcom_push(key=TRANSFORM_DECISION_XCOM_KEY, value={**decision.as_dict(), "skipped_tasks": skipped})
    if skipped:
        raise DownstreamTasksSkipped(tasks=skipped)
