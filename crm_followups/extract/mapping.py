"""Any other export, described by a column-mapping file (``mapping.yml``).

A folder ``exports/mapped/<name>/`` holds the files and one ``mapping.yml`` naming, for each
canonical object (communications, customers), the files it is in, the source column of
each canonical field, the timestamp format and zone, the encoding, the delimiter and how
channel and direction values translate. The mapping is applied at load time, so
``raw.mapped__communications`` / ``raw.mapped__customers`` hold canonical columns (times
as UTC text) and the name of the export in ``_source_system``.
"""

from __future__ import annotations

import fnmatch
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import Field

from crm_followups.core.config_files import ConfigFileError, StrictModel, load_config_file
from crm_followups.extract.sources import (
    GENERIC_COMMUNICATIONS,
    GENERIC_CUSTOMERS,
    ExportObject,
    ReadOptions,
    col,
    future_timestamp,
    missing,
    normalise_header,
    shown_header,
)

log = logging.getLogger(__name__)

MAPPING_FILE = "mapping.yml"
SOURCE_SYSTEM = re.compile(r"^[a-z][a-z0-9_]*$")
TIMESTAMP_FIELDS = ("occurred_at", "created_at", "updated_at")
_OBJECTS = {"communications": GENERIC_COMMUNICATIONS, "customers": GENERIC_CUSTOMERS}
_REQUIRED = {"communications": ("communication_id", "customer_id", "occurred_at"),
             "customers": ("customer_id",)}


class MappingError(ValueError):
    """A mapping file that cannot be used, or that does not fit the file it maps."""


class ReadSettings(StrictModel):
    """How the files are read and their values translated: for the whole export at the top of
    ``mapping.yml``, or for one object (which then wins)."""

    encoding: str | None = Field(None, description="utf-8 (BOM or not), utf-16, latin-1, gbk, gb18030, ...")
    delimiter: str | None = Field(None, min_length=1, description="default ,")
    quote: str | None = Field(None, min_length=1, max_length=1, description='default "')
    timestamp_format: str | None = Field(None, description="strptime format; default ISO 8601")
    timezone: str | None = Field(None, description="zone of times without an offset; default UTC")
    channels: dict[str, str] | None = Field(None, description="export value: canonical channel")
    directions: dict[str, str] | None = Field(None, description="export value: inbound|outbound|internal")


class ObjectMapping(ReadSettings):
    files: str | None = Field(None, description="file name glob; default <object>*")
    columns: dict[str, str | None] = Field(default_factory=dict,
                                           description="canonical field: source column header")


class MappingFile(ReadSettings):
    source_system: str | None = Field(None, pattern=SOURCE_SYSTEM.pattern,
                                      description="default: the folder name")
    objects: dict[Literal["communications", "customers"], ObjectMapping | None] = Field(min_length=1)


def _sql_text(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _value_map(column: str, values: Mapping[str, str]) -> str:
    """Translate source values (compared trimmed, case-insensitive); others pass through."""
    if not values:
        return column
    cases = " ".join(f"when {_sql_text(str(k).strip().lower())} then {_sql_text(v)}"
                     for k, v in values.items())
    return f"case lower(trim({column})) {cases} else {column} end"


def _utc_text(column: str, fmt: str | None, timezone: str) -> str:
    """A timestamp as UTC text: parsed with ``fmt`` (strptime) or as ISO 8601; times without
    an offset are in ``timezone``."""
    zone = _sql_text(timezone)
    if fmt and "%z" in fmt:
        parsed = f"try_strptime(trim({column}), {_sql_text(fmt)})"
    elif fmt:
        parsed = f"timezone({zone}, try_strptime(trim({column}), {_sql_text(fmt)}))"
    else:
        parsed = (f"case when regexp_matches(trim({column}), '(Z|[+-]\\d\\d:?\\d\\d)$') "
                  f"then try_cast(trim({column}) as timestamptz) "
                  f"else timezone({zone}, try_cast(trim({column}) as timestamp)) end")
    return f"cast({parsed} as varchar)"


@dataclass(frozen=True)
class MappedObject(ExportObject):
    """A canonical object whose columns come from a mapping rather than fixed headers."""

    file_glob: str = "*"
    columns_map: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    timestamp_format: str | None = None
    timezone: str = "UTC"
    mapping_file: Path = Path()

    @property
    def table(self) -> str:
        return f"raw.mapped__{self.name}"

    def matches(self, path: Path) -> bool:
        return path.name != MAPPING_FILE and fnmatch.fnmatch(path.name.lower(), self.file_glob.lower())

    def projection(self, present: Mapping[str, str]) -> dict[str, str]:
        absent = [c for c in self.columns_map.values() if normalise_header(c) not in present]
        if absent:
            headers = ", ".join(shown_header(c.strip('"')) for c in present.values())
            raise MappingError(f"column(s) {', '.join(absent)} named in {self.mapping_file} are not in "
                               f"the file; it has {headers}")
        exprs = {}
        for fld in self.fields:
            source = self.columns_map.get(fld.name)
            column = present[normalise_header(source)] if source else "null"
            if fld.name in self.values:
                column = _value_map(column, self.values[fld.name])
            if fld.name in TIMESTAMP_FIELDS and source:
                exprs[f"_src_{fld.name}"] = column
                column = _utc_text(column, self.timestamp_format, self.timezone)
            exprs[fld.name] = column
        return exprs


def _unparseable(column: str) -> tuple[str, str]:
    return (f"nullif(trim(_src_{column}), '') is not null and {column} is null",
            f"unparseable {column}")


def _mapped_object(name: str, spec: ObjectMapping, defaults: ReadSettings, source_system: str,
                   mapping_file: Path) -> MappedObject:
    settings = {**defaults.model_dump(exclude_none=True), **spec.model_dump(exclude_none=True)}
    canonical = _OBJECTS[name]
    columns = {k: v for k, v in spec.columns.items() if v}
    extra = ("updated_at",) if name == "communications" else ()
    unknown = set(columns) - set(canonical.columns) - set(extra)
    lacking = [c for c in _REQUIRED[name] if c not in columns]
    if unknown or lacking:
        raise MappingError(f"{mapping_file}: objects.{name}.columns: " + "; ".join(filter(None, [
            unknown and f"unknown field(s) {', '.join(sorted(unknown))} (allowed: "
                        f"{', '.join((*canonical.columns, *extra))})",
            lacking and f"no source column for {', '.join(lacking)}"])))
    fields = (*canonical.fields, *(col(c) for c in extra))
    checks = (*(missing(c) for c in _REQUIRED[name]),
              *(_unparseable(c) for c in TIMESTAMP_FIELDS if c in columns),
              *((future_timestamp("occurred_at"),) if name == "communications" else ()))
    values = {"channel": settings.get("channels") or {}, "direction": settings.get("directions") or {}}
    return MappedObject(
        source_system, name, fields, (), checks,
        file_glob=settings.get("files", f"{name}*"),
        columns_map=columns,
        values={k: v for k, v in values.items() if v and k in columns},
        timestamp_format=settings.get("timestamp_format"),
        timezone=settings.get("timezone", "UTC"),
        read=ReadOptions(settings.get("encoding", "utf-8"), settings.get("delimiter", ","),
                         settings.get("quote", '"')),
        mapping_file=mapping_file,
    )


def load_mapping(folder: Path) -> tuple[MappedObject, ...]:
    """The objects a mapped export folder declares, validated before any file is read."""
    mapping_file = folder / MAPPING_FILE
    try:
        spec = load_config_file(mapping_file, MappingFile)
    except ConfigFileError as exc:
        raise MappingError(str(exc)) from None
    source_system = spec.source_system or folder.name
    if not SOURCE_SYSTEM.fullmatch(source_system):
        raise MappingError(f"{mapping_file}: source_system: the folder name {source_system!r} cannot name "
                           "the source: set source_system (lower-case letters, digits, underscores)")
    defaults = ReadSettings(**spec.model_dump(include=set(ReadSettings.model_fields)))
    return tuple(_mapped_object(name, obj or ObjectMapping(), defaults, source_system, mapping_file)
                 for name, obj in spec.objects.items())


def mapping_problems(exports_dir: Path) -> list[str]:
    """What is wrong with each ``mapped/<name>/mapping.yml``: checked when the night starts
    and by the set-up, so a bad mapping is reported before its folder fails to load."""
    problems = []
    for mapping_file in sorted((exports_dir / "mapped").glob(f"*/{MAPPING_FILE}")):
        try:
            load_mapping(mapping_file.parent)
        except MappingError as exc:
            log.warning("%s", exc)
            problems.append(str(exc))
    return problems
