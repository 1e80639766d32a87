"""The embedded stack: Airflow's environment, metadata DB and pool, the warehouse, the dbt
manifest, and the two UIs, all over the one data folder (``CRM_DATA_DIR``)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from crm_followups.core.names import WAREHOUSE_POOL
from crm_followups.core.settings import Settings

log = logging.getLogger("crm_followups")


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
    check_config(settings)
    create_warehouse(settings)
    log.info("preparing Airflow metadata in %s", settings.airflow_home)
    _airflow("db", "migrate")
    _airflow("pools", "set", WAREHOUSE_POOL, "1", "One writer at a time for the DuckDB warehouse")
    write_dbt_manifest(settings)


def serve_ui(settings: Settings, which: str) -> None:
    """Replace this process with the UI server on 127.0.0.1, reading the same stores as the
    nightly run."""
    # `airflow standalone` starts its components as `airflow ...` from PATH
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    if which == "airflow":
        set_up(settings)
        # Local demo only: every user is admin, no login page.
        os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] = "True"
        command = [sys.executable, "-m", "airflow", "standalone"]
    else:
        prepare_environment(settings)
        command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
                   settings.mlflow_tracking_uri, "--host", "127.0.0.1", "--port", "5000", "--workers", "1"]
    os.execv(command[0], command)
