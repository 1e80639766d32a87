"""A night does work in proportion to what is new, judged by what its steps report (their
XComs), not by timing: after a first night on the bundled sample, a night with nothing new
hashes, loads, builds (dbt) and scores nothing, and a night with one small new file loads that file and
scores exactly its inbound rows; neither refits a trend model (they are refitted weekly).
Real Airflow (``dag.test``), dbt, MLflow and DuckDB."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from crm_followups.cli.nightly import run_nightly
from crm_followups.cli.stack import set_up
from crm_followups.core.settings import Settings
from crm_followups.sample.generate import write_new_communications

pytestmark = pytest.mark.e2e

FIRST = dt.date(2025, 5, 5)
NOTHING_NEW, ONE_NEW_FILE = FIRST + dt.timedelta(days=1), FIRST + dt.timedelta(days=2)
SAMPLE_CUSTOMERS = 200  # the bundled sample's, which the first night writes into the empty inbox
NEW_ROWS = 40


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, Path]:
    """Three nights in their own data folder (Airflow's metadata DB stays the session's)."""
    data_dir = tmp_path_factory.mktemp("proportional")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CRM_DATA_DIR", str(data_dir))
        settings = Settings()
        set_up(settings)
        run_nightly(settings, FIRST)
        nothing_new = run_nightly(settings, NOTHING_NEW)
        new_file = write_new_communications(settings.exports_dir / "generic", ONE_NEW_FILE,
                                            SAMPLE_CUSTOMERS, NEW_ROWS, seed=5)
        one_new_file = run_nightly(settings, ONE_NEW_FILE)
    return nothing_new, one_new_file, new_file


def _inbound_rows(path: Path) -> int:
    """Inbound rows of an export file, read apart from the pipeline (direction as staging cleans it)."""
    return int((pd.read_csv(path, dtype=str)["direction"].str.strip().str.lower() == "inbound").sum())


def test_a_night_with_nothing_new_hashes_loads_and_scores_nothing(nights):
    nothing_new, _, _ = nights
    extract = nothing_new["extract"]
    assert (extract["files_hashed"], extract["files_loaded"], extract["rows_loaded"]) == (0, 0, 0)
    assert extract["files_skipped"] == 2, "the sample's customers and communications, unchanged"
    assert "score_partition" not in nothing_new, "no partition to score"
    assert nothing_new["score_merge"]["scored"] == 0
    assert nothing_new["trends"]["refitted"] == 0
    transform = nothing_new["transform"]
    assert transform["built"] is False and "nothing dbt reads changed" in transform["reason"]
    assert (transform["models"], transform["snapshots"], transform["tests"]) == (0, 0, 0), "no dbt task ran"


def test_a_night_with_one_new_file_loads_it_alone_and_scores_only_its_inbound_rows(nights):
    _, one_new_file, new_file = nights
    extract = one_new_file["extract"]
    assert (extract["files_loaded"], extract["files_hashed"], extract["files_skipped"]) == (1, 1, 2)
    assert extract["rows_loaded"] == NEW_ROWS and extract["rows_rejected"] == 0
    inbound = _inbound_rows(new_file)
    assert 0 < inbound < NEW_ROWS
    assert one_new_file["score_merge"]["scored"] == inbound
    assert sum(p["scored"] for p in one_new_file["score_partition"]) == inbound
    assert one_new_file["trends"]["refitted"] == 0
    transform = one_new_file["transform"]
    assert transform["built"] is True and "raw.communications (" in transform["reason"]
    # only the models reading raw.communications build; the customers' and the snapshot are current
    assert transform["models"] > 0 and transform["snapshots"] == 0 and transform["current"] > 0
