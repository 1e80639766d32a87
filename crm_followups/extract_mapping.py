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
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from crm_followups.extract_sources import (
    GENERIC_COMMUNICATIONS,
    GENERIC_CUSTOMERS,
    ExportObject,
    ReadOptions,
    f,
    missing,
    normalise_header,
)

MAPPING_FILE = "mapping.yml"
TIMESTAMP_FIELDS = ("occurred_at", "created_at", "updated_at")
_OBJECTS = {"communications": GENERIC_COMMUNICATIONS, "customers": GENERIC_CUSTOMERS}
_REQUIRED = {"communications": ("communication_id", "customer_id", "occurred_at"),
             "customers": ("customer_id",)}


class MappingError(ValueError):
    """A mapping file that cannot be used, or that does not fit the file it maps."""


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
            headers = ", ".join(c.strip('"') for c in present.values())
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


def _mapped_object(name: str, spec: dict, defaults: dict, source_system: str,
                   mapping_file: Path) -> MappedObject:
    settings = {**defaults, **spec}
    canonical = _OBJECTS[name]
    columns = {k: v for k, v in (settings.get("columns") or {}).items() if v}
    extra = ("updated_at",) if name == "communications" else ()
    unknown = set(columns) - set(canonical.columns) - set(extra)
    lacking = [c for c in _REQUIRED[name] if c not in columns]
    if unknown or lacking:
        raise MappingError(f"{mapping_file}: {name}: " + "; ".join(filter(None, [
            unknown and f"unknown field(s) {', '.join(sorted(unknown))}",
            lacking and f"no source column for {', '.join(lacking)}"])))
    fields = (*canonical.fields, *(f(c) for c in extra))
    checks = (*(missing(c) for c in _REQUIRED[name]),
              *(_unparseable(c) for c in TIMESTAMP_FIELDS if c in columns))
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
        spec = yaml.safe_load(mapping_file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise MappingError(f"{mapping_file}: not valid YAML: {exc}") from exc
    source_system = spec.get("source_system", folder.name)
    if not re.fullmatch(r"[a-z][a-z0-9_]*", source_system):
        raise MappingError(f"{mapping_file}: source_system {source_system!r} must be lower-case "
                           "letters, digits and underscores")
    objects = spec.get("objects") or {}
    if not objects or set(objects) - set(_OBJECTS):
        raise MappingError(f"{mapping_file}: 'objects' must name communications and/or customers")
    defaults = {k: v for k, v in spec.items() if k not in ("objects", "source_system")}
    return tuple(_mapped_object(name, objects[name] or {}, defaults, source_system, mapping_file)
                 for name in objects)
