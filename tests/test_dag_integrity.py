import subprocess
import sys

import pytest

from crm_followups.settings import DAGS_DIR, WAREHOUSE_POOL


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
    assert dag.max_active_runs == 1
    assert dag.timetable.expression == "0 0 * * *"


def test_steps_run_in_order_in_the_warehouse_pool(dagbag):
    dag = dagbag.dags["crm_nightly"]
    order = [t.task_id for t in dag.topological_sort()]
    assert order == ["extract", "transform", "train", "score", "trends", "followups"]
    assert all(t.pool == WAREHOUSE_POOL for t in dag.tasks)


def test_dag_file_imports_nothing_heavy():
    """The scheduler parses the file often: model and warehouse libraries load in tasks only."""
    heavy = ("sklearn", "mlflow", "dbt", "duckdb", "statsmodels", "pandas")
    code = (f"import runpy, sys; runpy.run_path({str(DAGS_DIR / 'crm_nightly.py')!r}); "
            f"print(','.join(m for m in {heavy!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == ""
