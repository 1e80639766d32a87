"""Transform: run dbt in-process against the warehouse, with all dbt state under the data folder.

The nightly DAG runs dbt model by model through astronomer-cosmos; this module gives it the
manifest and the environment, and runs whole dbt commands for the set-up, tests and benchmarks.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from crm_followups.core.settings import DBT_PROJECT_DIR, Settings

log = logging.getLogger(__name__)


class DbtError(RuntimeError):
    """A dbt command failed: a model did not build, a data test did not pass or a source is
    stale. ``failed`` holds the failed nodes (node, status, message)."""

    def __init__(self, message: str, failed: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.failed = failed or []


def dbt_env(settings: Settings) -> dict[str, str]:
    """What dbt reads from the environment: the warehouse file (a night's working copy, through
    ``nights/current``; fails unless that leads to it) and the hashing salt of these settings
    (for DuckDB read by the profile's plugin, dbt_salt; for the ``postgres`` target a session
    setting in libpq's options)."""
    from crm_followups.core.nights import dbt_warehouse_path  # imports duckdb: not at DAG parsing

    return {
        "CRM_DATA_DIR": str(settings.data_dir),
        "CRM_WAREHOUSE_PATH": str(dbt_warehouse_path(settings)),
        "DBT_ENV_SECRET_HASH_SALT": settings.hash_salt,
        "PGOPTIONS": postgres_session_options(settings.hash_salt),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "DBT_TARGET_PATH": str(settings.dbt_target_dir),
        "DBT_LOG_PATH": str(settings.data_dir / "dbt" / "logs"),
        # profiles.yml's postgres target: the same values the Python steps use
        "CRM_PG_HOST": settings.pg_host, "CRM_PG_PORT": str(settings.pg_port),
        "CRM_PG_USER": settings.pg_user, "CRM_PG_DATABASE": settings.pg_database,
        **({"DBT_ENV_SECRET_PG_PASSWORD": settings.pg_password} if settings.pg_password else {}),
    }


def postgres_session_options(salt: str) -> str:
    """libpq ``-c`` options for dbt's PostgreSQL sessions: UTC like the DuckDB profile, and the
    salt as custom setting ``crm.hash_salt`` (read by the salted_hash macro), so it never
    appears in compiled SQL. libpq splits options at spaces unless backslash-escaped."""
    escaped = salt.replace("\\", "\\\\").replace(" ", "\\ ")
    return f"-c TimeZone=UTC -c crm.hash_salt={escaped}"


@contextmanager
def dbt_environment(settings: Settings) -> Iterator[None]:
    """dbt reads env vars from the process; set them for one invocation, then restore them."""
    env = dbt_env(settings)
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def dbt_args(settings: Settings, command: str, *extra: str) -> list[str]:
    """``command`` may have a sub-command (``docs generate``); dbt's options follow it."""
    return [*command.split(), "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
            "--target-path", str(settings.dbt_target_dir), *extra]


def run_dbt(settings: Settings, command: str, *extra: str) -> list[dict[str, str]]:
    """Run one dbt command; raise DbtError naming every failed node."""
    from dbt.cli.main import dbtRunner  # heavy import: only in the task that runs dbt

    with dbt_environment(settings):
        try:
            result = dbtRunner().invoke(dbt_args(settings, command, *extra))
        finally:
            release_duckdb()
    if result.exception is not None:
        raise DbtError(f"dbt {command} could not run: {result.exception}") from result.exception
    nodes = [
        {"node": r.node.unique_id, "status": str(r.status), "message": r.message or ""}
        for r in getattr(result.result, "results", None) or []
    ]
    failed = [n for n in nodes if n["status"] in ("error", "fail", "runtime error")]
    if not result.success or failed:
        detail = "; ".join(f"{n['node']}: {n['status']} {n['message']}" for n in failed)
        raise DbtError(f"dbt {command} failed: {detail or 'see the dbt log'}", failed)
    log.info("dbt %s: %d nodes passed", command, len(nodes))
    return nodes


def release_duckdb() -> None:
    """Close the DuckDB database dbt-duckdb keeps open in this process after a command.

    Left open, it pins the file: a night's ``begin_night`` that replaces its working copy in
    the same process would get that stale database back from DuckDB's per-path instance
    cache, and write a file that is no longer the working copy. (dbt-duckdb has no public
    call for this; its own ``close_all_connections`` forgets the connection without closing it.)"""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        if DuckDBConnectionManager._ENV is not None:
            DuckDBConnectionManager._ENV.close()
            DuckDBConnectionManager._ENV = None


def build_warehouse(settings: Settings) -> dict[str, int]:
    """``dbt build`` of the whole project in one call: the transform step outside Airflow
    (tests, benchmarks); the DAG runs the same models task by task through cosmos."""
    return {"dbt_nodes": len(run_dbt(settings, "build"))}


def check_source_freshness(settings: Settings) -> dict[str, str]:
    """``dbt source freshness``: has every feed delivered lately? Runs after extract and before
    the night's dbt build. A source past its ``error_after`` (the generic export: seven days
    without a delivery) stops the night, naming the source; ``warn`` (a feed a day and a half
    late, or an optional feed such as HubSpot with no rows at all) is logged and the night
    goes on. Returns each source table's status, e.g. ``{"generic.communications": "pass"}``."""
    try:  # no manifest.json or sources.json in night-target: nothing reads them (0.1-0.3 s)
        nodes = run_dbt(settings, "source freshness", "--no-write-json")
    except DbtError as exc:
        stale = ", ".join(f"{_source_name(n['node'])} ({n['status']} {n['message']})".replace(" )", ")")
                          for n in exc.failed)
        raise DbtError(f"source freshness failed: {stale or exc}; a feed past its error_after has "
                       "delivered nothing for too long (docs/warehouse.md, Source freshness)",
                       exc.failed) from exc
    statuses = {_source_name(n["node"]): n["status"] for n in nodes}
    for name, status in statuses.items():
        if status == "warn":
            log.warning("source %s is stale or empty (past warn_after); the night goes on", name)
    return statuses


def _source_name(unique_id: str) -> str:
    """``source.crm_followups.generic.communications`` -> ``generic.communications``."""
    return ".".join(unique_id.split(".")[-2:])


def write_dbt_manifest(settings: Settings) -> None:
    """``dbt parse`` into the data folder: the manifest the DAG renders its dbt tasks from
    (cosmos ``LoadMode.DBT_MANIFEST``), so parsing the DAG file never runs dbt."""
    run_dbt(settings, "parse")
    log.info("dbt manifest written to %s", settings.dbt_manifest_path)


def export_dbt_task_environment(settings: Settings) -> None:
    """Before a cosmos dbt task: what profiles.yml reads (the night's working copy, salt), in
    this process's environment, where cosmos passes it on to dbt. Cosmos picks its own target
    path, per task."""
    env = dbt_env(settings)
    env.pop("DBT_TARGET_PATH")
    env.pop("PGOPTIONS")  # the DAG's dbt tasks build the DuckDB target
    os.environ.update(env)
