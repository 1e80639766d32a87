"""Extract: load new export files into ``raw.*``, once each, accounting for every row.

The inbox ``$CRM_DATA_DIR/exports/`` has one folder per source system: ``generic`` (the
canonical export), ``hubspot``, ``salesforce``, and ``mapped/<name>/`` for any other export
described by a ``mapping.yml`` (see docs/exports.md). Each file is identified by its
SHA-256, so a renamed copy is not loaded twice and a changed file with the same name is a
new version. A file loads in one transaction: its valid rows into its object's raw table,
rows that cannot be parsed or lack a key into ``raw._rejects``, and one row in
``raw._load_manifest`` with rows_in = rows_loaded + rows_rejected. A file that cannot be
used at all (empty, truncated, wrong columns) gets a failed manifest row saying why, all
its rows counted as rejected, and the other files still load.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from crm_followups.core.settings import Settings
from crm_followups.core.warehouse import connect, create_raw_tables
from crm_followups.extract.mapping import MAPPING_FILE, MappedObject, MappingError, load_mapping
from crm_followups.extract.readers import count_lines, stage_file
from crm_followups.extract.sources import (
    DATA_SUFFIXES,
    GENERIC_COMMUNICATIONS,
    GENERIC_CUSTOMERS,
    SOURCE_OBJECTS,
    ExportObject,
    MissingColumnsError,
    col,
    object_for,
)

log = logging.getLogger(__name__)

# Raw tables of mapped exports: the canonical columns (communications may bring updated_at).
MAPPED_TABLES = (
    MappedObject("mapped", "communications", (*GENERIC_COMMUNICATIONS.fields, col("updated_at")), ()),
    MappedObject("mapped", "customers", GENERIC_CUSTOMERS.fields, ()),
)


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


@dataclass(frozen=True)
class ExportFile:
    """A file found in the inbox, with the object it holds or why it cannot be loaded."""

    path: Path
    obj: ExportObject | None
    problem: str | None = None


def file_sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def ensure_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Every known raw table exists, even empty, so staging builds whatever was delivered."""
    objects = [o for objs in SOURCE_OBJECTS.values() for o in objs] + list(MAPPED_TABLES)
    create_raw_tables(con, ((obj.table, obj.columns) for obj in objects))


def _data_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in DATA_SUFFIXES)


def _mapped_files(folder: Path) -> Iterator[ExportFile]:
    try:
        objects = load_mapping(folder)
    except MappingError as exc:
        for path in _data_files(folder):
            yield ExportFile(path, None, str(exc))
        return
    for path in _data_files(folder):
        yield ExportFile(path, next((o for o in objects if o.matches(path)), None))


def discover(exports_dir: Path) -> Iterator[ExportFile]:
    """Every data file in the inbox with its object; files of no known object are logged."""
    for source_system in SOURCE_OBJECTS:
        folder = exports_dir / source_system
        for path in _data_files(folder) if folder.is_dir() else []:
            yield ExportFile(path, object_for(source_system, path))
    for folder in sorted(exports_dir.iterdir()) if exports_dir.is_dir() else []:
        if folder.is_dir() and folder.name not in (*SOURCE_OBJECTS, "mapped"):
            log.warning("ignoring %s: not a known source system; put other exports in "
                        "mapped/<name>/ with a %s", folder, MAPPING_FILE)
    mapped = exports_dir / "mapped"
    for folder in sorted(mapped.iterdir()) if mapped.is_dir() else []:
        if (folder / MAPPING_FILE).is_file():
            yield from _mapped_files(folder)
        elif folder.is_dir():
            log.warning("ignoring %s: no %s in it", folder, MAPPING_FILE)


def _checked_view(con: duckdb.DuckDBPyConnection, obj: ExportObject, exprs: dict[str, str]) -> None:
    """``_checked``: the file's records in the raw table's columns, with the reason a record
    cannot be used (null when it can)."""
    projected = ", ".join(f"{expr} as {col}" for col, expr in exprs.items())
    reason = ("case " + " ".join(f"when {cond} then '{why}'" for cond, why in obj.checks) + " end"
              if obj.checks else "null")
    con.execute(f"create or replace temp view _projected as select {projected}, _record_number "
                "from _incoming")
    con.execute(f"create or replace temp view _checked as select *, {reason} as _reason from _projected")


def _load_staged(con: duckdb.DuckDBPyConnection, path: Path, sha: str, obj: ExportObject,
                 batch_id: str) -> FileResult:
    cols = ", ".join(obj.columns)
    con.execute(
        f"""insert into {obj.table} ({cols}, _source_system, _file, _file_sha256, _row_number,
                                      _loaded_at, _batch_id)
            select {cols}, ?, ?, ?, _record_number, now(), ?
            from _checked where _reason is null""",
        [obj.source_system, str(path), sha, batch_id],
    )
    con.execute(
        f"""insert into raw._rejects
            select ?, ?, _record_number, null, _reason, concat_ws(',', {cols}), ?
            from _checked where _reason is not null""",
        [str(path), sha, batch_id],
    )
    con.execute("insert into raw._rejects select ?, ?, *, ? from _parse_errors", [str(path), sha, batch_id])
    loaded, semantic = con.execute(
        "select count(*) filter (_reason is null), count(*) filter (_reason is not null) from _checked"
    ).fetchone()
    structural = con.execute("select count(*) from _parse_errors").fetchone()[0]
    rejected = semantic + structural
    return FileResult(path, "loaded", loaded + rejected, loaded, rejected)


def _record_manifest(con: duckdb.DuckDBPyConnection, result: FileResult, sha: str, source_system: str,
                     batch_id: str) -> None:
    con.execute(
        "insert into raw._load_manifest values (?, ?, ?, ?, ?, ?, ?, ?, now(), ?)",
        [str(result.path), sha, source_system, result.rows_in, result.rows_loaded, result.rows_rejected,
         result.status, result.error, batch_id],
    )


def _headers(con: duckdb.DuckDBPyConnection) -> str:
    return ", ".join(r[0] for r in con.execute("describe _incoming").fetchall() if r[0] != "_record_number")


def _record_failure(con: duckdb.DuckDBPyConnection, result: FileResult, sha: str, source_system: str,
                    batch_id: str) -> None:
    """A failed file: one manifest row and one reject row, not repeated when it fails again
    the same way on a later night."""
    seen = con.execute("select count(*) from raw._load_manifest where file_sha256 = ? and error = ?",
                       [sha, result.error]).fetchone()[0]
    if seen:
        return
    _record_manifest(con, result, sha, source_system, batch_id)
    con.execute("insert into raw._rejects values (?, ?, null, null, ?, null, ?)",
                [str(result.path), sha, result.error, batch_id])


def load_file(con: duckdb.DuckDBPyConnection, path: Path, obj: ExportObject, batch_id: str,
              work_dir: Path) -> FileResult:
    """Load one file in one transaction; on any error record a failed manifest row instead."""
    sha = file_sha256(path)
    if con.execute("select count(*) from raw._load_manifest where file_sha256 = ? and status = 'loaded'",
                   [sha]).fetchone()[0]:
        return FileResult(path, "skipped")
    records: int | None = None
    con.execute("begin transaction")
    try:
        present = stage_file(con, path, obj.read, work_dir)
        records = con.execute("select (select count(*) from _incoming) + "
                              "(select count(*) from _parse_errors)").fetchone()[0]
        try:
            exprs = obj.projection(present)
        except MissingColumnsError as exc:
            raise ValueError(f"missing column(s) {exc}; the file has {_headers(con)}") from exc
        _checked_view(con, obj, exprs)
        result = _load_staged(con, path, sha, obj, batch_id)
        _record_manifest(con, result, sha, obj.source_system, batch_id)
        con.execute("commit")
    except (duckdb.Error, ValueError) as exc:
        con.execute("rollback")
        rows = records if records is not None else count_lines(con, path)
        result = FileResult(path, "failed", rows, 0, rows, error=f"{path}: {str(exc).strip()}")
        log.error("could not load %s", result.error)
        _record_failure(con, result, sha, obj.source_system, batch_id)
    return result


def _fail_unusable(con: duckdb.DuckDBPyConnection, export: ExportFile, batch_id: str) -> FileResult:
    rows = count_lines(con, export.path)
    result = FileResult(export.path, "failed", rows, 0, rows, error=f"{export.path}: {export.problem}")
    log.error("could not load %s", result.error)
    _record_failure(con, result, file_sha256(export.path), export.path.parent.name, batch_id)
    return result


def load_exports(settings: Settings, batch_id: str | None = None) -> ExtractSummary:
    """Load every export file in the inbox not loaded before."""
    summary = ExtractSummary(batch_id or uuid.uuid4().hex)
    work_dir = settings.data_dir / "tmp" / "extract"
    with connect(settings) as con:
        ensure_raw_tables(con)
        for export in discover(settings.exports_dir):
            if export.problem:
                result = _fail_unusable(con, export, summary.batch_id)
            elif export.obj is None:
                log.warning("ignoring %s: no object of its source is named like it", export.path)
                continue
            else:
                result = load_file(con, export.path, export.obj, summary.batch_id, work_dir)
            summary.files.append(result)
            log.info("%s %s: %d in, %d loaded, %d rejected", result.status, export.path.name,
                     result.rows_in, result.rows_loaded, result.rows_rejected)
    return summary
