"""Personal data helpers: secrets and the data folder are owner-only from their creation, the
product's processes run under an owner-only umask, erasure keys do not name the customer."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from crm_followups.core.privacy import erasure_key, make_private_folder
from crm_followups.core.settings import Settings


@pytest.fixture
def no_chmod(monkeypatch: pytest.MonkeyPatch) -> None:
    """Owner-only from the first byte: nothing may narrow a file's mode after writing it."""
    def refuse(*args, **kwargs):
        raise AssertionError("a mode was changed after creation")

    monkeypatch.setattr(os, "chmod", refuse)
    monkeypatch.setattr(Path, "chmod", refuse)


def test_generated_secrets_are_created_owner_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                  no_chmod: None) -> None:
    monkeypatch.delenv("CRM_HASH_SALT", raising=False)
    previous = os.umask(0)  # even under a permissive umask
    try:
        fresh = Settings(data_dir=tmp_path / "new")
        salts = fresh.hash_salt, fresh.erasure_salt
    finally:
        os.umask(previous)
    assert len(set(salts)) == 2, "two independent secrets"
    for name in ("hash_salt", "erasure_salt"):
        assert stat.S_IMODE((tmp_path / "new" / name).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700
    assert Settings(data_dir=tmp_path / "new").erasure_salt == salts[1], "kept, not regenerated"
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["erasure_salt", "hash_salt"], "no temp"


def test_a_new_data_folder_is_owner_only_and_an_existing_one_is_left_alone(tmp_path: Path) -> None:
    Settings(data_dir=tmp_path / "fresh").ensure_dirs()
    assert stat.S_IMODE((tmp_path / "fresh").stat().st_mode) == 0o700
    (tmp_path / "shared").mkdir(mode=0o750)
    make_private_folder(tmp_path / "shared")
    assert stat.S_IMODE((tmp_path / "shared").stat().st_mode) == 0o750 & ~_umask()


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def test_the_product_runs_under_an_owner_only_umask() -> None:
    import crm_followups  # noqa: F401  (its import sets the umask)

    assert _umask() == 0o077


def test_an_erasure_key_is_salted_and_does_not_name_the_customer() -> None:
    key = erasure_key("salt", "generic", " C000001 ")
    assert key == erasure_key("salt", "generic", "C000001") != erasure_key("other", "generic", "C000001")
    assert key != erasure_key("salt", "hubspot", "C000001") and "C000001" not in key


def test_retention_is_off_unless_set_and_at_least_a_day(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().raw_retention_days is None
    monkeypatch.setenv("CRM_RAW_RETENTION_DAYS", "0")
    with pytest.raises(ValueError, match="raw_retention_days"):
        Settings()
