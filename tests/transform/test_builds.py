"""When the night's dbt build is due: whenever raw, the dbt project, the salt or the versions
changed since the last recorded build, and only then. Real DuckDB files; no dbt run needed."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from crm_followups.core.settings import DBT_PROJECT_DIR, Settings
from crm_followups.core.warehouse import connect, create_raw_tables, create_warehouse
from crm_followups.transform.builds import project_digest, record_build, transform_decision

COMMUNICATIONS = "raw.communications"


@pytest.fixture
def warehouse(settings: Settings) -> Settings:
    create_warehouse(settings)
    with connect(settings) as con:
        create_raw_tables(con, [(COMMUNICATIONS, ["communication_id", "body"])])
        _load(con, 3, "2026-11-01")
    return settings


def _load(con, rows: int, day: str) -> None:
    con.execute(f"""insert into {COMMUNICATIONS} (communication_id, body, _loaded_at)
                    select 'c' || range, 'text', ?::timestamptz from range(?)""", [day, rows])


def _built(settings: Settings, run_id: str = "night-1") -> None:
    decision = transform_decision(settings)
    assert decision.due
    record_build(settings, run_id, decision.as_dict())


def test_the_first_build_is_due_and_the_same_inputs_then_skip_it(warehouse: Settings):
    first = transform_decision(warehouse)
    assert first.due and first.reason == "no dbt build recorded in this warehouse yet"
    record_build(warehouse, "night-1", first.as_dict())
    again = transform_decision(warehouse)
    assert not again.due
    assert again.fingerprint == first.fingerprint
    assert "since the build of run night-1" in again.reason


def test_new_rows_in_raw_make_it_due_naming_the_table(warehouse: Settings):
    _built(warehouse)
    with connect(warehouse) as con:
        _load(con, 2, "2026-11-02")
    decision = transform_decision(warehouse)
    assert decision.due
    assert f"{COMMUNICATIONS} (3 -> 5 rows)" in decision.reason
    assert decision.changed_tables == [COMMUNICATIONS], "only the models reading it are due"
    assert not decision.full_refresh


def test_rows_deleted_from_raw_make_it_due(warehouse: Settings):
    """An erasure or the retention job deletes raw rows: the marts must lose them too."""
    _built(warehouse)
    with connect(warehouse) as con:
        con.execute(f"delete from {COMMUNICATIONS} where communication_id = 'c0'")
    assert "(3 -> 2 rows)" in transform_decision(warehouse).reason


def test_the_same_count_loaded_later_still_makes_it_due(warehouse: Settings):
    """Rows deleted and as many loaded since: the count alone would not tell."""
    _built(warehouse)
    with connect(warehouse) as con:
        con.execute(f"delete from {COMMUNICATIONS} where communication_id = 'c0'")
        _load(con, 1, str(dt.date(2026, 11, 3)))
    assert transform_decision(warehouse).due


def test_another_salt_makes_it_due(warehouse: Settings):
    _built(warehouse)
    rotated = Settings(data_dir=warehouse.data_dir, configured_hash_salt="another salt")
    decision = transform_decision(rotated)
    assert "the hashing salt" in decision.reason
    assert decision.changed_tables is None, "every model is due"
    assert decision.full_refresh, "the incremental tables' rows were hashed with the old salt"


def test_a_changed_project_rebuilds_the_incremental_tables_in_full(warehouse: Settings, monkeypatch):
    """New SQL must reach the rows incremental tables already hold, not only the new ones."""
    from crm_followups.transform import builds

    _built(warehouse)
    monkeypatch.setattr(builds, "project_digest", lambda: "a deployed change")
    decision = transform_decision(warehouse)
    assert decision.due and decision.full_refresh and decision.changed_tables is None
    assert "the dbt project's files" in decision.reason and "rebuilt in full" in decision.reason


def test_forcing_builds_whatever_changed(warehouse: Settings):
    _built(warehouse)
    forced = transform_decision(warehouse, force=True)
    assert forced.due and forced.changed_tables is None


def test_the_project_digest_follows_the_project_files_not_dbts_output(tmp_path: Path):
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    digest = project_digest(project)
    assert digest == project_digest(DBT_PROJECT_DIR)
    (project / "target").mkdir()
    (project / "target" / "manifest.json").write_text("{}")
    assert project_digest(project) == digest
    model = next((project / "models" / "marts").rglob("*.sql"))
    model.write_text(model.read_text() + "\n-- a deployed change\n")
    assert project_digest(project) != digest


def test_a_build_replaces_the_record_so_rerunning_a_date_adds_no_row(warehouse: Settings):
    _built(warehouse, "night-1")
    with connect(warehouse) as con:
        _load(con, 1, "2026-11-02")
    _built(warehouse, "night-2")
    with connect(warehouse) as con:
        assert con.execute("select run_id from raw._last_dbt_build").fetchall() == [("night-2",)]
