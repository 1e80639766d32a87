"""Settings come from ``CRM_*`` variables, typed: a bad value fails when read, by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from crm_followups.core.settings import Settings


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CRM_SCORE_BUCKETS", "3")
    monkeypatch.setenv("CRM_MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    settings = Settings()
    assert settings.warehouse_path == tmp_path / "data" / "warehouse.duckdb"
    assert settings.score_buckets == 3
    assert settings.mlflow_tracking_uri == "http://127.0.0.1:5000"


def test_a_relative_data_folder_is_pinned_to_an_absolute_path(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert Settings(data_dir=Path("var")).data_dir == tmp_path / "var"


def test_a_bad_value_fails_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_SCORE_BUCKETS", "0")
    with pytest.raises(ValidationError, match="score_buckets"):
        Settings()


def test_the_generated_salt_is_kept_and_private(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.delenv("CRM_HASH_SALT", raising=False)
    fresh = Settings(data_dir=settings.data_dir)
    salt = fresh.hash_salt
    assert Settings(data_dir=settings.data_dir).hash_salt == salt
    assert (settings.data_dir / "hash_salt").stat().st_mode & 0o077 == 0
