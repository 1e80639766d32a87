"""What each source system exports: its objects, how their files are named, which columns.

A source object lists its fields by the name they get in ``raw.*`` and, for each, the
header names it is found under in real exports (HubSpot's display names and internal
property names, Salesforce API names), compared after :func:`normalise_header`, so
``WhoId``, ``WHOID`` and ``whoid`` are one column and ``Call notes`` is ``call_notes``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DATA_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".parquet")


def normalise_header(header: str) -> str:
    """Lower-case, every run of non-word characters one underscore (Chinese letters stay)."""
    return re.sub(r"\W+", "_", header.strip().lower()).strip("_")


MAX_SHOWN_HEADER = 64


def shown_header(header: str) -> str:
    """A header as an error message may show it: a real column name, or only its length when
    it is long or holds control characters (a header row that is really data or binary)."""
    if len(header) > MAX_SHOWN_HEADER or re.search(r"[\x00-\x1f\x7f]", header):
        return f"<a header of {len(header)} characters>"
    return header


@dataclass(frozen=True)
class Field:
    """One column of a raw table and the export headers it may come from."""

    name: str
    aliases: tuple[str, ...] = ()
    required: bool = False

    @property
    def candidates(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(normalise_header(a) for a in (self.name, *self.aliases)))


def col(name: str, *aliases: str, required: bool = False) -> Field:
    """A raw column declared with the export headers it may come from."""
    return Field(name, aliases, required)


@dataclass(frozen=True)
class ReadOptions:
    """How to read a delimited file: exports of Chinese CRMs are often GBK / GB18030."""

    encoding: str = "utf-8"
    delimiter: str = ","
    quote: str = '"'


@dataclass(frozen=True)
class ExportObject:
    """One kind of file of one source system, landing in one raw table."""

    source_system: str
    name: str
    fields: tuple[Field, ...]
    # file-name patterns (regular expressions over the lower-case file stem)
    patterns: tuple[str, ...]
    # SQL predicates over the projected raw columns that make a row unusable, with the reason
    checks: tuple[tuple[str, str], ...] = ()
    read: ReadOptions = ReadOptions()

    @property
    def table(self) -> str:
        prefix = "" if self.source_system == "generic" else f"{self.source_system}__"
        return f"raw.{prefix}{self.name}"

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(fld.name for fld in self.fields)

    def matches(self, path: Path) -> bool:
        stem = path.name.lower().removesuffix(path.suffix.lower())
        return path.suffix.lower() in DATA_SUFFIXES and any(re.search(p, stem) for p in self.patterns)

    def projection(self, present: Mapping[str, str]) -> dict[str, str]:
        """SQL expression for each raw column over the staged file, whose normalised headers
        map to their quoted names in ``present``; a missing optional column is null."""
        missing = [fld for fld in self.fields if fld.required and not _first(fld, present)]
        if missing:
            raise MissingColumnsError([fld.name for fld in missing])
        return {fld.name: _first(fld, present) or "null" for fld in self.fields}


def _first(fld: Field, present: Mapping[str, str]) -> str | None:
    return next((present[c] for c in fld.candidates if c in present), None)


class MissingColumnsError(ValueError):
    """A file lacks columns its object needs."""

    def __init__(self, columns: list[str]) -> None:
        super().__init__(", ".join(columns))
        self.columns = columns


def missing(column: str) -> tuple[str, str]:
    return f"nullif(trim({column}), '') is null", f"missing {column}"


def bad_timestamp(column: str) -> tuple[str, str]:
    return (f"nullif(trim({column}), '') is not null and try_cast({column} as timestamptz) is null",
            f"unparseable {column}")


# The latest event time a load accepts: load time plus CRM_FUTURE_TOLERANCE_HOURS, set on the
# connection by the extract run (crm_followups.extract.load.load_exports).
FUTURE_LIMIT_VARIABLE = "crm_future_limit"


def future_timestamp(column: str) -> tuple[str, str]:
    """An event time after the load (beyond the tolerance) is a clock or export error: it would
    become a customer's last contact and a daily aggregate of a year to come. Times without a
    zone are UTC (the connection's zone); HubSpot's epoch milliseconds are read as such."""
    value = f"trim({column})"
    parsed = (f"case when regexp_matches({value}, '^\\d{{12,13}}$') "
              f"then to_timestamp(cast({value} as bigint) / 1000) else try_cast({value} as timestamptz) end")
    return (f"{parsed} > getvariable('{FUTURE_LIMIT_VARIABLE}')",
            f"{column} in the future (after the load time plus CRM_FUTURE_TOLERANCE_HOURS)")


def bad_export_timestamp(column: str) -> tuple[str, str]:
    """Like :func:`bad_timestamp`, also accepting epoch milliseconds (HubSpot's API values)."""
    return (f"nullif(trim({column}), '') is not null and not regexp_matches(trim({column}), "
            f"'^\\d{{12,13}}$') and try_cast(trim({column}) as timestamptz) is null",
            f"unparseable {column}")


def _stem_is(*names: str) -> tuple[str, ...]:
    """Salesforce names its files after the object (``Task.csv``, ``Task_2.csv`` when split)."""
    return tuple(rf"^{n}(_\d+)?$" for n in names)


def _word(*words: str) -> tuple[str, ...]:
    """HubSpot names exports freely (``hubspot-crm-exports-all-calls-2026-02-01``)."""
    return tuple(rf"(^|[^a-z]){w}([^a-z]|$)" for w in words)


# --- generic: the canonical export -----------------------------------------------------------

GENERIC_COMMUNICATIONS = ExportObject(
    "generic", "communications",
    tuple(col(c, required=True) for c in ("communication_id", "customer_id", "channel", "direction",
                                        "occurred_at", "subject", "body", "agent_id", "label")),
    (r"^communications",),
    (missing("communication_id"), missing("customer_id"), missing("occurred_at"),
     bad_timestamp("occurred_at"), future_timestamp("occurred_at")),
)
GENERIC_CUSTOMERS = ExportObject(
    "generic", "customers",
    (*(col(c, required=True) for c in ("customer_id", "name", "email", "phone", "company", "segment",
                                     "country", "created_at", "updated_at")),
     *(col(c) for c in ("owner_id", "annual_value", "do_not_contact", "email_opt_out"))),
    (r"^customers",),
    (missing("customer_id"), bad_timestamp("created_at"), bad_timestamp("updated_at")),
)

# --- HubSpot: exports from the CRM's index pages, display names or internal property names ---

_HS_ENGAGEMENT = (
    col("hs_object_id", "Record ID", required=True),
    col("hs_timestamp", "Activity date", required=True),
    col("hubspot_owner_id", "Activity assigned to", "Owner ID"),
    col("associated_contact_ids", "Associated Contact IDs", "Associated Contact ID", "contact_ids"),
    col("associated_company_ids", "Associated Company IDs", "Associated Company ID", "company_ids"),
    col("hs_lastmodifieddate", "Last Modified Date"),
)
_HS_CHECKS = (missing("hs_object_id"), missing("hs_timestamp"), bad_export_timestamp("hs_timestamp"),
              future_timestamp("hs_timestamp"),
              ("nullif(trim(associated_contact_ids), '') is null", "no associated contact"))


def _hubspot_engagement(name: str, words: tuple[str, ...], *fields: Field) -> ExportObject:
    return ExportObject("hubspot", name, (*_HS_ENGAGEMENT, *fields), _word(*words), _HS_CHECKS)


HUBSPOT_OBJECTS = (
    _hubspot_engagement("calls", ("calls", "call"),
                        col("hs_call_title", "Call Title"), col("hs_call_body", "Call notes"),
                        col("hs_call_direction", "Call direction"),
                        col("hs_call_disposition", "Call outcome")),
    _hubspot_engagement("emails", ("emails", "email"),
                        col("hs_email_subject", "Email subject"), col("hs_email_text", "Email body"),
                        col("hs_email_direction", "Email direction")),
    _hubspot_engagement("meetings", ("meetings", "meeting"),
                        col("hs_meeting_title", "Meeting name", "Meeting title"),
                        col("hs_meeting_body", "Meeting description"),
                        col("hs_meeting_start_time", "Meeting start time")),
    _hubspot_engagement("notes", ("notes", "note"), col("hs_note_body", "Note body")),
    _hubspot_engagement("tasks", ("tasks", "task"),
                        col("hs_task_subject", "Task Title"), col("hs_task_body", "Notes", "Task notes"),
                        col("hs_task_type", "Task Type"), col("hs_task_status", "Task Status"),
                        col("hs_task_completion_date", "Completed at", "Task completion date")),
    ExportObject("hubspot", "contacts", (
        col("hs_object_id", "Record ID", "Contact ID", required=True),
        col("firstname", "First Name"), col("lastname", "Last Name"), col("email", "Email"),
        col("phone", "Phone Number"), col("mobilephone", "Mobile Phone Number"),
        col("company", "Company Name"), col("country", "Country/Region"),
        col("hubspot_owner_id", "Contact owner"), col("lifecyclestage", "Lifecycle Stage"),
        col("hs_email_optout", "Unsubscribed from all email"),
        col("associatedcompanyid", "Associated Company ID", "Primary Associated Company ID",
          "Associated Company IDs"),
        col("createdate", "Create Date"), col("lastmodifieddate", "Last Modified Date"),
    ), _word("contacts", "contact"), (missing("hs_object_id"),)),
    ExportObject("hubspot", "companies", (
        col("hs_object_id", "Record ID", "Company ID", required=True),
        col("name", "Company name"), col("country", "Country/Region"), col("type", "Type", "Company type"),
        col("industry", "Industry"), col("annualrevenue", "Annual Revenue"),
        col("hs_lastmodifieddate", "Last Modified Date"),
    ), _word("companies", "company"), (missing("hs_object_id"),)),
)

# --- Salesforce: Data Export (Setup > Data Export), one CSV per object, API field names ------

_SF_AUDIT = (col("isdeleted"), col("createddate"), col("lastmodifieddate"))


def _salesforce(name: str, required: tuple[str, ...], optional: tuple[str, ...],
                *checks: tuple[str, str]) -> ExportObject:
    fields = (*(col(c, required=True) for c in required), *(col(c) for c in optional), *_SF_AUDIT)
    return ExportObject("salesforce", name, fields, _stem_is(name), (missing("id"), *checks))


SALESFORCE_OBJECTS = (
    _salesforce("task", ("id", "whoid", "subject"),
                ("accountid", "whatid", "ownerid", "description", "activitydate", "completeddatetime",
                 "status", "tasksubtype", "type", "calltype", "calldisposition"),
                ("nullif(trim(whoid), '') is null", "no WhoId (not linked to a contact or lead)"),
                missing("createddate"), bad_timestamp("createddate"), bad_timestamp("completeddatetime"),
                future_timestamp("createddate"), future_timestamp("completeddatetime")),
    _salesforce("event", ("id", "whoid", "subject"),
                ("accountid", "whatid", "ownerid", "description", "activitydatetime", "startdatetime",
                 "eventsubtype", "type", "location"),
                ("nullif(trim(whoid), '') is null", "no WhoId (not linked to a contact or lead)"),
                missing("createddate"), bad_timestamp("createddate"), bad_timestamp("startdatetime"),
                future_timestamp("createddate"), future_timestamp("startdatetime")),
    _salesforce("emailmessage", ("id", "messagedate"),
                ("activityid", "parentid", "relatedtoid", "subject", "textbody", "fromaddress",
                 "toaddress", "incoming", "status", "createdbyid")),
    _salesforce("contact", ("id", "lastname"),
                ("accountid", "firstname", "email", "phone", "mobilephone", "mailingcountry",
                 "mailingcountrycode", "ownerid", "hasoptedoutofemail", "donotcall")),
    _salesforce("lead", ("id", "lastname"),
                ("firstname", "company", "email", "phone", "country", "countrycode", "ownerid",
                 "hasoptedoutofemail", "donotcall", "isconverted", "convertedcontactid",
                 "annualrevenue", "industry")),
    _salesforce("account", ("id", "name"),
                ("type", "industry", "annualrevenue", "billingcountry", "billingcountrycode",
                 "ownerid")),
)

# The customers a raw row belongs to, per raw table: a DuckDB list over the row's columns.
# Erasure deletes the rows of an erased customer, and extract rejects them when they come
# again. Companies and accounts are not persons; a Salesforce EmailMessage belongs to its task
# (erasure deletes it with the task; docs/privacy.md).
_HS_CONTACT_IDS = r"regexp_split_to_array(trim(associated_contact_ids), '\s*[;,]\s*')"
CUSTOMER_IDS: dict[str, str] = {
    **{table: "[customer_id]" for table in ("raw.communications", "raw.customers",
                                             "raw.mapped__communications", "raw.mapped__customers")},
    **{f"raw.hubspot__{name}": _HS_CONTACT_IDS for name in ("calls", "emails", "meetings", "notes", "tasks")},
    "raw.hubspot__contacts": "[hs_object_id]",
    **{f"raw.salesforce__{name}": "[whoid]" for name in ("task", "event")},
    **{f"raw.salesforce__{name}": "[id]" for name in ("contact", "lead")},
}

GENERIC_OBJECTS = (GENERIC_COMMUNICATIONS, GENERIC_CUSTOMERS)
SOURCE_OBJECTS: dict[str, tuple[ExportObject, ...]] = {
    "generic": GENERIC_OBJECTS,
    "hubspot": HUBSPOT_OBJECTS,
    "salesforce": SALESFORCE_OBJECTS,
}


def object_for(source_system: str, path: Path) -> ExportObject | None:
    """Which object of a source system a file holds, by its name."""
    return next((o for o in SOURCE_OBJECTS.get(source_system, ()) if o.matches(path)), None)
