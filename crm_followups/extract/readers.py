"""Reading one export file into the temp table ``_incoming`` (all text, one row per record)
and what could not be parsed into ``_parse_errors``, with DuckDB's readers, streaming.

CSV goes through DuckDB's CSV reader with ``store_rejects``; its dialect is given, not
sniffed, so a broken file fails instead of being read with a wrong guess. DuckDB reads only
UTF-8, UTF-16 and Latin-1, so GBK / GB18030 files are first transcoded to UTF-8 as a
stream; a byte sequence the encoding cannot decode becomes an invalid UTF-8 byte, so that
DuckDB rejects exactly the record it is in, with its line. JSONL is read line by line as
text and parsed by DuckDB's JSON functions, so a bad line is one reject, not a failed file.

A file that cannot be read at all raises :class:`UnreadableFileError` whose message names
what is wrong and where (line number, limit) but never quotes the file: DuckDB's own errors
carry the offending line ("Original Line: ..."), which must not reach logs or the manifest.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from crm_followups.extract.sources import ReadOptions, normalise_header

CHUNK_BYTES = 1 << 20
DUCKDB_ENCODINGS = {"utf-8": "utf-8", "utf-8-sig": "utf-8", "utf-16": "utf-16", "iso8859-1": "latin-1"}
INVALID_UTF8 = b"\xff"  # never valid in UTF-8
SNIFF_BYTES = 8192  # how much of a file is looked at to tell text from binary
WIDE_ENCODINGS = ("utf-16", "utf-32")  # where NUL bytes are part of ordinary text


class UnreadableFileError(ValueError):
    """The file as a whole cannot be read: empty, truncated, not the declared format."""


def _undecodable_as_invalid_utf8(exc: UnicodeError) -> tuple[bytes, int]:
    """Encode error handler: each escaped undecodable byte becomes one invalid UTF-8 byte."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    return INVALID_UTF8 * (exc.end - exc.start), exc.end


codecs.register_error("crm_invalid_utf8", _undecodable_as_invalid_utf8)


def transcode_to_utf8(source: Path, target: Path, encoding: str) -> None:
    """Stream ``source`` in ``encoding`` to UTF-8 in ``target``, in chunks (an incremental
    decoder keeps characters split across chunks whole)."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="surrogateescape")
    with source.open("rb") as src, target.open("wb") as dst:
        while chunk := src.read(CHUNK_BYTES):
            dst.write(decoder.decode(chunk).encode("utf-8", errors="crm_invalid_utf8"))
        dst.write(decoder.decode(b"", final=True).encode("utf-8", errors="crm_invalid_utf8"))


@contextmanager
def utf8_copy(path: Path, encoding: str, work_dir: Path) -> Iterator[tuple[Path, str]]:
    """The file and the encoding to give DuckDB: the file itself when DuckDB reads its
    encoding, else a transcoded copy under ``work_dir`` that is removed afterwards."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError as exc:
        raise UnreadableFileError(f"unknown encoding {encoding!r}") from exc
    if name in DUCKDB_ENCODINGS:
        yield path, DUCKDB_ENCODINGS[name]
        return
    work_dir.mkdir(parents=True, exist_ok=True)
    target = work_dir / f"{path.stem}.{name}.utf8{path.suffix}"
    try:
        transcode_to_utf8(path, target, name)
        yield target, "utf-8"
    finally:
        target.unlink(missing_ok=True)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _present(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Normalised header -> quoted column of ``_incoming`` (the first of equal ones wins)."""
    columns = [r[0] for r in con.execute("describe _incoming").fetchall() if r[0] != "_record_number"]
    present: dict[str, str] = {}
    for column in columns:
        present.setdefault(normalise_header(column), _quoted(column))
    return present


def _csv_options(read: ReadOptions, encoding: str) -> str:
    quote = read.quote.replace("'", "''")
    delim = read.delimiter.replace("'", "''")
    return (f"header = true, all_varchar = true, strict_mode = true, delim = '{delim}', "
            f"quote = '{quote}', escape = '{quote}', encoding = '{encoding}', null_padding = false")


def check_is_text(path: Path, encoding: str) -> None:
    """A binary file named like an export (an image, a zip, a spreadsheet) fails at once: NUL
    bytes never occur in text of a byte-oriented encoding."""
    if codecs.lookup(encoding).name.startswith(WIDE_ENCODINGS):
        return
    with path.open("rb") as fh:
        if b"\0" in fh.read(SNIFF_BYTES):
            raise UnreadableFileError(f"binary content (NUL bytes in the first {SNIFF_BYTES} bytes), "
                                      "not a text export")


def first_long_line(path: Path, max_line_bytes: int) -> int | None:
    """The number of the first line longer than ``max_line_bytes``, reading at most that much
    of any line (memory stays bounded however long the line is)."""
    with path.open("rb") as fh:
        number = 0
        while line := fh.readline(max_line_bytes + 1):
            number += 1
            if len(line) > max_line_bytes and not line.endswith(b"\n"):
                return number
            while line and not line.endswith(b"\n"):  # the rest of an over-long line
                line = fh.readline(max_line_bytes + 1)
    return None


def read_error(exc: duckdb.Error, path: Path, max_line_bytes: int, what: str) -> UnreadableFileError:
    """DuckDB's error as a reason without the file's text: what went wrong and on which line."""
    message = str(exc)
    if "Maximum line size" in message:
        line = first_long_line(path, max_line_bytes)
        where = f"line {line}" if line else "a line"
        return UnreadableFileError(f"{where} is longer than {max_line_bytes} bytes "
                                   "(CRM_MAX_LINE_BYTES); raise it or split the field")
    if "not utf-8 encoded" in message or "not latin-1 encoded" in message or "Invalid unicode" in message:
        return UnreadableFileError(f"not readable as {what}: bytes that are not valid in its encoding")
    line = re.search(r"Line: (\d+)", message)
    return UnreadableFileError(f"not readable as {what} (truncated file or unterminated quoted field?)"
                               + (f": error on line {line.group(1)}" if line else ""))


def stage_csv(con: duckdb.DuckDBPyConnection, path: Path, read: ReadOptions, work_dir: Path,
              max_line_bytes: int) -> dict[str, str]:
    if path.stat().st_size == 0:
        raise UnreadableFileError("empty file: no header row")
    check_is_text(path, read.encoding)
    with utf8_copy(path, read.encoding, work_dir) as (readable, encoding):
        options = _csv_options(read, encoding)
        con.execute("drop table if exists _csv_errors; drop table if exists _csv_scans")
        try:
            con.execute(
                f"""create or replace temp table _incoming as
                    select *, row_number() over () as _record_number
                    from read_csv(?, {options}, max_line_size = {max_line_bytes}, store_rejects = true,
                                  rejects_table = '_csv_errors', rejects_scan = '_csv_scans')""",
                [str(readable)],
            )
        except duckdb.Error as exc:
            what = f"{read.encoding} CSV delimited by {read.delimiter!r}"
            raise read_error(exc, path, max_line_bytes, what) from None
    bad_bytes = f"INVALID ENCODING: bytes that are not valid {read.encoding}"
    con.execute(
        """create or replace temp table _parse_errors as
           select line - 1 as record_number, line as line_number,
                  min_by(case when error_type = 'INVALID ENCODING' then ?
                              else error_type || ': ' || error_message end, column_idx) as reason,
                  any_value(csv_line) as raw_text
           from _csv_errors group by line""",
        [bad_bytes],
    )
    return _present(con)


def stage_jsonl(con: duckdb.DuckDBPyConnection, path: Path, max_line_bytes: int) -> dict[str, str]:
    if path.stat().st_size == 0:
        raise UnreadableFileError("empty file: no records")
    check_is_text(path, "utf-8")
    try:
        con.execute(
            rf"""create or replace temp table _lines as
                select line, line_number,
                       case when json_valid(line) then json_type(line) = 'OBJECT' else false end as is_object
                from (select line, row_number() over () as line_number
                      from read_csv(?, columns = {{'line': 'varchar'}}, header = false, delim = e'\x1f',
                                    quote = '', escape = '', auto_detect = false, strict_mode = false,
                                    max_line_size = {max_line_bytes}))""",
            [str(path)],
        )
    except duckdb.Error as exc:
        raise read_error(exc, path, max_line_bytes, "UTF-8 JSON lines") from None
    con.execute("""create or replace temp table _parse_errors as
                   select line_number as record_number, line_number,
                          'invalid JSON: not one JSON object on the line' as reason, line as raw_text
                   from _lines
                   where line is not null and not is_object""")
    keys = [r[0] for r in con.execute(
        "select distinct unnest(json_keys(line)) from _lines where is_object order by 1").fetchall()]
    if not keys:
        raise UnreadableFileError("no JSON objects in the file")
    extracts = ", ".join(f"json_extract_string(line, {_json_path(k)}) as {_quoted(k)}" for k in keys)
    con.execute(f"""create or replace temp table _incoming as
                    select {extracts}, line_number as _record_number from _lines where is_object""")
    return _present(con)


def _json_path(key: str) -> str:
    return "'$.\"" + key.replace("'", "''").replace('"', '\\"') + "\"'"


def stage_parquet(con: duckdb.DuckDBPyConnection, path: Path) -> dict[str, str]:
    try:
        columns = [r[0] for r in con.execute("describe select * from read_parquet(?)",
                                             [str(path)]).fetchall()]
    except duckdb.Error:
        raise UnreadableFileError("not a readable Parquet file") from None
    casts = ", ".join(f"cast({_quoted(c)} as varchar) as {_quoted(c)}" for c in columns)
    con.execute(f"""create or replace temp table _incoming as
                    select {casts}, row_number() over () as _record_number from read_parquet(?)""",
                [str(path)])
    con.execute("""create or replace temp table _parse_errors (
                       record_number bigint, line_number bigint, reason varchar, raw_text varchar)""")
    return _present(con)


def stage_file(con: duckdb.DuckDBPyConnection, path: Path, read: ReadOptions,
               work_dir: Path, max_line_bytes: int) -> dict[str, str]:
    """Parse one file into ``_incoming`` and ``_parse_errors``; return its columns."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return stage_jsonl(con, path, max_line_bytes)
    if suffix == ".parquet":
        return stage_parquet(con, path)
    return stage_csv(con, path, read, work_dir, max_line_bytes)


def count_lines(path: Path) -> int:
    """Lines after the header: the rows of a file that could not be parsed at all. Counted as
    newline bytes in chunks, so no content (binary, undecodable, any line length) can fail it."""
    if path.suffix.lower() == ".parquet":
        return 0
    lines, last = 0, b"\n"
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    lines += last != b"\n"  # a last line without its newline
    return max(lines - (path.suffix.lower() == ".csv"), 0)
