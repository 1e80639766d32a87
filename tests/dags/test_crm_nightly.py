import gc
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from crm_followups.core.names import PARTITION_POOL, WAREHOUSE_POOL
from crm_followups.core.nights import begin_night
from crm_followups.core.settings import DAGS_DIR, Settings
from crm_followups.transform.dbt_runner import write_dbt_manifest

STEPS_BEFORE_TRANSFORM = ["check_config", "check_champions", "begin_night", "extract", "source_freshness",
                          "transform_due"]
STEPS_AFTER_TRANSFORM = ["record_transform", "train", "score_snapshot", "score_partition", "score_merge",
                         "trends", "followups", "publish_night"]
# the one task that never opens the warehouse: mapped over customer buckets, outside its pool
PARTITION_TASK = "score_partition"


@pytest.fixture(scope="module", autouse=True)
def dbt_manifest():
    """The set-up's ``dbt parse``: the DAG renders its dbt tasks from this manifest."""
    settings = Settings()
    if not settings.dbt_manifest_path.exists():
        write_dbt_manifest(settings)


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR), safe_mode=False)


def test_dag_folder_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "crm_nightly" in dagbag.dag_ids


def test_crm_nightly_is_scheduled_nightly_without_catchup(dagbag):
    dag = dagbag.dags["crm_nightly"]
    assert dag.catchup is False
    # any night of history can run (`crm-followups run --from`); the scheduler only runs the latest
    assert dag.start_date.date().isoformat() == "2000-01-01"
    assert dag.max_active_runs == 1
    assert dag.timetable.expression == "0 0 * * *"


def test_steps_run_in_order_in_the_warehouse_pool(dagbag):
    dag = dagbag.dags["crm_nightly"]
    order = [t.task_id for t in dag.topological_sort()]
    dbt_tasks = [t for t in order if t.startswith("transform.")]
    assert order == [*STEPS_BEFORE_TRANSFORM, *dbt_tasks, *STEPS_AFTER_TRANSFORM]
    assert all(t.pool == WAREHOUSE_POOL for t in dag.tasks if t.task_id != PARTITION_TASK)
    assert dag.get_task(PARTITION_TASK).pool == PARTITION_POOL


def test_scoring_is_mapped_over_the_snapshot_buckets_and_merged_once(dagbag):
    """A night with nothing new maps no partition (skipped): the merge must still run."""
    dag = dagbag.dags["crm_nightly"]
    partition = dag.get_task(PARTITION_TASK)
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    assert isinstance(partition, MappedOperator)
    assert partition.upstream_task_ids == {"score_snapshot"}
    merge = dag.get_task("score_merge")
    assert merge.upstream_task_ids == {"score_snapshot", PARTITION_TASK}
    assert merge.trigger_rule == "none_failed"


def test_every_dbt_model_snapshot_and_test_is_a_task_before_the_followups(dagbag):
    """Shown model by model in the UI (a model's task builds it, then runs its tests); a failing
    dbt test leaves train and all after it not run."""
    dag = dagbag.dags["crm_nightly"]
    dbt_tasks = {t for t in dag.task_ids if t.startswith("transform.")}
    for model in ("stg_generic__communications", "int_communications__unioned",
                  "int_communications__threaded", "fct_communications", "dim_customers",
                  "agg_customer_activity_daily", "agg_channel_daily", "fct_threads"):
        assert f"transform.{model}_model_build" in dbt_tasks
    assert "transform.snp_customers_snapshot_build" in dbt_tasks
    assert "transform.assert_every_communication_in_fact_once_test" in dbt_tasks
    train = dag.get_task("train")
    assert dbt_tasks <= train.get_flat_relative_ids(upstream=True)
    assert all(dag.get_task(t).trigger_rule == "all_success"
               for t in STEPS_AFTER_TRANSFORM if t not in ("record_transform", "score_merge", "train"))
    # dbt tasks, the record and train run after tasks that built or were skipped as current
    # (transform_due), never after a failed one
    assert all(dag.get_task(t).trigger_rule == "none_failed"
               for t in [*dbt_tasks, "record_transform", "train"])


class _TaskInstance:
    def __init__(self) -> None:
        self.xcom: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.xcom[key] = value

    def xcom_pull(self, task_ids: str, key: str) -> object:
        assert task_ids == "transform_due"
        return self.xcom.get(key)


def _skipped(due, decision) -> set[str]:
    """What transform_due skips for ``decision``, checked against the decision it records."""
    from airflow.sdk.exceptions import DownstreamTasksSkipped

    from crm_followups.core.names import TRANSFORM_DECISION_XCOM_KEY
    from crm_followups.transform.dbt_tasks import skip_current_tasks

    ti = _TaskInstance()
    try:
        skip_current_tasks(due, ti, decision)
        skipped: set[str] = set()
    except DownstreamTasksSkipped as skip:
        skipped = set(skip.tasks)
    assert set(ti.xcom[TRANSFORM_DECISION_XCOM_KEY]["skipped_tasks"]) == skipped
    return skipped


def test_transform_due_skips_what_is_current_all_at_once(dagbag):
    """Nothing new for dbt: the dbt tasks and the build's record, in one step (the night goes on
    from ``train``). New communications only: the tasks whose models read no changed table
    (customers, HubSpot, Salesforce, the snapshot). The run's checks count both as done."""
    from crm_followups.transform.builds import TransformDecision

    dag = dagbag.dags["crm_nightly"]
    due = dag.get_task("transform_due")
    dbt_tasks = {t for t in dag.task_ids if t.startswith("transform.")}
    nothing_new = TransformDecision(False, "same", "f", {}, [])
    assert _skipped(due, nothing_new) == dbt_tasks | {"record_transform"}

    skipped = _skipped(due, TransformDecision(True, "new rows", "f", {}, ["raw.communications"]))
    assert {"transform.stg_generic__customers_model_build", "transform.snp_customers_snapshot_build",
            "transform.stg_hubspot__communications_model_build",
            "transform.base_mapped__communications_model_build"} <= skipped
    built = dbt_tasks - skipped
    assert {"transform.base_generic__communications_model_build",
            "transform.stg_generic__communications_model_build", "transform.fct_communications_model_build",
            "transform.dim_customers_model_build", "transform.assert_every_communication_in_fact_once_test",
            "transform.relationships_fct_threads_customer_id__customer_id__ref_dim_customers__test"} <= built

    everything = TransformDecision(True, "the dbt project's files", "f", {}, None)
    assert _skipped(due, everything) == set()


def test_the_nights_dbt_flags_follow_what_changed():
    """Only raw tables changed: no unit tests (SQL checked against fixed rows). The project,
    salt or versions changed: unit tests, and the incremental tables rebuilt in full. Outside a
    night: dbt's defaults."""
    from crm_followups.core.names import TRANSFORM_DECISION_XCOM_KEY
    from crm_followups.transform.dbt_tasks import night_flags

    ti = _TaskInstance()
    assert night_flags({"ti": ti}) == night_flags({}) == {}
    ti.xcom_push(TRANSFORM_DECISION_XCOM_KEY, {"due": True, "changed_tables": ["raw.communications"],
                                               "full_refresh": False})
    assert night_flags({"ti": ti}) == {"DBT_EXCLUDE_RESOURCE_TYPES": "unit_test"}
    ti.xcom_push(TRANSFORM_DECISION_XCOM_KEY, {"due": True, "changed_tables": None, "full_refresh": True})
    assert night_flags({"ti": ti}) == {"DBT_FULL_REFRESH": "true"}
    ti.xcom_push(TRANSFORM_DECISION_XCOM_KEY, {"due": True, "changed_tables": None, "full_refresh": False})
    assert night_flags({"ti": ti}) == {}


def test_dbt_tasks_write_the_runs_working_copy(dagbag, monkeypatch, tmp_path):
    """The cosmos tasks get the run's warehouse through the environment profiles.yml reads: its
    working copy, through nights/current; no dbt at all before the run's begin_night."""
    monkeypatch.setattr(os, "environ", dict(os.environ))  # the task's exports stay in this test
    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path / "data"))
    task = dagbag.dags["crm_nightly"].get_task("transform.fct_communications_model_build")
    context = {"run_id": "scheduled__2026-03-02T00:00:00+00:00"}
    with pytest.raises(FileNotFoundError, match="begin_night"):
        task._pre_execute_hook(context)
    night = Settings().for_night(context["run_id"])
    begin_night(night)
    try:
        task._pre_execute_hook(context)
        assert os.environ["CRM_WAREHOUSE_PATH"] == str(night.current_night_link / "warehouse.duckdb")
        assert Path(os.environ["CRM_WAREHOUSE_PATH"]).resolve() == night.warehouse_path.resolve()
        # cosmos's gc.collect() after each dbt command then skips the heap the process held before
        assert gc.get_freeze_count() > 0
    finally:
        task._post_execute_hook(context)
    assert gc.get_freeze_count() == 0


def test_dag_file_imports_nothing_heavy():
    """The scheduler parses the file often: model and warehouse libraries load in tasks only."""
    heavy = ("sklearn", "mlflow", "dbt", "duckdb", "statsmodels", "pandas")
    code = (f"import runpy, sys; runpy.run_path({str(DAGS_DIR / 'crm_nightly.py')!r}); "
            f"print('heavy:' + ','.join(m for m in {heavy!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # cosmos logs its parsing to stdout: read only the line this check printed
    assert loaded.stdout.splitlines()[-1] == "heavy:"


def test_every_task_has_a_timeout_sized_for_its_step(dagbag):
    """A hung task would hold the one-slot pool and the one active run: none may run forever."""
    dag = dagbag.dags["crm_nightly"]
    settings = Settings()
    assert all(t.execution_timeout is not None for t in dag.tasks)
    minutes = {t.task_id: t.execution_timeout.total_seconds() / 60 for t in dag.tasks}
    assert minutes["train"] == settings.train_timeout_minutes
    assert minutes["transform.fct_communications_model_build"] == settings.dbt_timeout_minutes
    assert minutes["score_partition"] == minutes["score_merge"] == settings.score_timeout_minutes
    assert minutes["extract"] == minutes["publish_night"] == settings.step_timeout_minutes


def test_timeouts_come_from_the_settings(monkeypatch):
    monkeypatch.setenv("CRM_TRAIN_TIMEOUT_MINUTES", "7.5")
    dag = runpy.run_path(str(DAGS_DIR / "crm_nightly.py"))["crm_nightly"]()
    assert dag.get_task("train").execution_timeout.total_seconds() == 450


def test_the_nights_outputs_are_assets_with_stable_names_and_no_machine_paths(dagbag):
    """Downstream DAGs schedule on these names; cosmos's per-model duckdb:/// assets are off."""
    from airflow.serialization.serialized_objects import DagSerialization

    # cosmos adds its assets when a dbt task runs, unless its RenderConfig turns them off
    dbt_tasks = [t for t in dagbag.dags["crm_nightly"].tasks if t.task_id.startswith("transform.")]
    assert dbt_tasks and not any(t.emit_datasets for t in dbt_tasks)
    dag = DagSerialization.from_dict(DagSerialization.to_dict(dagbag.dags["crm_nightly"]))
    outlets = {t.task_id: {(a.name, a.uri) for a in t.outlets} for t in dag.tasks if t.outlets}
    assert outlets == {
        "followups": {("crm_followups.outbox", "crm-followups://outbox/followups.csv"),
                      ("crm_followups.report", "crm-followups://reports/run.html")},
        "publish_night": {("crm_followups.followups", "crm-followups://warehouse/marts.followups")},
    }


def test_failure_notifiers_are_off_by_default_and_on_when_configured(dagbag, monkeypatch):
    from crm_followups.delivery.notify import WebhookNotifier

    callbacks = dagbag.dags["crm_nightly"].get_task("extract").on_failure_callback
    assert [c.__name__ for c in callbacks] == ["_record_error"]
    monkeypatch.setenv("CRM_NOTIFY_WEBHOOK_URL", "http://127.0.0.1:9/hook")
    monkeypatch.setenv("CRM_NOTIFY_SMTP_TO", "oncall@example.com, data@example.com")
    dag = runpy.run_path(str(DAGS_DIR / "crm_nightly.py"))["crm_nightly"]()
    dbt_task = dag.get_task("transform.fct_communications_model_build")
    record_error, webhook, email = dbt_task.on_failure_callback
    assert record_error.__name__ == "_record_error"
    assert isinstance(webhook, WebhookNotifier) and webhook.url == "http://127.0.0.1:9/hook"
    assert email.to == ["oncall@example.com", "data@example.com"] and email.smtp_conn_id == "smtp_default"
