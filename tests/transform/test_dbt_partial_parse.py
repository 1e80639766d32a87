"""dbt's partial parsing stays warm from one night to the next: each night's dbt opens its own
working copy, but through ``nights/current``, so the profile dbt hashes does not change (real
dbt, two nights of a small export)."""

from __future__ import annotations

import datetime as dt

import duckdb

from crm_followups.core.nights import begin_night, publish_night
from crm_followups.core.settings import Settings
from crm_followups.extract.load import load_exports
from crm_followups.sample.generate import write_export
from crm_followups.transform.dbt_runner import run_dbt

STAGING = "stg_generic__communications"


def _night(settings: Settings, run_id: str) -> list[str]:
    """One night's first dbt command, a staging model (and what it reads) built into its
    working copy; returns what dbt logged about parsing the project."""
    night = settings.for_night(run_id)
    begin_night(night)
    load_exports(night, batch_id=run_id)
    log = settings.data_dir / "dbt" / "logs" / "dbt.log"
    logged = log.stat().st_size if log.exists() else 0
    run_dbt(night, "run", "--select", f"+{STAGING}")
    with duckdb.connect(str(night.warehouse_path), read_only=True) as con:  # the night's own copy
        assert con.execute(f"select count(*) from staging.{STAGING}").fetchone()[0] > 0
    publish_night(night)
    with log.open(encoding="utf-8") as lines:
        lines.seek(logged)
        return [line for line in lines if "partial pars" in line.lower()]


def test_the_second_night_parses_only_what_changed(settings):
    write_export(settings.exports_dir / "generic", dt.date(2026, 3, 2), customers=20, days=14)
    first = _night(settings, "scheduled__2026-03-02T00:00:00+00:00")
    assert any("Starting full parse" in line for line in first)
    second = _night(settings, "scheduled__2026-03-03T00:00:00+00:00")
    assert not any("Unable to do partial parsing" in line for line in second), second
    assert any("Partial parsing enabled" in line for line in second), second
