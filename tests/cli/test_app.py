"""Every command of ``crm-followups`` through typer's CliRunner, and ``python -m crm_followups``.
The commands that run the DAG on real data are in tests/e2e/test_backfill.py."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from crm_followups.cli import app as app_module
from crm_followups.cli import nightly
from crm_followups.cli.app import app
from crm_followups.cli.metadata import TaskRecord
from crm_followups.core.settings import REPO_ROOT, Settings
from crm_followups.core.warehouse import create_warehouse

COMMANDS = ["setup", "run", "status", "followups", "summary", "sql", "dbt", "ui", "sample"]


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """Commands over the fresh data folder of the ``settings`` fixture."""
    monkeypatch.setenv("CRM_DATA_DIR", str(settings.data_dir))
    return CliRunner()


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
def test_every_command_has_help(command: list[str]):
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_python_dash_m_runs_the_same_app():
    done = subprocess.run([sys.executable, "-m", "crm_followups", "--help"], capture_output=True, text=True,
                          cwd=REPO_ROOT, check=True)
    assert "python -m crm_followups" in done.stdout
    assert all(c in done.stdout for c in COMMANDS)


def test_the_console_script_is_declared():
    assert 'crm-followups = "crm_followups.cli.app:main"' in (REPO_ROOT / "pyproject.toml").read_text()


def test_sample_writes_an_export(cli: CliRunner, tmp_path: Path):
    result = cli.invoke(app, ["sample", "--customers", "50", "--days", "20", "--run-date", "2024-01-10",
                              "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    written = {p.name for p in (tmp_path / "out").iterdir()}
    assert written == {"customers_2024-01-09.csv", "communications_2024-01-09.csv", "ground_truth"}


def test_sql_queries_the_warehouse_and_reports_bad_sql(cli: CliRunner, settings: Settings):
    create_warehouse(settings)
    assert "4242" in cli.invoke(app, ["sql", "select 4242 as answer"]).output
    bad = cli.invoke(app, ["sql", "select * from no_such_table"])
    assert bad.exit_code == 1 and "no_such_table" in bad.output


def test_summary_of_an_empty_warehouse(cli: CliRunner, settings: Settings):
    create_warehouse(settings)
    result = cli.invoke(app, ["summary", "--date", "2024-06-11"])
    assert result.exit_code == 0, result.output
    assert "crm_nightly for 2024-06-11" in result.output and "0 files loaded" in result.output


def test_followups_without_any_says_to_run_first(cli: CliRunner, settings: Settings):
    create_warehouse(settings)
    result = cli.invoke(app, ["followups"])
    assert result.exit_code == 1 and "marts.followups is empty" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--date", "2024-06-11", "--from", "2024-06-10"], "either --date or --from/--to"),
    (["--from", "2024-06-10"], "needs both --from and --to"),
    (["--from", "2024-06-12", "--to", "2024-06-10"], "is after --to"),
    (["--date", "11/06/2024"], "is not a date"),
])
def test_run_refuses_unclear_dates(cli: CliRunner, args: list[str], message: str):
    result = cli.invoke(app, ["run", *args])
    assert result.exit_code == 2 and message in result.output


def test_a_backfill_stops_at_the_first_failed_night_and_says_which(cli: CliRunner,
                                                                   monkeypatch: pytest.MonkeyPatch):
    ran = []

    def night(settings: Settings, date: dt.date, force_train: bool) -> dict:
        ran.append(date)
        if date == dt.date(2024, 6, 11):
            raise nightly.NightFailedError(date, "extract failed")
        return {}

    monkeypatch.setattr(app_module, "set_up", lambda settings: None)
    monkeypatch.setattr(nightly, "run_nightly", night)
    monkeypatch.setattr("crm_followups.delivery.summary.print_summary", lambda *a: None)
    result = cli.invoke(app, ["run", "--from", "2024-06-10", "--to", "2024-06-13"])
    assert result.exit_code == 1
    assert ran == [dt.date(2024, 6, 10), dt.date(2024, 6, 11)]
    assert "crm_nightly for 2024-06-11 failed: extract failed" in result.output
    assert ("backfill stopped at 2024-06-11: 1 of 4 nights done; not run: 2024-06-12 to 2024-06-13"
            in result.output)


def _record(state: str | None, map_index: int = -1) -> TaskRecord:
    return TaskRecord("t", map_index, state, None, None)


@pytest.mark.parametrize(("mapped", "records", "on_purpose", "why"), [
    (False, [_record("success")], set(), None),
    (True, [_record("success", 0), _record("success", 1)], set(), None),
    (True, [_record("skipped")], set(), None),  # mapped over no partitions
    (False, [_record("skipped")], set(), "skipped"),
    (False, [_record("skipped")], {"t"}, None),  # a short-circuit chose to skip it
    (False, [_record("failed")], {"t"}, "failed"),
    (False, [], set(), "never ran (no task instance)"),
    (False, [_record("upstream_failed")], set(), "upstream_failed"),
])
def test_only_success_or_a_skip_on_purpose_counts_as_done(mapped, records, on_purpose, why):
    assert nightly._not_done(SimpleNamespace(task_id="t", is_mapped=mapped), records, on_purpose) == why


def test_ui_serves_the_chosen_ui_on_its_port(cli: CliRunner, monkeypatch: pytest.MonkeyPatch):
    served = []
    monkeypatch.setattr(app_module, "serve_ui", lambda settings, *args: served.append(args))
    assert cli.invoke(app, ["ui", "mlflow"]).exit_code == 0
    assert cli.invoke(app, ["ui", "docs", "--port", "9001"]).exit_code == 0
    assert cli.invoke(app, ["ui", "airflow"]).exit_code == 0
    assert cli.invoke(app, ["ui", "airflow", "--schedule"]).exit_code == 0
    assert served == [("mlflow", 5000, False), ("docs", 9001, False), ("airflow", 8080, False),
                      ("airflow", 8080, True)]
    assert cli.invoke(app, ["ui", "grafana"]).exit_code == 2
    assert "for `ui airflow` only" in cli.invoke(app, ["ui", "mlflow", "--schedule"]).output
    assert len(served) == 4


def test_dbt_passes_its_arguments_through_and_exits_with_dbts_code(cli: CliRunner):
    assert cli.invoke(app, ["dbt", "parse"]).exit_code == 0
    failed = cli.invoke(app, ["dbt", "run-operation", "no_such_macro"])
    assert failed.exit_code in (1, 2) and "no_such_macro" in failed.output
    assert cli.invoke(app, ["dbt"]).exit_code == 2


def test_setup_prepares_the_data_folder(cli: CliRunner, settings: Settings):
    result = cli.invoke(app, ["setup"])
    assert result.exit_code == 0, result.output
    assert settings.warehouse_path.exists() and settings.dbt_manifest_path.exists()


def test_status_steps_group_dbt_and_mapped_tasks_and_carry_the_error():
    from crm_followups.cli.metadata import steps_of

    at = dt.datetime(2024, 6, 11, tzinfo=dt.UTC)

    def task(task_id: str, state: str, start: int | None, end: int | None, map_index: int = -1):
        return TaskRecord(task_id, map_index, state,
                          None if start is None else at + dt.timedelta(seconds=start),
                          None if end is None else at + dt.timedelta(seconds=end))

    steps = steps_of([task("extract", "success", 0, 5),
                      task("transform.stg.run", "success", 5, 9), task("transform.stg.test", "failed", 9, 12),
                      task("train", "upstream_failed", None, None)],
                     {("transform.stg.test", -1): "AssertionError: 3 rows"})
    assert [(s.name, s.state, s.seconds) for s in steps] == [
        ("extract", "success", 5.0), ("transform", "failed", 7.0), ("train", "upstream_failed", None)]
    assert steps[1].error == "transform.stg.test: AssertionError: 3 rows"
