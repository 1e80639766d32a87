"""Command line: set up the embedded stack, run the nightly DAG for a date, summarise.

    python -m crm_followups setup
    python -m crm_followups run [--date YYYY-MM-DD] [--force-train]
    python -m crm_followups summary [--date YYYY-MM-DD]
    python -m crm_followups sql "select ..."
    python -m crm_followups ui airflow|mlflow
    python -m crm_followups sample [--customers N] [--days N] [--run-date YYYY-MM-DD]

Airflow reads its configuration from the environment when it is first imported, so every
command sets that environment (all under ``CRM_DATA_DIR``) before anything imports Airflow.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import subprocess
import sys
from pathlib import Path

from crm_followups.core.names import DAG_ID, WAREHOUSE_POOL
from crm_followups.core.settings import DAGS_DIR, Settings, utc_today

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


def inbox_is_empty(settings: Settings) -> bool:
    return not any(p.is_file() for p in settings.exports_dir.rglob("*"))


def run_nightly(settings: Settings, date: dt.date, force_train: bool = False) -> None:
    """Run ``crm_nightly`` for ``date`` in this process (``dag.test``): no scheduler, no servers."""
    from crm_followups.sample.generate import write_export

    if inbox_is_empty(settings):
        export = write_export(settings.exports_dir / "generic", date)
        log.info("export inbox was empty: wrote the bundled sample (%d communications) to %s",
                 export.rows, export.communications.parent)
        # written whole by this process just now: nothing is still being written to wait for
        os.environ["CRM_FILE_SETTLE_SECONDS"] = "0"
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR), safe_mode=False)
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    logical_date = dt.datetime.combine(date, dt.time(), tzinfo=dt.UTC)
    run = bag.get_dag(DAG_ID).test(logical_date=logical_date, run_conf={"force_train": force_train})
    if run.state != "success":
        failed = [ti.task_id for ti in run.get_task_instances() if ti.state != "success"]
        raise SystemExit(f"{DAG_ID} for {date} ended {run.state}; tasks not successful: {failed}")


def serve_ui(settings: Settings, which: str) -> None:
    """Replace this process with the UI server, reading the same stores as the nightly run."""
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m crm_followups", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("setup", help="prepare the data folder, Airflow's DB and pool, the dbt manifest")
    run = commands.add_parser("run", help="set up, then run crm_nightly for one date")
    run.add_argument("--date", type=dt.date.fromisoformat, default=utc_today())
    run.add_argument("--force-train", action="store_true")
    summary = commands.add_parser("summary", help="what the last run of a date produced")
    summary.add_argument("--date", type=dt.date.fromisoformat, default=utc_today())
    ui = commands.add_parser("ui", help="serve the Airflow or MLflow UI on 127.0.0.1")
    ui.add_argument("which", choices=["airflow", "mlflow"])
    sql = commands.add_parser("sql", help="run one read-only query against the warehouse")
    sql.add_argument("query")
    commands.add_parser("sample", add_help=False, help="write a sample export (see sample --help)")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings()
    if args.command == "sample":
        from crm_followups.sample.generate import main as sample_main

        sample_main(rest)
        return
    if rest:
        parser.error(f"unrecognised arguments: {' '.join(rest)}")
    from crm_followups.delivery.summary import print_summary

    if args.command == "setup":
        set_up(settings)
    elif args.command == "run":
        set_up(settings)
        run_nightly(settings, args.date, args.force_train)
        print_summary(settings, args.date)
    elif args.command == "summary":
        print_summary(settings, args.date)
    elif args.command == "ui":
        serve_ui(settings, args.which)
    elif args.command == "sql":
        import duckdb

        from crm_followups.core.warehouse import connect

        try:
            with connect(settings, read_only=True) as con:
                con.sql(args.query).show(max_rows=200, max_width=200)
        except duckdb.Error as exc:
            raise SystemExit(f"{settings.warehouse_path}: {exc}") from None
