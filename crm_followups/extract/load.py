"""Extract: load new export files into ``raw.*``, once each, accounting for every row.

The inbox ``$CRM_DATA_DIR/exports/`` has one folder per source system: ``generic`` (the
canonical export), ``hubspot``, ``salesforce``, and ``mapped/<name>/`` for any other export
described by a ``mapping.yml`` (see docs/exports.md). Each file is identified by its
SHA-256, so a renamed copy is not loaded twice and a changed file with the same name is a
new version. A file loads once per object that claims it, each in one transaction: its valid
rows into the object's raw table, rows that cannot be parsed or lack a key into
``raw._rejects``, and one row in ``raw._load_manifest`` with rows_in = rows_loaded +
rows_rejected. A file that cannot be used at all (empty, truncated, binary, an over-long
line, wrong columns) gets a failed manifest row saying why -- never quoting the file --
all its rows counted as rejected, and the other files still load. A file modified within
``CRM_FILE_SETTLE_SECONDS`` may still be being written: it waits for the next night. A file
claimed by no object is ignored, and listed as such in the summary. Rows of a customer erased
on request (``raw._erasures``) are rejected with the reason ``erased on request`` and no text,
and with ``CRM_RAW_RETENTION_DAYS`` set, superseded raw deliveries older than that are dropped
after loading (``extract.retention``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb

from crm_followups.core.privacy import ERASED_REASON, erased_sql, prepare_erasure_check
from crm_followups.core.settings import Settings
from crm_followups.core.warehouse import connect, create_raw_tables
from crm_followups.extract.mapping import MAPPING_FILE, MappedObject, MappingError, load_mapping
from crm_followups.extract.readers import UnreadableFileError, count_lines, stage_file
from crm_followups.extract.retention import drop_expired_raw
from crm_followups.extract.sources import (
    CUSTOMER_IDS,
    DATA_SUFFIXES,
    FUTURE_LIMIT_VARIABLE,
    GENERIC_COMMUNICATIONS,
    GENERIC_CUSTOMERS,
    SOURCE_OBJECTS,
    ExportObject,
    MissingColumnsError,
    ReadOptions,
    col,
    object_for,
    shown_header,
)

log = logging.getLogger(__name__)

GENERIC_READ = ReadOptions()  # the generic inbox without CRM_GENERIC_ENCODING: UTF-8

# Raw tables of mapped exports: the canonical columns (communications may bring updated_at).
MAPPED_TABLES = (
    MappedObject("mapped", "communications", (*GENERIC_COMMUNICATIONS.fields, col("updated_at")), ()),
    MappedObject("mapped", "customers", GENERIC_CUSTOMERS.fields, ()),
)


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class LoadError(ValueError):
    """A file that does not fit its object; the message is ours and quotes no content."""


class FileChangedError(Exception):
    """The file changed while it was being loaded: it is still being written."""


@dataclass
class FileResult:
    path: Path
    status: str  # loaded | failed | skipped (in the manifest), waiting | ignored (summary only)
    rows_in: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    error: str | None = None
    object: str | None = None
    hashed: bool = False  # its content was read to hash it (a file unchanged since it loaded is not)


@dataclass
class ExtractSummary:
    batch_id: str
    files: list[FileResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(f.status == status for f in self.files)

    def names(self, status: str) -> list[str]:
        return sorted({str(f.path) for f in self.files if f.status == status})

    def as_dict(self) -> dict[str, int | str | list[str]]:
        return {
            "batch_id": self.batch_id,
            "files_loaded": self.count("loaded"),
            "files_failed": self.count("failed"),
            "files_skipped": self.count("skipped"),
            "files_waiting": self.count("waiting"),
            "files_ignored": self.count("ignored"),
            "files_hashed": len({f.path for f in self.files if f.hashed}),
            "waiting": self.names("waiting"),
            "ignored": self.names("ignored"),
            "rows_loaded": sum(f.rows_loaded for f in self.files),
            "rows_rejected": sum(f.rows_rejected for f in self.files),
        }


@dataclass(frozen=True)
class ExportFile:
    """A file found in the inbox, with the objects that claim it or why it cannot be loaded."""

    path: Path
    objects: tuple[ExportObject, ...]
    problem: str | None = None


@dataclass(frozen=True)
class FileStat:
    """Size and modification time: a file loaded before with both unchanged is not re-read."""

    size: int
    mtime: dt.datetime
    age_seconds: float

    @classmethod
    def of(cls, path: Path) -> FileStat:
        stat = path.stat()
        return cls(stat.st_size, EPOCH + dt.timedelta(microseconds=stat.st_mtime_ns // 1000),
                   time.time() - stat.st_mtime)

    def same_file(self, other: FileStat) -> bool:
        return (self.size, self.mtime) == (other.size, other.mtime)


@dataclass(frozen=True)
class LoadRun:
    """What every file of one extract run shares."""

    batch_id: str
    work_dir: Path
    max_line_bytes: int
    settle_seconds: int


def file_sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _raw_objects() -> list[ExportObject]:
    return [o for objs in SOURCE_OBJECTS.values() for o in objs] + list(MAPPED_TABLES)


def ensure_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Every known raw table exists, even empty, so staging builds whatever was delivered."""
    create_raw_tables(con, ((obj.table, obj.columns) for obj in _raw_objects()))


def raw_table_keys() -> dict[str, str]:
    """Each raw table's source key: its object's first column (an id, as staging keys it)."""
    return {obj.table: obj.columns[0] for obj in _raw_objects()}


def _data_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in DATA_SUFFIXES)


def _mapped_files(folder: Path) -> Iterator[ExportFile]:
    """Each file with every object of the mapping whose glob matches it: one file may hold
    several objects (a complaints export with the consumer on each row)."""
    try:
        objects = load_mapping(folder)
    except MappingError as exc:
        for path in _data_files(folder):
            yield ExportFile(path, (), str(exc))
        return
    for path in _data_files(folder):
        yield ExportFile(path, tuple(o for o in objects if o.matches(path)))


def _source_files(exports_dir: Path, source_system: str, generic_read: ReadOptions) -> Iterator[ExportFile]:
    folder = exports_dir / source_system
    for path in _data_files(folder) if folder.is_dir() else []:
        obj = object_for(source_system, path)
        if obj is not None and source_system == "generic":
            obj = replace(obj, read=generic_read)
        yield ExportFile(path, (obj,) if obj else ())


def discover(exports_dir: Path, generic_read: ReadOptions = GENERIC_READ) -> Iterator[ExportFile]:
    """Every data file in the inbox with its objects; unknown folders are logged."""
    for source_system in SOURCE_OBJECTS:
        yield from _source_files(exports_dir, source_system, generic_read)
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
    checks = _erasure_check(obj) + obj.checks
    reason = ("case " + " ".join(f"when {cond} then '{why}'" for cond, why in checks) + " end"
              if checks else "null")
    con.execute(f"create or replace temp view _projected as select {projected}, _record_number "
                "from _incoming")
    con.execute(f"create or replace temp view _checked as select *, {reason} as _reason from _projected")


def _erasure_check(obj: ExportObject) -> tuple[tuple[str, str], ...]:
    """Rows of a customer erased on request are rejected first, whatever else is wrong."""
    ids = CUSTOMER_IDS.get(obj.table)
    return ((erased_sql(ids, obj.source_system), ERASED_REASON),) if ids else ()


def _unless_erased(obj: ExportObject) -> str:
    """The text of an unparseable record, or null when any of its fields is an erased
    customer's id (the fields of a broken line cannot be told apart)."""
    if obj.table not in CUSTOMER_IDS:
        return "raw_text"
    fields = r"""regexp_split_to_array(raw_text, '[,;\t|"]')"""
    return f"case when {erased_sql(fields, obj.source_system)} then null else raw_text end"


REJECT_COLUMNS = "file_path, file_sha256, record_number, line_number, reason, raw_text, batch_id, object"


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
        f"""insert into raw._rejects ({REJECT_COLUMNS})
            select ?, ?, _record_number, null, _reason,
                   case when _reason <> ? then concat_ws(',', {cols}) end, ?, ?
            from _checked where _reason is not null""",
        [str(path), sha, ERASED_REASON, batch_id, obj.table],
    )
    con.execute(f"""insert into raw._rejects ({REJECT_COLUMNS})
                    select ?, ?, record_number, line_number, reason, {_unless_erased(obj)}, ?, ?
                    from _parse_errors""",
                [str(path), sha, batch_id, obj.table])
    loaded, semantic = con.execute(
        "select count(*) filter (_reason is null), count(*) filter (_reason is not null) from _checked"
    ).fetchone()
    structural = con.execute("select count(*) from _parse_errors").fetchone()[0]
    rejected = semantic + structural
    return FileResult(path, "loaded", loaded + rejected, loaded, rejected, object=obj.table)


def _record_manifest(con: duckdb.DuckDBPyConnection, result: FileResult, sha: str, source_system: str,
                     stat: FileStat, batch_id: str) -> None:
    con.execute(
        """insert into raw._load_manifest (file_path, file_sha256, source_system, rows_in, rows_loaded,
                                           rows_rejected, status, error, loaded_at, batch_id, object,
                                           file_size, file_mtime)
           values (?, ?, ?, ?, ?, ?, ?, ?, now(), ?, ?, ?, ?)""",
        [str(result.path), sha, source_system, result.rows_in, result.rows_loaded, result.rows_rejected,
         result.status, result.error, batch_id, result.object, stat.size, stat.mtime],
    )


def _headers(con: duckdb.DuckDBPyConnection) -> str:
    return ", ".join(shown_header(r[0]) for r in con.execute("describe _incoming").fetchall()
                     if r[0] != "_record_number")


def _record_failure(con: duckdb.DuckDBPyConnection, result: FileResult, sha: str, source_system: str,
                    stat: FileStat, batch_id: str) -> None:
    """A failed file: one manifest row and one reject row, not repeated when it fails again
    the same way on a later night."""
    seen = con.execute("""select count(*) from raw._load_manifest
                          where file_sha256 = ? and error = ? and object is not distinct from ?""",
                       [sha, result.error, result.object]).fetchone()[0]
    if seen:
        return
    _record_manifest(con, result, sha, source_system, stat, batch_id)
    con.execute(f"insert into raw._rejects ({REJECT_COLUMNS}) values (?, ?, null, null, ?, null, ?, ?)",
                [str(result.path), sha, result.error, batch_id, result.object])


def _safe_reason(exc: Exception) -> str:
    """Why a file failed, without its content: our own errors quote none; DuckDB's may (the
    offending line, a value), so only their first line is kept, with quoted parts removed."""
    if isinstance(exc, UnreadableFileError | MappingError | LoadError):
        return str(exc).strip()
    if isinstance(exc, OSError):
        return f"cannot read the file: {exc.strerror}"
    if isinstance(exc, duckdb.Error):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return re.sub(r"\"[^\"]*\"|'[^']*'", "<value>", first)
    return f"{type(exc).__name__} while reading the file"


def _loaded_before(con: duckdb.DuckDBPyConnection, sha: str, obj: ExportObject) -> bool:
    """This content was loaded into this object already (under any name). Rows from before the
    manifest had an ``object`` column count for every object."""
    return bool(con.execute("""select count(*) from raw._load_manifest where file_sha256 = ?
                               and status = 'loaded' and (object = ? or object is null)""",
                            [sha, obj.table]).fetchone()[0])


def _unchanged_since_loaded(con: duckdb.DuckDBPyConnection, path: Path, stat: FileStat,
                            obj: ExportObject) -> bool:
    """The same path, size and modification time as a loaded file: skipped without hashing."""
    return bool(con.execute("""select count(*) from raw._load_manifest where file_path = ?
                               and file_size = ? and file_mtime = ? and status = 'loaded' and object = ?""",
                            [str(path), stat.size, stat.mtime, obj.table]).fetchone()[0])


def _stage_and_load(con: duckdb.DuckDBPyConnection, path: Path, sha: str, obj: ExportObject,
                    stat: FileStat, run: LoadRun) -> FileResult:
    """Inside the file's transaction: parse, check, insert; the file must not change meanwhile."""
    present = stage_file(con, path, obj.read, run.work_dir, run.max_line_bytes)
    try:
        exprs = obj.projection(present)
    except MissingColumnsError as exc:
        raise LoadError(f"missing column(s) {exc}; the file has {_headers(con)}") from None
    _checked_view(con, obj, exprs)
    result = _load_staged(con, path, sha, obj, run.batch_id)
    if not FileStat.of(path).same_file(stat):
        raise FileChangedError
    _record_manifest(con, result, sha, obj.source_system, stat, run.batch_id)
    return result


def load_file(con: duckdb.DuckDBPyConnection, path: Path, obj: ExportObject, sha: str, stat: FileStat,
              run: LoadRun) -> FileResult:
    """Load one file into one object in one transaction; on any error reading it record a
    failed manifest row instead, and on a change while loading leave it for the next night."""
    if _loaded_before(con, sha, obj):
        return FileResult(path, "skipped", object=obj.table)
    con.execute("begin transaction")
    try:
        result = _stage_and_load(con, path, sha, obj, stat, run)
        con.execute("commit")
    except FileChangedError:
        con.execute("rollback")
        log.warning("waiting %s: it changed while being loaded", path)
        return FileResult(path, "waiting", object=obj.table)
    except (duckdb.Error, ValueError, OSError) as exc:
        con.execute("rollback")
        rows = count_lines(path)
        result = FileResult(path, "failed", rows, 0, rows, error=f"{path}: {_safe_reason(exc)}",
                            object=obj.table)
        log.error("could not load %s", result.error)
        _record_failure(con, result, sha, obj.source_system, stat, run.batch_id)
    return result


def _fail_unusable(con: duckdb.DuckDBPyConnection, export: ExportFile, stat: FileStat,
                   batch_id: str) -> FileResult:
    rows = count_lines(export.path)
    result = FileResult(export.path, "failed", rows, 0, rows, error=f"{export.path}: {export.problem}",
                        hashed=True)
    log.error("could not load %s", result.error)
    _record_failure(con, result, file_sha256(export.path), export.path.parent.name, stat, batch_id)
    return result


def load_export_file(con: duckdb.DuckDBPyConnection, export: ExportFile, run: LoadRun) -> list[FileResult]:
    """One result per object claiming the file (one when it is ignored, waiting or unusable);
    the file is hashed at most once, and not at all when it is unchanged since it loaded."""
    path = export.path
    if not export.objects and not export.problem:
        log.warning("ignoring %s: no object of its source is named like it", path)
        return [FileResult(path, "ignored")]
    stat = FileStat.of(path)
    if stat.age_seconds < run.settle_seconds:
        log.warning("waiting %s: modified %.0f s ago, less than CRM_FILE_SETTLE_SECONDS=%d; it may "
                    "still be being written", path, stat.age_seconds, run.settle_seconds)
        return [FileResult(path, "waiting")]
    if export.problem:
        return [_fail_unusable(con, export, stat, run.batch_id)]
    unchanged = {obj.table for obj in export.objects if _unchanged_since_loaded(con, path, stat, obj)}
    pending = [obj for obj in export.objects if obj.table not in unchanged]
    sha = file_sha256(path) if pending else ""
    return ([FileResult(path, "skipped", object=table) for table in sorted(unchanged)]
            + [replace(load_file(con, path, obj, sha, stat, run), hashed=True) for obj in pending])


def load_exports(settings: Settings, batch_id: str | None = None) -> ExtractSummary:
    """Load every export file in the inbox not loaded before."""
    summary = ExtractSummary(batch_id or uuid.uuid4().hex)
    run = LoadRun(summary.batch_id, settings.data_dir / "tmp" / "extract", settings.max_line_bytes,
                  settings.file_settle_seconds)
    with connect(settings) as con:
        ensure_raw_tables(con)
        # event times later than this are rejected (sources.future_timestamp)
        con.execute(f"set variable {FUTURE_LIMIT_VARIABLE} = "
                    f"now() + interval {int(settings.future_tolerance_hours)} hour")
        prepare_erasure_check(con, settings.erasure_salt)
        for export in discover(settings.exports_dir, ReadOptions(encoding=settings.generic_encoding)):
            for result in load_export_file(con, export, run):
                summary.files.append(result)
                log.info("%s %s (%s): %d in, %d loaded, %d rejected", result.status, export.path.name,
                         result.object or "-", result.rows_in, result.rows_loaded, result.rows_rejected)
        if settings.raw_retention_days is not None:
            drop_expired_raw(con, settings.raw_retention_days, raw_table_keys())
    return summary
