"""Extract: load new export files into ``raw.*``, once each, accounting for every row.

Each file is identified by its SHA-256, so a renamed copy is not loaded twice and a changed
file with the same name is a new version. A file loads in one transaction: its valid rows
into ``raw.<object>``, rows DuckDB's CSV reader cannot parse and rows missing a key or
with an unparseable timestamp into ``raw._rejects``, and one row in ``raw._load_manifest``
with rows_in = rows_loaded + rows_rejected.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from crm_followups.settings import Settings
from crm_followups.warehouse import connect

log = logging.getLogger(__name__)

METADATA_COLUMNS = """
    _source_system varchar, _file varchar, _file_sha256 varchar,
    _row_number bigint, _loaded_at timestamptz, _batch_id varchar"""


@dataclass(frozen=True)
class ExportObject:
    """One kind of file of the canonical (``generic``) export."""

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    # SQL predicates over the raw text columns that make a row unusable, with their reason.
    checks: tuple[tuple[str, str], ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional

    @property
    def table(self) -> str:
        return f"raw.{self.name}"


def _missing(column: str) -> tuple[str, str]:
    return f"nullif(trim({column}), '') is null", f"missing {column}"


def _bad_timestamp(column: str) -> tuple[str, str]:
    return (f"nullif(trim({column}), '') is not null and try_cast({column} as timestamptz) is null",
            f"unparseable {column}")


COMMUNICATIONS = ExportObject(
    name="communications",
    required=("communication_id", "customer_id", "channel", "direction", "occurred_at",
              "subject", "body", "agent_id", "label"),
    optional=(),
    checks=(_missing("communication_id"), _missing("customer_id"), _missing("occurred_at"),
            _bad_timestamp("occurred_at")),
)
CUSTOMERS = ExportObject(
    name="customers",
    required=("customer_id", "name", "email", "phone", "company", "segment", "country",
              "created_at", "updated_at"),
    optional=("owner_id", "annual_value", "do_not_contact", "email_opt_out"),
    checks=(_missing("customer_id"), _bad_timestamp("created_at"), _bad_timestamp("updated_at")),
)
GENERIC_OBJECTS = (COMMUNICATIONS, CUSTOMERS)


@dataclass
class FileResult:
    path: Path
    status: str
    rows_in: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    error: str | None = None


@dataclass
class ExtractSummary:
    batch_id: str
    files: list[FileResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(f.status == status for f in self.files)

    def as_dict(self) -> dict[str, int | str]:
        return {
            "batch_id": self.batch_id,
            "files_loaded": self.count("loaded"),
            "files_failed": self.count("failed"),
            "files_skipped": self.count("skipped"),
            "rows_loaded": sum(f.rows_loaded for f in self.files),
            "rows_rejected": sum(f.rows_rejected for f in self.files),
        }


def file_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def ensure_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    for obj in GENERIC_OBJECTS:
        cols = ", ".join(f"{c} varchar" for c in obj.columns)
        con.execute(f"create table if not exists {obj.table} ({cols}, {METADATA_COLUMNS})")
    con.execute("""
        create table if not exists raw._load_manifest (
            file_path varchar, file_sha256 varchar, source_system varchar,
            rows_in bigint, rows_loaded bigint, rows_rejected bigint,
            status varchar, error varchar, loaded_at timestamptz, batch_id varchar)""")
    con.execute("""
        create table if not exists raw._rejects (
            file_path varchar, file_sha256 varchar, record_number bigint,
            line_number bigint, reason varchar, raw_text varchar, batch_id varchar)""")


def object_for(path: Path) -> ExportObject | None:
    """Which export object a file holds, by its name (``communications*.csv``...)."""
    for obj in GENERIC_OBJECTS:
        if path.name.startswith(obj.name) and path.suffix.lower() == ".csv":
            return obj
    return None


def _stage_file(con: duckdb.DuckDBPyConnection, path: Path, obj: ExportObject) -> None:
    """Parse the file into temp table ``_incoming``; unparseable lines go to ``_csv_errors``."""
    con.execute("drop table if exists _csv_errors; drop table if exists _csv_scans")
    con.execute(
        """create or replace temp table _incoming as
           select *, row_number() over () as _record_number
           from read_csv(?, header = true, all_varchar = true, strict_mode = true,
                         store_rejects = true, rejects_table = '_csv_errors',
                         rejects_scan = '_csv_scans')""",
        [str(path)],
    )
    present = {r[0].lower() for r in con.execute("describe _incoming").fetchall()}
    missing = [c for c in obj.required if c not in present]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; "
                         f"the file has {', '.join(sorted(present - {'_record_number'}))}")
    for column in obj.optional:
        if column not in present:
            con.execute(f"alter table _incoming add column {column} varchar")


def _load_staged(con: duckdb.DuckDBPyConnection, path: Path, sha: str, obj: ExportObject,
                 batch_id: str) -> FileResult:
    reason = "case " + " ".join(f"when {cond} then '{why}'" for cond, why in obj.checks) + " end"
    con.execute(f"create or replace temp table _checked as select *, {reason} as _reason from _incoming")
    cols = ", ".join(obj.columns)
    con.execute(
        f"""insert into {obj.table}
            select {cols}, 'generic', ?, ?, _record_number, now(), ?
            from _checked where _reason is null""",
        [str(path), sha, batch_id],
    )
    con.execute(
        f"""insert into raw._rejects
            select ?, ?, _record_number, null, _reason, concat_ws(',', {cols}), ?
            from _checked where _reason is not null""",
        [str(path), sha, batch_id],
    )
    con.execute(
        """insert into raw._rejects
           select ?, ?, line - 1, line, min_by(error_type || ': ' || error_message, column_idx),
                  any_value(csv_line), ?
           from _csv_errors group by line""",
        [str(path), sha, batch_id],
    )
    loaded, semantic = con.execute(
        "select count(*) filter (_reason is null), count(*) filter (_reason is not null) from _checked"
    ).fetchone()
    structural = con.execute("select count(distinct line) from _csv_errors").fetchone()[0]
    rejected = semantic + structural
    return FileResult(path, "loaded", loaded + rejected, loaded, rejected)


def _record_manifest(con: duckdb.DuckDBPyConnection, result: FileResult, sha: str, batch_id: str) -> None:
    con.execute(
        "insert into raw._load_manifest values (?, ?, 'generic', ?, ?, ?, ?, ?, now(), ?)",
        [str(result.path), sha, result.rows_in, result.rows_loaded, result.rows_rejected,
         result.status, result.error, batch_id],
    )


def load_file(con: duckdb.DuckDBPyConnection, path: Path, obj: ExportObject, batch_id: str) -> FileResult:
    """Load one file in one transaction; on any error record a failed manifest row instead."""
    sha = file_sha256(path)
    if con.execute("select count(*) from raw._load_manifest where file_sha256 = ?", [sha]).fetchone()[0]:
        return FileResult(path, "skipped")
    con.execute("begin transaction")
    try:
        _stage_file(con, path, obj)
        result = _load_staged(con, path, sha, obj, batch_id)
        _record_manifest(con, result, sha, batch_id)
        con.execute("commit")
    except (duckdb.Error, ValueError) as exc:
        con.execute("rollback")
        result = FileResult(path, "failed", error=str(exc).strip())
        log.error("could not load %s: %s", path, result.error)
        _record_manifest(con, result, sha, batch_id)
    return result


def load_exports(settings: Settings, batch_id: str | None = None) -> ExtractSummary:
    """Load every export file under ``exports/generic`` not loaded before."""
    summary = ExtractSummary(batch_id or uuid.uuid4().hex)
    folder = settings.exports_dir / "generic"
    files = sorted(p for p in folder.glob("*") if p.is_file()) if folder.exists() else []
    with connect(settings) as con:
        con.execute("set TimeZone = 'UTC'")
        ensure_raw_tables(con)
        for path in files:
            obj = object_for(path)
            if obj is None:
                log.warning("ignoring %s: not a communications*.csv or customers*.csv file", path)
                continue
            result = load_file(con, path, obj, summary.batch_id)
            summary.files.append(result)
            log.info("%s %s: %d in, %d loaded, %d rejected", result.status, path.name,
                     result.rows_in, result.rows_loaded, result.rows_rejected)
    return summary
