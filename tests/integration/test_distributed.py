"""The production path, for real on this machine: Airflow's CeleryExecutor with PostgreSQL
metadata and a Redis broker, an api-server (Celery workers run tasks through its execution
API), scheduler, dag-processor and worker, plus an MLflow server with a PostgreSQL backend
that the training step logs to over HTTP. Everything listens on loopback only, and
everything the test starts it stops, by process group.

Skipped where no PostgreSQL or Redis answers on 127.0.0.1, except in CI (CI=true), where
.ci/run starts them and a skip would hide a broken deployment path.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import ExitStack, closing

import pandas as pd
import pytest

from crm_followups.core.names import CHAMPION_ALIAS, INTENT_EXPERIMENT, INTENT_MODEL
from crm_followups.core.settings import Settings
from crm_followups.sample.generate import write_export
from ml.features import text_frame
from tests.servers import Processes, free_port, http_ok

pytestmark = pytest.mark.integration

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REDIS = ("127.0.0.1", 6379)
RUN_DATE = dt.date(2026, 3, 2)
DAG_TIMEOUT_S = 1200  # ~5 minutes alone; cosmos runs each dbt node as its own Celery task


def _answers(host: str, port: int) -> bool:
    with closing(socket.socket()) as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


@pytest.fixture(scope="module", autouse=True)
def services_up() -> None:
    if not (_answers(PG["host"], PG["port"]) and _answers(*REDIS)):
        if os.environ.get("CI") == "true":
            pytest.fail("CI must have PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379")
        pytest.skip("no PostgreSQL on 127.0.0.1:5432 or no Redis on 127.0.0.1:6379")


@pytest.fixture(scope="module")
def databases() -> Iterator[dict[str, str]]:
    """Two throw-away databases: Airflow metadata and the MLflow backend store."""
    import psycopg2

    names = {role: f"crm_it_{role}_{secrets.token_hex(4)}" for role in ("airflow", "mlflow")}
    admin = psycopg2.connect(dbname="postgres", **PG)
    admin.autocommit = True
    with admin.cursor() as cur:
        for name in names.values():
            cur.execute(f"create database {name}")
    server = f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}"
    yield {role: f"{server}/{name}" for role, name in names.items()}
    with admin.cursor() as cur:
        for name in names.values():
            cur.execute(f"drop database if exists {name} with (force)")
    admin.close()


def _sqlalchemy(dsn: str) -> str:
    """SQLAlchemy 2.1 picks psycopg 3 for a bare postgresql:// URL; the stack ships psycopg2."""
    return dsn.replace("postgresql://", "postgresql+psycopg2://", 1)


def _dag_run_state(airflow_db: str) -> str | None:
    import psycopg2

    with closing(psycopg2.connect(airflow_db)) as con, con.cursor() as cur:
        cur.execute("select state from dag_run where dag_id = 'crm_nightly' order by id desc limit 1")
        row = cur.fetchone()
        return row[0] if row else None


def _dag_run_finished(airflow_db: str) -> bool:
    return _dag_run_state(airflow_db) in ("success", "failed")


def _dag_parsed(airflow_db: str) -> bool:
    import psycopg2

    with closing(psycopg2.connect(airflow_db)) as con, con.cursor() as cur:
        cur.execute("select count(*) from serialized_dag where dag_id = 'crm_nightly'")
        return cur.fetchone()[0] == 1


@pytest.fixture(scope="module")
def celery_run(tmp_path_factory, databases) -> Iterator[tuple[Settings, str]]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("distributed") / "data")
    settings.ensure_dirs()
    api_port, mlflow_port = free_port(), free_port()
    mlflow_uri = f"http://127.0.0.1:{mlflow_port}"
    env = {
        **os.environ, **settings.airflow_env(),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": _sqlalchemy(databases["airflow"]),
        "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS[0]}:{REDIS[1]}/{secrets.randbelow(14) + 1}",
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + _sqlalchemy(databases["airflow"]),
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        # only the run the test triggers: no scheduled run of today competing for the pool
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "CRM_MLFLOW_TRACKING_URI": mlflow_uri,
        "CRM_TASK_RETRIES": "0",
    }
    write_export(settings.exports_dir / "generic", RUN_DATE, customers=80, days=60)
    processes = Processes(settings.data_dir / "process-logs", env)
    with ExitStack() as stack:
        stack.callback(processes.stop_all)
        processes.start("mlflow", "mlflow", "server", "--backend-store-uri", _sqlalchemy(databases["mlflow"]),
                        "--artifacts-destination", str(settings.mlflow_dir / "artifacts"),
                        "--serve-artifacts", "--host", "127.0.0.1", "--port", str(mlflow_port),
                        "--workers", "1")
        processes.run("crm_followups", "setup")  # as compose's airflow-init: migrate, pool, dbt manifest
        processes.start("api-server", "airflow", "api-server", "--host", "127.0.0.1", "--port", str(api_port))
        processes.start("scheduler", "airflow", "scheduler")
        processes.start("dag-processor", "airflow", "dag-processor")
        processes.start("worker", "airflow", "celery", "worker", "--skip-serve-logs")
        processes.wait_for("the api-server",
                           lambda: http_ok(f"http://127.0.0.1:{api_port}/api/v2/monitor/health"), 120)
        processes.wait_for("the MLflow server", lambda: http_ok(f"{mlflow_uri}/health"), 120)
        processes.wait_for("the DAG to be parsed", lambda: _dag_parsed(databases["airflow"]), 120)
        processes.run("airflow", "dags", "trigger", "crm_nightly",
                      "--logical-date", f"{RUN_DATE}T00:00:00+00:00")
        processes.wait_for("crm_nightly to finish", lambda: _dag_run_finished(databases["airflow"]),
                           DAG_TIMEOUT_S)
        state = _dag_run_state(databases["airflow"])
        assert state == "success", f"crm_nightly ended {state}\n{processes.tails()}"
        yield settings, mlflow_uri


def test_dag_runs_to_success_under_celery_with_postgres_metadata(celery_run):
    settings, _ = celery_run
    import duckdb

    with duckdb.connect(str(settings.warehouse_path)) as con:
        followups = con.execute("select count(*) from marts.followups where as_of_date = ?", [RUN_DATE])
        assert followups.fetchone()[0] > 0


def test_training_run_is_in_the_mlflow_server_backed_by_postgres(celery_run):
    _, mlflow_uri = celery_run
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment = client.get_experiment_by_name(INTENT_EXPERIMENT)
    runs = client.search_runs([experiment.experiment_id])
    assert runs and "holdout_accuracy" in runs[0].data.metrics
    champion = client.get_model_version_by_alias(INTENT_MODEL, CHAMPION_ALIAS)
    assert champion.run_id == runs[0].info.run_id
    # the model's files went to the server's artifact store and come back through its proxy
    assert experiment.artifact_location.startswith("mlflow-artifacts:")
    import mlflow.sklearn

    embedded_store = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(mlflow_uri)  # MLflow also writes it to os.environ: put it back after
    try:
        model = mlflow.sklearn.load_model(f"models:/{INTENT_MODEL}@{CHAMPION_ALIAS}")
    finally:
        mlflow.set_tracking_uri(embedded_store)
    question = text_frame(pd.Series(["Price?"]), pd.Series(["How much is the Pro plan?"]))
    assert len(model.predict(question)) == 1
