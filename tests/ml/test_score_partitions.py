"""Scoring split by customer bucket (``ml.score_partitions``) on real components: a DuckDB
file, a real MLflow store with the three champions trained on the bundled sample, Parquet
scratch files, and a second process for the partition that must not open the warehouse."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from crm_followups.core.settings import Settings
from ml.score import score_communications
from ml.score_partitions import merge_partition_scores, run_dir, score_partition, snapshot_unscored
from ml.train import train_intent, train_sentiment, train_topics
from tests.sample_marts import write_sample_communications

BUCKETS = 3
KEY = ["source_system", "communication_id"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Iterator[tuple[Settings, int]]:
    """Champions of all three models, in this data folder's own MLflow store."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("partitions") / "data", score_buckets=BUCKETS)
    settings.ensure_dirs()
    inbound = write_sample_communications(settings)
    assert train_intent(settings).promoted and train_topics(settings).promoted
    assert train_sentiment(settings).promoted
    yield settings, inbound


def _reset_scores(settings: Settings) -> None:
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("drop table if exists ml.communication_scores; drop table if exists ml.score_history")


def _scores(settings: Settings, with_time: bool = False) -> pd.DataFrame:
    columns = "*" if with_time else "* exclude (scored_at)"
    with duckdb.connect(str(settings.warehouse_path)) as con:
        return con.execute(f"select {columns} from ml.communication_scores order by all").df()


def _history_rows(settings: Settings) -> int:
    with duckdb.connect(str(settings.warehouse_path)) as con:
        return con.execute("select count(*) from ml.score_history").fetchone()[0]


def _score_partitioned(settings: Settings, run: str) -> list[dict]:
    partitions = snapshot_unscored(settings, run)
    for partition in partitions:
        score_partition(settings, partition)
    return partitions


def test_partitioned_scoring_gives_the_single_process_scores(trained):
    settings, inbound = trained
    _reset_scores(settings)
    assert score_communications(settings)["scored"] == inbound
    single = _scores(settings)
    _reset_scores(settings)

    partitions = _score_partitioned(settings, "manual__2026-03-02T00:00:00+00:00")
    assert sorted(p["bucket"] for p in partitions) == list(range(BUCKETS))
    merged = merge_partition_scores(settings, partitions)
    assert merged["scored"] == inbound
    partitioned = _scores(settings)
    assert len(partitioned) == inbound and not partitioned.duplicated(KEY).any()
    pd.testing.assert_frame_equal(partitioned, single)
    assert _scores(settings, with_time=True)["scored_at"].nunique() == 1  # one transaction
    assert not settings.scoring_dir.exists() or not any(settings.scoring_dir.iterdir())


def test_a_partition_scores_with_the_warehouse_locked_by_another_process(trained):
    """The partition task runs on any worker while another process holds the DuckDB file."""
    settings, inbound = trained
    _reset_scores(settings)
    partitions = snapshot_unscored(settings, "locked")
    child = """if True:
        import json, sys
        import duckdb
        from crm_followups.core.settings import Settings
        from ml.score_partitions import score_partition
        settings = Settings()
        try:
            duckdb.connect(str(settings.warehouse_path)).close()
            sys.exit("the warehouse was not locked: this check proves nothing")
        except duckdb.IOException as exc:
            assert "lock" in str(exc), exc
        print(json.dumps(score_partition(settings, json.loads(sys.argv[1]))))"""
    env = {**os.environ, "CRM_DATA_DIR": str(settings.data_dir)}
    with duckdb.connect(str(settings.warehouse_path)):  # this process holds the file's lock
        done = subprocess.run([sys.executable, "-c", child, json.dumps(partitions[0])], env=env,
                              capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1])["scored"] > 0
    for partition in partitions[1:]:
        score_partition(settings, partition)
    assert merge_partition_scores(settings, partitions)["scored"] == inbound


def test_rerunning_a_partition_or_the_merge_changes_nothing(trained, tmp_path):
    settings, inbound = trained
    _reset_scores(settings)
    partitions = _score_partitioned(settings, "rerun")
    scores_file = run_dir(settings, "rerun") / "scores" / f"bucket={partitions[0]['bucket']}.parquet"
    first = pq.read_table(scores_file)
    assert score_partition(settings, partitions[0])["scored"] == first.num_rows  # a retried task
    assert pq.read_table(scores_file).equals(first)
    assert not list(scores_file.parent.glob("*.partial"))

    shutil.copytree(run_dir(settings, "rerun"), tmp_path / "scratch")
    assert merge_partition_scores(settings, partitions)["scored"] == inbound
    after_merge = _scores(settings, with_time=True)
    # a retried merge whose first attempt committed but did not get to clean up
    shutil.copytree(tmp_path / "scratch", run_dir(settings, "rerun"))
    assert merge_partition_scores(settings, partitions)["scored"] == 0
    # ... and one after the clean-up
    assert merge_partition_scores(settings, partitions)["scored"] == 0
    pd.testing.assert_frame_equal(_scores(settings, with_time=True), after_merge)
    assert _history_rows(settings) == 0

    # the next night: nothing new, no partitions, and the merge of nothing is a no-op
    assert snapshot_unscored(settings, "next night") == []
    assert merge_partition_scores(settings, [])["scored"] == 0
    pd.testing.assert_frame_equal(_scores(settings, with_time=True), after_merge)


def test_a_missing_partition_file_stops_the_merge_before_it_writes(trained):
    settings, _ = trained
    _reset_scores(settings)
    partitions = snapshot_unscored(settings, "incomplete")
    score_partition(settings, partitions[0])
    with pytest.raises(FileNotFoundError, match=f"bucket={partitions[1]['bucket']}.parquet"):
        merge_partition_scores(settings, partitions)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        assert con.execute("select count(*) from ml.communication_scores").fetchone()[0] == 0
    shutil.rmtree(run_dir(settings, "incomplete"))
