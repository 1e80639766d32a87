"""The set-up prepares the Airflow metadata DB that this process's nights use."""

from __future__ import annotations

import pytest

from crm_followups.cli.stack import prepare_airflow_metadata
from crm_followups.core.names import WAREHOUSE_POOL


def test_the_metadata_db_is_migrated_and_the_warehouse_pool_has_one_slot() -> None:
    from airflow.models.pool import Pool
    from airflow.utils.db import check_migrations

    prepare_airflow_metadata()
    prepare_airflow_metadata()  # every night's set-up runs it again: a no-op then
    check_migrations(timeout=0)  # raises while a migration is missing
    assert Pool.get_pool(WAREHOUSE_POOL).slots == 1


def test_a_different_airflow_home_than_airflow_read_is_an_error(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    with pytest.raises(RuntimeError, match="nothing may import Airflow before the set-up"):
        prepare_airflow_metadata()
