"""CRM_RAW_RETENTION_DAYS: raw deliveries older than the age that a later delivery of the same
record superseded are dropped at the next extract, counted and logged; the latest delivery of
every record stays (dbt rebuilds marts from it); the manifest keeps the files known."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from pathlib import Path

import duckdb

from crm_followups.core.settings import Settings
from crm_followups.extract.load import load_exports
from crm_followups.sample.generate import write_export

RUN_DATE = dt.date(2026, 3, 2)
TABLES = ("raw.customers", "raw.communications", "raw._rejects", "raw._load_manifest")


def _age_everything(settings: Settings) -> None:
    """As if every delivery so far had been loaded ten days ago."""
    with duckdb.connect(str(settings.warehouse_path)) as con:
        for table in ("raw.customers", "raw.communications"):
            con.execute(f"update {table} set _loaded_at = _loaded_at - interval 10 day")
        con.execute("update raw._load_manifest set loaded_at = loaded_at - interval 10 day")


def _counts(settings: Settings) -> dict[str, int]:
    with duckdb.connect(str(settings.warehouse_path)) as con:
        return {t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in TABLES}


def _redeliver(path: Path) -> None:
    """The same records again in a new file (new content: a trailing empty line)."""
    copy = path.with_name(f"{path.stem}_again.csv")
    shutil.copy(path, copy)
    with copy.open("a", encoding="utf-8") as f:
        f.write("\n")


def test_superseded_old_deliveries_are_dropped_and_counted(settings, caplog):
    export = write_export(settings.exports_dir / "generic", RUN_DATE, customers=10, days=7)
    load_exports(settings)
    first = _counts(settings)
    _age_everything(settings)
    _redeliver(export.customers)
    load_exports(settings)  # retention off: both deliveries kept
    assert _counts(settings)["raw.customers"] == 2 * first["raw.customers"]

    retention = Settings(data_dir=settings.data_dir, file_settle_seconds=0, raw_retention_days=7)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        distinct = con.execute("select count(distinct communication_id) from raw.communications").fetchone()
    with caplog.at_level(logging.INFO, logger="crm_followups.extract.retention"):
        summary = load_exports(retention)
    after = _counts(retention)
    assert after["raw.customers"] == first["raw.customers"], "the old delivery of each customer went"
    assert after["raw.communications"] == distinct[0], "a corrected copy replaced its first"
    assert after["raw._rejects"] == 0, "rejects of old deliveries go"
    assert after["raw._load_manifest"] == first["raw._load_manifest"] + 1, "the manifest keeps every file"
    assert summary.as_dict()["files_loaded"] == 0, "files still in the inbox are not loaded again"
    dropped = first["raw.customers"] + first["raw._rejects"] + first["raw.communications"] - distinct[0]
    assert f"dropped {dropped} raw rows" in caplog.text


def test_retention_is_off_by_default(settings):
    assert settings.raw_retention_days is None
    export = write_export(settings.exports_dir / "generic", RUN_DATE, customers=10, days=7)
    load_exports(settings)
    _age_everything(settings)
    _redeliver(export.customers)
    load_exports(settings)
    before = _counts(settings)
    load_exports(settings)
    assert _counts(settings) == before
