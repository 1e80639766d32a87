"""The transform step's Airflow tasks: the dbt project rendered by astronomer-cosmos, one
``dbt build`` task per model (the model, then its tests), so the UI names the failed model and
a retry starts there.

Imported by the DAG file at parse time: nothing heavy here (dbt loads in the tasks). Which
rendering and why: docs/benchmark-findings.md, "dbt in Airflow"; ``bench/dbt_modes.py``
measures the alternatives with the pieces below.
"""

from __future__ import annotations

import gc
from datetime import timedelta
from typing import Any, NoReturn

from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import InvocationMode, LoadMode, TestBehavior

from crm_followups.core.names import WAREHOUSE_POOL
from crm_followups.core.settings import DBT_PROJECT_DIR, Settings
from crm_followups.transform.dbt_runner import export_dbt_task_environment, release_duckdb

GROUP_ID = "transform"


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


def before_dbt_task(context: Any) -> None:
    """Before a dbt task: the run's working copy and the salt in the environment dbt reads, and
    the process's heap frozen. Cosmos runs ``gc.collect()`` after every dbt invocation (its
    ``_cleanup_dbt_adapters``); frozen objects are not traversed, so that collection walks only
    what the dbt command allocated, not Airflow, dbt and (under ``dag.test``) MLflow and
    scikit-learn: 29% of a nothing-new night's samples before."""
    export_dbt_task_environment(_night(context))
    gc.freeze()


def after_dbt_task(context: Any, result: Any = None) -> None:
    """After a dbt task: close the working copy dbt-duckdb keeps open, and unfreeze the heap so
    that later collections can free the frozen objects again."""
    release_duckdb()
    gc.unfreeze()


def operator_args(timeout: timedelta) -> dict[str, Any]:
    """What every dbt task gets: the one-slot warehouse pool (they write the working copy), the
    step's timeout and the hooks above."""
    return {"install_deps": False, "execution_timeout": timeout, "pool": WAREHOUSE_POOL,
            "pre_execute": before_dbt_task, "post_execute": after_dbt_task}


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


def skipped_when_not_due(task: Any) -> set[str]:
    """What a night with nothing new for dbt skips: the tasks after ``task`` (``transform_due``)
    up to where the night joins again (trigger rule ``none_failed``: ``train``), which still
    runs, as do all the tasks after it."""
    dag = task.dag
    after = task.get_flat_relative_ids(upstream=False)
    joins = {t for t in after if dag.get_task(t).trigger_rule == "none_failed"}
    return after - joins - set().union(*(dag.get_task(t).get_flat_relative_ids(upstream=False)
                                        for t in joins))


def skip_transform(task: Any) -> NoReturn:
    """Skip the whole group and the build's record at once (``task`` succeeds). A short-circuit
    skips only its direct downstream tasks and leaves the rest to their trigger rules, one
    level per scheduler pass: a second each under ``dag.test``, 4 s of a 19 s night."""
    from airflow.sdk.exceptions import DownstreamTasksSkipped

    raise DownstreamTasksSkipped(tasks=sorted(skipped_when_not_due(task)))
