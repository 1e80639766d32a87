"""The embedded stack: Airflow's environment, metadata DB and pool, the warehouse, the dbt
manifest, and the local UIs, all over the one data folder (``CRM_DATA_DIR``)."""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys

from crm_followups.cli.collector import collector_paused, skip_collection_at_exit
from crm_followups.cli.servers import Server, serve
from crm_followups.core.names import DAG_ID, WAREHOUSE_POOL
from crm_followups.core.settings import Settings

log = logging.getLogger("crm_followups")

LOOPBACK = "127.0.0.1"  # every local server: nothing but this machine reaches them
UI_PORTS = {"airflow": 8080, "mlflow": 5000, "docs": 8580}
# MLflow 3's UI opens in its GenAI mode unless the browser chose otherwise; only this query
# parameter (not an experiment tag) opens it on model training (docs/models.md).
MLFLOW_TRAINING_PAGE = "#/experiments?workflowType=machine_learning"


def prepare_environment(settings: Settings) -> None:
    """Embedded defaults for whatever the environment does not set (a deployment sets more)."""
    settings.ensure_dirs()
    for key, value in settings.airflow_env().items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("CRM_TASK_RETRIES", "0")


def _airflow(*args: str) -> None:
    """Run an ``airflow`` CLI command in this environment; fail loudly with its output."""
    done = subprocess.run([sys.executable, "-m", "airflow", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"`airflow {' '.join(args)}` failed:\n{done.stdout}\n{done.stderr}")


def check_config(settings: Settings) -> None:
    """Fail on invalid follow-up rules; report bad mapping files (each fails only its folder)."""
    from crm_followups.core.config_files import ConfigFileError
    from crm_followups.extract.mapping import mapping_problems
    from crm_followups.followups.rules import load_rules

    try:
        load_rules()
    except ConfigFileError as exc:
        raise SystemExit(f"invalid follow-up rules:\n{exc}") from None
    for problem in mapping_problems(settings.exports_dir):
        log.warning("this export folder will not load until its mapping is fixed: %s", problem)


def set_up(settings: Settings) -> None:
    """Check the configuration files, create the warehouse's Python-written tables, migrate
    Airflow's SQLite metadata DB, create the one-slot ``warehouse`` pool and write the dbt
    manifest the DAG renders its dbt tasks from."""
    from crm_followups.core.warehouse import create_warehouse
    from crm_followups.transform.dbt_runner import write_dbt_manifest

    prepare_environment(settings)
    with collector_paused():
        check_config(settings)
        create_warehouse(settings)
        prepare_airflow_metadata()
        write_dbt_manifest(settings)
    skip_collection_at_exit()


def prepare_airflow_metadata() -> None:
    """Migrate Airflow's metadata DB and create the one-slot ``warehouse`` pool, in this process:
    the nights it runs (``dag.test``) use the same DB, and each ``airflow`` CLI process would
    spend two seconds importing Airflow again."""
    from airflow.configuration import AIRFLOW_HOME, get_airflow_home

    wanted = get_airflow_home()  # the environment's now, expanded as Airflow expands it
    if wanted != AIRFLOW_HOME:  # Airflow read it once, on its first import
        raise RuntimeError(f"Airflow was imported with AIRFLOW_HOME={AIRFLOW_HOME}, but this run's "
                           f"is {wanted}: nothing may import Airflow before the set-up")
    from airflow.models.pool import Pool
    from airflow.utils.db import upgradedb

    log.info("preparing Airflow metadata in %s", AIRFLOW_HOME)
    upgradedb()
    Pool.create_or_update_pool(WAREHOUSE_POOL, slots=1, include_deferred=False,
                               description="One writer at a time for the DuckDB warehouse")


def serve_ui(settings: Settings, which: str, port: int, schedule: bool = False) -> None:
    """Serve one UI on 127.0.0.1 over the same stores as the nightly run, until SIGTERM or
    Ctrl-C stops it and everything it started."""
    if which == "airflow":
        serve_airflow_ui(settings, port, schedule)
    elif which == "mlflow":
        serve_mlflow_ui(settings, port)
    else:
        serve_docs_ui(settings, port)


def local_airflow_env(settings: Settings, port: int) -> dict[str, str]:
    """The local Airflow UI's settings: every listener on loopback, nothing scheduled unless asked.

    No login (every user is admin) only because nothing but this machine can reach it."""
    return {
        "AIRFLOW__API__HOST": LOOPBACK,
        "AIRFLOW__API__PORT": str(port),
        # the scheduler's task processes report to the api-server here (default: port 8080)
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{LOOPBACK}:{port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        # one key per start, shared by the three components (the one Airflow writes into
        # airflow.cfg is 16 bytes: too short for its signing algorithm, which warns at start-up)
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        # off by default; if a user's environment turns it on, it still listens on loopback only
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": LOOPBACK,
        # a scheduled night retries like a deployed one (the CLI's in-process runs fail fast)
        "CRM_TASK_RETRIES": str(settings.task_retries),
    }


def serve_airflow_ui(settings: Settings, port: int, schedule: bool) -> None:
    """Airflow's api-server (UI), scheduler and dag-processor, with ``crm_nightly`` paused
    unless ``schedule``: a scheduler that finds it unpaused starts the latest night at once.

    Not ``airflow standalone``: its log servers listen on every interface and its triggerer is
    not needed here. The scheduler skips its log server: the api-server reads the task logs
    from the same folder."""
    set_up(settings)
    os.environ.update(local_airflow_env(settings, port))
    _airflow("dags", "reserialize")  # crm_nightly must be in the metadata DB to (un)pause it
    _airflow("dags", "unpause" if schedule else "pause", DAG_ID)
    airflow = [sys.executable, "-m", "airflow"]
    api_server = [*airflow, "api-server", "--host", LOOPBACK, "--port", str(port), "--workers", "1"]
    serve("Airflow UI", [
        Server("api-server", api_server),
        Server("scheduler", [*airflow, "scheduler", "--skip-serve-logs"]),
        Server("dag-processor", [*airflow, "dag-processor"]),
    ], f"http://{LOOPBACK}:{port}/", os.environ)


def serve_mlflow_ui(settings: Settings, port: int) -> None:
    """The MLflow UI over the embedded tracking store: one worker and no job runner (its
    consumers double the server's memory for jobs this product never submits)."""
    if settings.tracking_server:
        raise SystemExit(f"CRM_MLFLOW_TRACKING_URI is {settings.tracking_server}: open that server's UI; "
                         "`ui mlflow` serves the embedded store in the data folder only")
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    serve("MLflow UI", [Server("mlflow", [
        sys.executable, "-m", "mlflow", "server", "--backend-store-uri", settings.mlflow_tracking_uri,
        "--artifacts-destination", settings.mlflow_artifacts_uri,
        "--host", LOOPBACK, "--port", str(port), "--workers", "1"])], f"http://{LOOPBACK}:{port}/", env,
          page=MLFLOW_TRAINING_PAGE)


def serve_docs_ui(settings: Settings, port: int) -> None:
    """dbt's documentation site, generated first when the warehouse changed since."""
    from crm_followups.transform.dbt_runner import dbt_args, dbt_env

    if docs_are_stale(settings):
        generate_docs(settings)
    command = [sys.executable, "-m", "dbt.cli.main",
               *dbt_args(settings, "docs serve", "--host", LOOPBACK, "--port", str(port), "--no-browser")]
    serve("dbt docs", [Server("dbt docs serve", command)], f"http://{LOOPBACK}:{port}/",
          {**os.environ, **dbt_env(settings)})


def docs_are_stale(settings: Settings) -> bool:
    """No catalog yet, or one older than the published warehouse (a night has run since)."""
    catalog = settings.dbt_target_dir / "catalog.json"
    warehouse = settings.published_warehouse_path
    if not catalog.exists():
        return True
    return warehouse.exists() and catalog.stat().st_mtime < warehouse.stat().st_mtime


def generate_docs(settings: Settings) -> None:
    """``dbt docs generate`` over the published warehouse (created empty when there is none
    yet: the docs then describe the models without their tables' columns)."""
    from crm_followups.core.warehouse import create_warehouse
    from crm_followups.transform.dbt_runner import DbtError, run_dbt

    create_warehouse(settings)
    log.info("generating dbt docs into %s", settings.dbt_target_dir)
    try:
        run_dbt(settings, "docs generate")
    except DbtError as exc:
        raise SystemExit(f"cannot serve dbt docs: {exc}") from None
