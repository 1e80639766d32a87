"""The engagement test against the sample's planted ground truth, through the product's own
extract and dbt build on a real DuckDB file: 5,000 customers over 180 days, seed 7."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest

from crm_followups.core.settings import Settings
from crm_followups.extract.load import load_exports
from crm_followups.followups.rules import load_rules
from crm_followups.sample.generate import write_export
from crm_followups.transform.dbt_runner import build_warehouse
from ml.engagement import engagement_changes

RUN_DATE = dt.date(2026, 3, 2)


@pytest.fixture(scope="module")
def flagged_and_planted(tmp_path_factory) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What the test flags on the warehouse of a 5,000-customer sample, and what was planted."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("engagement") / "data")
    settings.ensure_dirs()
    export = write_export(settings.exports_dir / "generic", RUN_DATE, customers=5000, days=180, seed=7)
    load_exports(settings)
    build_warehouse(settings)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        flagged = engagement_changes(con, RUN_DATE, load_rules().engagement.test_thresholds())
    return flagged, pd.read_csv(export.planted)


@pytest.mark.parametrize("signal", ["declining", "spike"])
def test_planted_changes_are_found_with_few_false_alarms(flagged_and_planted, signal):
    flagged, planted = flagged_and_planted
    found = set(flagged.loc[flagged["signal"] == signal, "customer_id"])
    truth = set(planted.loc[planted["signal"] == signal, "customer_id"])
    assert len(truth) >= 90
    assert len(found & truth) >= 0.8 * len(truth), "recall"
    assert len(found & truth) >= 0.8 * len(found), "precision"

