"""Every test session gets its own data folder; Airflow reads its configuration from the
environment on first import, so the environment is set before any test module is collected."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

from crm_followups.core.settings import Settings

SESSION_DATA_DIR = Path(tempfile.mkdtemp(prefix="crm-followups-test-"))


def pytest_configure(config: pytest.Config) -> None:
    if "airflow" in sys.modules:
        raise pytest.UsageError("Airflow was imported before conftest.py could set AIRFLOW_HOME")
    settings = Settings(data_dir=SESSION_DATA_DIR)
    settings.ensure_dirs()
    os.environ.update(settings.airflow_env())
    os.environ["CRM_TASK_RETRIES"] = "0"
    # tests write their exports just before loading them: no waiting for files to settle
    os.environ["CRM_FILE_SETTLE_SECONDS"] = "0"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A fresh, empty data folder for tests that do not need Airflow."""
    fresh = Settings(data_dir=tmp_path / "data", file_settle_seconds=0)
    fresh.ensure_dirs()
    return fresh
