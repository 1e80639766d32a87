"""A night of the whole DAG on the bundled sample leaves no plain e-mail or phone of any sample
customer in the task logs, the log records or the MLflow store (database and every artifact),
and every file and folder it creates is readable by its owner only."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import logging
import stat
from pathlib import Path

import pytest

from crm_followups.cli.nightly import run_nightly
from crm_followups.cli.stack import set_up
from crm_followups.core.settings import Settings

pytestmark = pytest.mark.e2e

RUN_DATE = dt.date(2026, 3, 2)


@pytest.fixture(scope="module")
def night() -> tuple[Settings, str]:
    """The night, with everything its tasks print and log (Airflow prints task logs under
    dag.test; earlier tests may have bound its handlers to the real streams, so the log records
    are captured at the root logger too)."""
    settings = Settings()
    printed = io.StringIO()
    records = logging.StreamHandler(printed)
    root = logging.getLogger()
    level = root.level
    root.addHandler(records)
    root.setLevel(logging.INFO)
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            set_up(settings)
            run_nightly(settings, RUN_DATE)
    finally:
        root.removeHandler(records)
        root.setLevel(level)
    return settings, printed.getvalue()


def _contact_details(settings: Settings) -> set[str]:
    """The sample customers' e-mails and phones, as delivered."""
    values = set()
    for path in (settings.exports_dir / "generic").glob("customers_*.csv"):
        with path.open(encoding="utf-8") as f:
            for row in csv.DictReader(f):
                values |= {v.strip() for v in (row["email"], row["phone"]) if v and v.strip()}
    return values


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_no_contact_detail_in_logs_or_mlflow(night):
    settings, logged = night
    details = _contact_details(settings)
    assert len(details) > 100, "the sample's customers have e-mails and phones"
    stores = _files(settings.airflow_home / "logs") + _files(settings.mlflow_dir)
    found = [(str(path), value) for path in stores
             for content in [path.read_bytes()] for value in details if value.encode() in content]
    assert found == []
    assert "[DAG TEST] end task task_id=followups" in logged, "the night's task logs were captured"
    assert [value for value in details if value in logged] == []


def test_model_input_examples_are_synthetic(night):
    settings, _ = night
    examples = [p for p in _files(settings.mlflow_dir) if p.name == "input_example.json"]
    assert examples, "every model is logged with an input example"
    assert all("Pricing question" in p.read_text(encoding="utf-8") for p in examples)


def test_every_file_of_the_night_is_its_owners_alone(night):
    settings, _ = night
    for path in (settings.warehouse_path, settings.mlflow_dir / "mlflow.db",
                 settings.airflow_home / "airflow.db", settings.data_dir / "hash_salt"):
        assert path.exists(), path
    widened = [f"{path} {stat.filemode(path.stat().st_mode)}"
               for path in [settings.data_dir, *settings.data_dir.rglob("*")]
               if not path.is_symlink() and path.stat().st_mode & 0o077]
    assert widened == []
