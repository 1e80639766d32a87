"""History through the command: a two-night range before the DAG's start_date, backfilled in
date order on the bundled sample through the real DAG (``dag.test``), then ``status`` and
``followups`` on what it left, and a night that fails loudly."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from crm_followups.cli.app import app

pytestmark = pytest.mark.e2e

FIRST, SECOND = dt.date(2024, 6, 10), dt.date(2024, 6, 11)  # long before any schedule would start


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Its own warehouse and inbox (tests/e2e/test_nightly.py owns the session's); Airflow's
    metadata DB stays the session's, as Airflow reads its home once per process."""
    return tmp_path_factory.mktemp("backfill")


@pytest.fixture
def cli(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CRM_DATA_DIR", str(data_dir))
    return CliRunner()


@pytest.fixture(scope="module")
def backfilled(data_dir: Path):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CRM_DATA_DIR", str(data_dir))
        result = CliRunner().invoke(app, ["run", "--from", str(FIRST), "--to", str(SECOND)])
    return result


def test_a_range_before_start_date_backfills_each_night_in_order(backfilled, data_dir: Path):
    assert backfilled.exit_code == 0, backfilled.output
    # each night ends with its summary, first night first
    assert backfilled.output.index(f"crm_nightly for {FIRST}") < backfilled.output.index(
        f"crm_nightly for {SECOND}")
    # read-write, like the DAG's steps: DuckDB allows one configuration per file in a process
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as con:
        nights = con.execute("""select as_of_date, min(dag_run_id), count(*) from marts.followups
                                group by 1 order by 1""").fetchall()
    assert [n[0] for n in nights] == [FIRST, SECOND]
    assert all(n[2] > 0 for n in nights)


def test_the_summary_says_what_each_step_did(backfilled):
    assert "score:            0 scored: every inbound communication is already scored" in backfilled.output
    assert "extract:          0 files loaded, 0 failed; 0 rows loaded, 0 rejected: no new file" in (
        backfilled.output), "the second night finds only files loaded the night before"
    assert "transform:        skipped: nothing dbt reads changed since the build of run" in backfilled.output
    assert ("check_champions:  crm_intent v1, crm_sentiment v1, crm_topics v1 usable: 0 loaded, 3 unchanged "
            "since they last loaded") in backfilled.output, "the first night's scoring loaded them"
    for step in ("check_config:", "source_freshness:", "transform:", "train:", "score:", "trends:",
                 "followups:"):
        assert step in backfilled.output


def test_status_shows_both_nights_and_their_steps(backfilled, cli: CliRunner):
    result = cli.invoke(app, ["status", "--limit", "2"])
    assert result.exit_code == 0, result.output
    assert f"{SECOND}  success" in result.output and f"{FIRST}  success" in result.output
    assert result.output.index(str(SECOND)) < result.output.index(str(FIRST)), "newest first"
    for step in ("extract", "transform", "score_partition", "followups"):
        assert step in result.output


def test_followups_lists_the_latest_date_by_queue_or_as_csv(backfilled, cli: CliRunner, data_dir: Path):
    table = cli.invoke(app, ["followups"])
    assert table.exit_code == 0, table.output
    assert f"open follow-ups for {SECOND}" in table.output
    csv = cli.invoke(app, ["followups", "--date", str(FIRST), "--csv"])
    assert csv.exit_code == 0, csv.output
    header, *rows = csv.output.splitlines()
    assert header == "queue,priority,score,customer,name,reason,channel,due"
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as con:
        expected = con.execute("""select count(*) from marts.followups
                                  where as_of_date = ? and status = 'open'""", [FIRST]).fetchone()[0]
    assert len(rows) == expected


def test_a_failed_night_exits_non_zero_naming_the_date_step_and_error(backfilled, cli: CliRunner,
                                                                      monkeypatch: pytest.MonkeyPatch):
    from crm_followups.extract import load

    def unreachable(*args, **kwargs):
        raise ConnectionError("export share unreachable")

    monkeypatch.setattr(load, "load_exports", unreachable)  # tasks run in this process
    night = SECOND + dt.timedelta(days=1)
    result = cli.invoke(app, ["run", "--date", str(night)])
    assert result.exit_code == 1
    assert f"crm_nightly for {night} failed" in result.output
    assert "extract failed (ConnectionError: export share unreachable)" in result.output
    status = cli.invoke(app, ["status", "--limit", "1"])
    assert f"{night}  failed" in status.output
    assert "ConnectionError: export share unreachable" in status.output


def test_a_date_before_the_dags_start_date_is_refused(backfilled, cli: CliRunner):
    result = cli.invoke(app, ["run", "--date", "1999-12-31"])
    assert result.exit_code == 1
    assert "crm_nightly for 1999-12-31 failed: the DAG's start_date is 2000-01-01" in result.output
