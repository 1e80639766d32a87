"""Is tonight's dbt build due? Only when something it reads changed since the last build.

No dbt model reads the clock (docs/benchmark-findings.md, "dbt in Airflow"): its output is a
function of the ``raw`` tables, the dbt project, the hashing salt and the dbt/DuckDB versions.
Each build records a fingerprint of those inputs in ``raw._last_dbt_build`` (one row, replaced)
of the night's working copy (published with the night, so restoring a backup restores its
record too). A night whose inputs match it skips the whole transform group instead of paying
a dbt invocation per model to rebuild the same tables; when only raw tables changed, the
decision names them, so that the tasks reading none of them are skipped
(``dbt_tasks.skip_current_tasks``). The decision and its reason are in the run's summary.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb

from crm_followups.core.settings import DBT_PROJECT_DIR, Settings
from crm_followups.core.warehouse import LAST_DBT_BUILD_TABLE, connect

# dbt's own output and state beside the project files: not inputs of the build
NOT_PROJECT_FILES = ("target", "logs", "dbt_packages", ".user.yml")
VERSIONED_PACKAGES = ("dbt-core", "dbt-duckdb", "duckdb")


@dataclass(frozen=True)
class TransformDecision:
    """Whether the night builds, why, and the fingerprint the build records when it does.
    ``changed_tables``: the raw tables that changed since the last build, or None when every
    model is due (no build yet, forced, or the project, salt or versions changed).
    ``full_refresh``: the project, salt or versions changed since the last build, so the
    incremental tables are rebuilt from raw (``dbt --full-refresh``): otherwise the rows they
    already hold would keep what the old SQL, salt or versions made of them."""

    due: bool
    reason: str
    fingerprint: str
    inputs: dict[str, Any]
    changed_tables: list[str] | None = None
    full_refresh: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def project_digest(project_dir: Path = DBT_PROJECT_DIR) -> str:
    """sha256 over every file of the dbt project (models, macros, snapshots, tests, the project
    and profile files), by relative path and content: a deployed change rebuilds."""
    digest = hashlib.sha256()
    for path in sorted(p for p in project_dir.rglob("*") if p.is_file()):
        relative = path.relative_to(project_dir)
        if relative.parts[0] in NOT_PROJECT_FILES:
            continue
        digest.update(str(relative).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _salt_digest(salt: str) -> str:
    """The salt's hash (the salt itself is a secret): a rotated salt changes every salted key."""
    return hashlib.sha256(b"crm_followups dbt build\0" + salt.encode()).hexdigest()


def raw_state(con: duckdb.DuckDBPyConnection) -> dict[str, list]:
    """Per raw table its row count and the first and last load time, in one query: extract
    appends (the last load time moves), retention and erasure delete (the count falls).
    Metadata-sized work whatever the size of raw."""
    tables = con.execute(
        """select table_name,
                  bool_or(column_name = '_loaded_at'), bool_or(column_name = 'loaded_at')
           from information_schema.columns
           where table_schema = 'raw' and table_name <> ?
           group by table_name order by table_name""",
        [LAST_DBT_BUILD_TABLE.split(".")[1]]).fetchall()
    if not tables:
        return {}
    selects = []
    for name, has_loaded_at, has_manifest_time in tables:
        column = "_loaded_at" if has_loaded_at else "loaded_at" if has_manifest_time else None
        times = f"min({column})::varchar, max({column})::varchar" if column else "null, null"
        selects.append(f"select '{name}', count(*), {times} from raw.\"{name}\"")
    rows = con.execute(" union all ".join(selects)).fetchall()
    return {f"raw.{name}": [count, first, last] for name, count, first, last in sorted(rows)}


def build_inputs(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, Any]:
    return {
        "project": project_digest(),
        "salt": _salt_digest(settings.hash_salt),
        "versions": {package: importlib.metadata.version(package) for package in VERSIONED_PACKAGES},
        "raw": raw_state(con),
    }


def _fingerprint(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def _last_build(con: duckdb.DuckDBPyConnection) -> tuple[str, str, dict[str, Any]] | None:
    row = con.execute(f"select run_id, fingerprint, inputs from {LAST_DBT_BUILD_TABLE}").fetchone()
    return None if row is None else (row[0], row[1], json.loads(row[2]))


def changed_raw_tables(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """The raw tables whose row count or load times differ."""
    return [table for table in sorted(set(before.get("raw", {})) | set(now["raw"]))
            if before.get("raw", {}).get(table) != now["raw"].get(table)]


def what_changed(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """The inputs that differ, in words: which raw tables (with their row counts), the
    project, the salt, the package versions."""
    changed = []
    for table in changed_raw_tables(before, now):
        old, new = before.get("raw", {}).get(table), now["raw"].get(table)
        changed.append(f"{table} ({old[0] if old else 'absent'} -> {new[0] if new else 'absent'} rows)")
    if before.get("project") != now["project"]:
        changed.append("the dbt project's files")
    if before.get("salt") != now["salt"]:
        changed.append("the hashing salt")
    if before.get("versions") != now["versions"]:
        changed.append(f"package versions {before.get('versions')} -> {now['versions']}")
    return changed


def _only_raw_changed(before: dict[str, Any], now: dict[str, Any]) -> bool:
    return all(before.get(key) == now[key] for key in ("project", "salt", "versions"))


def transform_decision(settings: Settings, force: bool = False) -> TransformDecision:
    """Compare what dbt would read tonight with the last recorded build of this warehouse."""
    with connect(settings) as con:
        inputs = build_inputs(con, settings)
        last = _last_build(con)
    fingerprint = _fingerprint(inputs)
    if last is None:
        return TransformDecision(True, "no dbt build recorded in this warehouse yet", fingerprint, inputs)
    run_id, last_fingerprint, last_inputs = last
    full_refresh = not _only_raw_changed(last_inputs, inputs)
    rebuilt = "; incremental tables rebuilt in full" if full_refresh else ""
    if force:
        return TransformDecision(True, f"forced (force_transform){rebuilt}", fingerprint, inputs, None,
                                 full_refresh)
    if last_fingerprint == fingerprint:
        reason = (f"nothing dbt reads changed since the build of run {run_id}: the staging, "
                  "intermediate and marts tables are current")
        return TransformDecision(False, reason, fingerprint, inputs, [])
    reason = "changed since the last build: " + "; ".join(what_changed(last_inputs, inputs)) + rebuilt
    return TransformDecision(True, reason, fingerprint, inputs,
                             None if full_refresh else changed_raw_tables(last_inputs, inputs), full_refresh)


def record_build(settings: Settings, run_id: str, decision: dict[str, Any]) -> dict[str, str]:
    """After the night's dbt tasks all passed: the fingerprint they built from replaces the last
    one (re-running a date adds no row). Written into the working copy, so a night that fails
    later never publishes it."""
    row = [run_id, dt.datetime.now(dt.UTC), decision["fingerprint"], json.dumps(decision["inputs"])]
    with connect(settings) as con:
        con.execute(f"delete from {LAST_DBT_BUILD_TABLE}")
        con.execute(f"insert into {LAST_DBT_BUILD_TABLE} values (?, ?, ?, ?)", row)
    return {"fingerprint": decision["fingerprint"]}
