"""Scoring split by customer hash bucket, so several Celery workers share the night.

DuckDB lets one process hold the warehouse, so only the first and the last step open it (in
the one-slot ``warehouse`` pool); the CPU-heavy middle runs anywhere, from Parquet to Parquet:

1. ``snapshot_unscored``: the communications the champions have not scored, to
   ``scoring/<run>/unscored/bucket=<k>/`` (k = md5 of the customer id mod N) in the night's
   folder (``Settings.scoring_dir``);
2. ``score_partition``, one mapped task per bucket: streams its Parquet in batches through
   ``ml.score.score_batch`` (the single-process path's code) to ``scores/bucket=<k>.parquet``;
3. ``merge_partition_scores``: every bucket's scores into ``ml.communication_scores`` and
   ``ml.score_history`` in one transaction, the distribution to MLflow, then the scratch goes.

Re-running any step is harmless: a snapshot or partition rewrites its own files, and the merge
writes only rows these champion versions have not written yet.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import shutil
import time
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq

from crm_followups.core.names import INTENT_MODEL
from crm_followups.core.settings import Settings, night_key
from crm_followups.core.warehouse import connect
from ml.score import (
    BATCH_ROWS,
    SCORE_SCHEMA,
    UNSCORED_SQL,
    ChampionVersions,
    champion_versions,
    load_champions,
    log_distribution,
    score_batch,
    write_scores,
)

log = logging.getLogger(__name__)

# md5 rather than DuckDB's hash(): the same customer lands in the same bucket on any engine
# or version. The modulus must be UHUGEINT: UHUGEINT % INTEGER is computed as a DOUBLE.
SNAPSHOT_SQL = """
copy (select source_system, communication_id, subject, body,
             (md5_number(coalesce(customer_id, '')) % $buckets::uhugeint)::integer as bucket
      from ({unscored}))
to '{folder}' (format parquet, partition_by (bucket))"""

TEXT_COLUMNS = ["source_system", "communication_id", "subject", "body"]


def run_dir(settings: Settings, run: str) -> Path:
    return settings.scoring_dir / run


def _unscored_dir(settings: Settings, partition: dict) -> Path:
    return run_dir(settings, partition["run"]) / "unscored" / f"bucket={partition['bucket']}"


def _scores_file(settings: Settings, partition: dict) -> Path:
    return run_dir(settings, partition["run"]) / "scores" / f"bucket={partition['bucket']}.parquet"


def _run_key(run_id: str | None) -> str:
    """A folder name for the Airflow run, or for a run outside Airflow."""
    return night_key(run_id or f"adhoc_{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}")


def snapshot_unscored(settings: Settings, run_id: str | None = None) -> list[dict]:
    """Write what tonight's champion versions have not scored to Parquet, one folder per
    customer bucket, and return one partition per non-empty bucket (the mapped tasks' input)."""
    versions = champion_versions(settings)
    if versions is None:
        log.warning("no %s champion yet: nothing to score", INTENT_MODEL)
        return []
    run = _run_key(run_id)
    folder = run_dir(settings, run)
    shutil.rmtree(folder, ignore_errors=True)  # a retried snapshot starts clean
    (folder / "scores").mkdir(parents=True)
    unscored = folder / "unscored"
    with connect(settings) as con:
        path = str(unscored).replace("'", "''")
        con.execute(SNAPSHOT_SQL.format(unscored=UNSCORED_SQL, folder=path),
                    {**versions.as_params(), "buckets": settings.score_buckets})
    buckets = sorted(int(p.name.removeprefix("bucket=")) for p in unscored.glob("bucket=*"))
    if not buckets:
        shutil.rmtree(folder)
    log.info("snapshot %s: %d customer buckets to score", run, len(buckets))
    return [{"run": run, "bucket": b, "versions": dataclasses.asdict(versions)} for b in buckets]


def score_partition(settings: Settings, partition: dict) -> dict[str, int]:
    """Score one bucket from its Parquet snapshot to its own Parquet file, never opening the
    warehouse; batches stream through, so memory stays flat however big the bucket."""
    models = load_champions(settings, ChampionVersions(**partition["versions"]))
    source = ds.dataset(_unscored_dir(settings, partition), format="parquet")
    target = _scores_file(settings, partition)
    partial = target.with_name(target.name + ".partial")
    scored, started = 0, time.monotonic()
    with pq.ParquetWriter(partial, SCORE_SCHEMA) as writer:
        for batch in source.to_batches(columns=TEXT_COLUMNS, batch_size=BATCH_ROWS,
                                       batch_readahead=1, fragment_readahead=1):
            writer.write_table(score_batch(models, batch.to_pandas()))
            scored += batch.num_rows
            _log_progress(partition["bucket"], scored, started)
    partial.replace(target)  # a retry overwrites its file whole; the merge never sees half
    return {"bucket": partition["bucket"], "scored": scored}


def _log_progress(bucket: int, scored: int, started: float) -> None:
    """After each batch: a long scoring shows it is moving, and how fast."""
    elapsed = max(time.monotonic() - started, 1e-9)
    log.info("bucket %d: scored %d communications (%.0f rows/s)", bucket, scored, scored / elapsed)


def merge_partition_scores(settings: Settings, partitions: list[dict]) -> dict[str, int | str | None]:
    """Write every bucket's scores in one transaction, log their distribution, drop the scratch."""
    if not partitions:
        return {"scored": 0, "intent_model_version": None}
    versions = ChampionVersions(**partitions[0]["versions"])
    folder = run_dir(settings, partitions[0]["run"])
    if not folder.exists():
        log.info("%s is gone: this run's scores were merged already", folder)
        return {"scored": 0, **versions.summary()}
    files = [_scores_file(settings, p) for p in partitions]
    if missing := [str(f) for f in files if not f.exists()]:
        raise FileNotFoundError(f"score partitions not written (did their tasks run?): {missing}")
    scored_at = dt.datetime.now(dt.UTC)
    with connect(settings) as con:
        con.read_parquet([str(f) for f in files]).create_view("_partition_scores")
        con.begin()
        try:
            scored = write_scores(con, "_partition_scores", scored_at)
            con.commit()
        except Exception:
            con.rollback()
            raise
        if scored:
            log_distribution(settings, con, versions, scored_at, scored)
    shutil.rmtree(folder)
    log.info("merged %d scores from %d buckets", scored, len(files))
    return {"scored": scored, **versions.summary()}
