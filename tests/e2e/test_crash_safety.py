"""A night killed at any writing step, then run again, gives the tables of a night never killed.

The steps run in the DAG's order in this process, on the same functions the DAG's thin task
bodies call (dbt as one ``dbt build`` rather than a task per model): each fault is an
exception raised where a kill would leave the most behind, after the step wrote part or all of
its output (the warehouse working copy, the MLflow registry, scratch Parquet, the outbox).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import itertools
import os
from pathlib import Path

import duckdb
import pytest

from crm_followups.core import nights
from crm_followups.core.settings import Settings
from crm_followups.delivery import publish
from crm_followups.extract import load
from crm_followups.followups import build
from crm_followups.followups.rules import load_rules
from crm_followups.sample.generate import write_export
from crm_followups.transform import dbt_runner
from ml import score_partitions, train, trends

pytestmark = pytest.mark.e2e

RUN_DATE = dt.date(2026, 3, 2)
RUN_ID = "manual__2026-03-02T00:00:00+00:00"

# Columns that record when or in which run something was written, not what: they differ
# between any two nights. file_mtime is the export file's, written anew in each data folder.
VOLATILE = {"_loaded_at", "loaded_at", "scored_at", "superseded_at", "created_at", "mlflow_run_id",
            "dag_run_id", "_batch_id", "batch_id", "file_mtime", "last_loaded_at"}
# created_at of customers is the CRM's own, not a load time
KEPT = {("marts", "dim_customers", "created_at"), ("marts", "snp_customers", "created_at")}


class NightKilledError(RuntimeError):
    """Stands for the task's process dying at this point."""


def run_night(settings: Settings) -> None:
    """The DAG's steps, in its order, for RUN_DATE: each through its module, so a fault can
    be put in any of them."""
    night = settings.for_night(RUN_ID)
    nights.begin_night(night)
    load.load_exports(night, batch_id=RUN_ID)
    dbt_runner.check_source_freshness(night)
    dbt_runner.build_warehouse(night)
    train.train_models(night)
    partitions = score_partitions.snapshot_unscored(night, RUN_ID)
    for partition in partitions:
        score_partitions.score_partition(night, partition)
    score_partitions.merge_partition_scores(night, partitions)
    rules = load_rules()
    trends.forecast_trends(night, RUN_DATE, negative_below=rules.negative_sentiment_below,
                           engagement=rules.engagement.test_thresholds())
    build.build_followups(night, RUN_DATE, RUN_ID)
    publish.publish_followups(night, RUN_DATE)
    nights.publish_night(night)


# step: (function the fault is put in, which call of it, killed after the call rather than before)
FAULTS = {
    "extract": ("crm_followups.extract.load.load_export_file", 1, True),  # one file of two loaded
    "dbt": ("crm_followups.transform.dbt_runner.build_warehouse", 1, True),
    # the topic champion is registered and promoted, its ml.topics rows not yet written
    "train": ("ml.train.topic_table", 1, False),
    # the scores are committed; their MLflow run and the scratch clean-up are not done
    "scoring": ("ml.score_partitions.log_distribution", 1, False),
    "trends": ("ml.trends.forecast_trends", 1, True),
    "followups": ("crm_followups.followups.build.build_followups", 1, True),
    "outbox": ("crm_followups.delivery.publish.write_report", 1, False),  # the CSV is written
    # the working copy is renamed over the published file, its folder not yet removed
    # (publish_night's one call of _night_dir; begin_night made the first)
    "publish": ("crm_followups.core.nights._night_dir", 2, False),
}


@contextlib.contextmanager
def killed_at(target: str, call: int, after: bool):
    """``target`` raises NightKilledError at its ``call``-th call, before or after doing its work."""
    module_name, name = target.rsplit(".", 1)
    module = importlib.import_module(module_name)
    real, calls = getattr(module, name), itertools.count(1)

    def faulty(*args, **kwargs):
        n = next(calls)
        if n == call and not after:
            raise NightKilledError(target)
        result = real(*args, **kwargs)
        if n == call:
            raise NightKilledError(target)
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, name, faulty)
        yield


def _rows(con: duckdb.DuckDBPyConnection, schema: str, table: str, data_dir: Path) -> list[tuple]:
    """The table's rows without volatile columns, sorted, with the data folder's path neutral."""
    columns = [c for (c,) in con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position", [schema, table]).fetchall()
        if c not in VOLATILE or (schema, table, c) in KEPT]
    rows = con.execute(f"select {', '.join(columns)} from {schema}.{table}").fetchall()
    folder = str(data_dir)
    return sorted((tuple(v.replace(folder, "<data>") if isinstance(v, str) else v for v in row)
                   for row in rows), key=repr)


def warehouse_tables(settings: Settings) -> dict[str, list[tuple]]:
    """Every table of the published warehouse, as comparable rows."""
    with duckdb.connect(str(settings.published_warehouse_path), read_only=True) as con:
        tables = con.execute("""select table_schema, table_name from information_schema.tables
                                where table_type = 'BASE TABLE' order by 1, 2""").fetchall()
        return {f"{s}.{t}": _rows(con, s, t, settings.data_dir) for s, t in tables}


def _data_folder(root: Path) -> Settings:
    settings = Settings(data_dir=root, configured_hash_salt="crash-safety", file_settle_seconds=0)
    settings.ensure_dirs()
    write_export(settings.exports_dir / "generic", RUN_DATE, customers=60, days=60)
    return settings


@pytest.fixture(autouse=True)
def _own_mlflow_uri(monkeypatch):
    """MLflow writes the tracking URI into the environment: restore the session's afterwards."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", os.environ.get("MLFLOW_TRACKING_URI", ""))


def _outbox(settings: Settings) -> list[str]:
    return (settings.outbox_dir / f"followups_{RUN_DATE}.csv").read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def clean_night(tmp_path_factory) -> tuple[dict[str, list[tuple]], list[str]]:
    """The reference: one night never killed, in a data folder of its own."""
    settings = _data_folder(tmp_path_factory.mktemp("clean"))
    run_night(settings)
    tables = warehouse_tables(settings)
    assert tables["marts.followups"] and tables["ml.topics"] and tables["ml.communication_scores"]
    return tables, _outbox(settings)


@pytest.mark.parametrize("step", FAULTS)
def test_a_night_killed_at_a_step_then_run_again_equals_an_uninterrupted_one(step, clean_night, tmp_path):
    clean_tables, clean_outbox = clean_night
    settings = _data_folder(tmp_path / "data")
    with killed_at(*FAULTS[step]), pytest.raises(NightKilledError):
        run_night(settings)
    run_night(settings)
    tables = warehouse_tables(settings)
    assert tables.keys() == clean_tables.keys()
    for table, rows in clean_tables.items():
        assert tables[table] == rows, f"{table} differs after a night killed at {step}"
    assert len(_outbox(settings)) == len(clean_outbox)
    assert not list((settings.data_dir / "nights").iterdir()), "the published night left its folder"
    assert not nights.wal_path(settings.published_warehouse_path).exists()
