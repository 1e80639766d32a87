"""Score communications with the champion models (intent, sentiment, topics), in batches.

Only communications the current champion versions have not scored are read, streamed from
DuckDB as Arrow record batches, so memory stays flat however large the fact table grows.
``ml.communication_scores`` keeps one row per communication, the current champions' view;
the row it replaces moves to ``ml.score_history``. Each scoring run logs the distribution
of what it scored to the ``crm-scoring`` experiment, so drift shows in MLflow.

    python -m ml.score
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import duckdb
import mlflow
import pandas as pd
import pyarrow as pa

from crm_followups.settings import INTENT_MODEL, SCORING_EXPERIMENT, SENTIMENT_MODEL, TOPICS_MODEL, Settings
from crm_followups.warehouse import connect
from ml.features import text_frame
from ml.intent import predict_intents
from ml.sentiment import sentiment_labels
from ml.tracking import champion, load_champion, use_experiment

log = logging.getLogger(__name__)

BATCH_ROWS = 50_000

SCORES_DDL = """
create schema if not exists ml;
create table if not exists ml.communication_scores (
    source_system varchar, communication_id varchar,
    intent varchar, intent_confidence double,
    sentiment double, sentiment_label varchar, topic_id integer,
    intent_model_version varchar, sentiment_model_version varchar, topic_model_version varchar,
    mlflow_run_id varchar, scored_at timestamptz,
    primary key (source_system, communication_id));
create table if not exists ml.score_history as
    select *, scored_at as superseded_at from ml.communication_scores limit 0;"""

# Inbound communications without a row from exactly these champion versions.
UNSCORED_SQL = """
select f.source_system, f.communication_id, f.subject, f.body
from marts.fct_communications f
where f.direction = 'inbound' and not exists (
    select 1 from ml.communication_scores s
    where s.source_system = f.source_system and s.communication_id = f.communication_id
      and s.intent_model_version is not distinct from $intent
      and s.sentiment_model_version is not distinct from $sentiment
      and s.topic_model_version is not distinct from $topic)"""

DISTRIBUTION_SQL = """
select 'intent_share_' || regexp_replace(intent, '[^A-Za-z0-9_.-]', '_', 'g'),
       count(*) / sum(count(*)) over ()
from ml.communication_scores where scored_at = $at group by intent
union all
select 'sentiment_share_' || sentiment_label, count(*) / sum(count(*)) over ()
from ml.communication_scores where scored_at = $at and sentiment_label is not null group by sentiment_label
union all
select unnest(['mean_intent_confidence', 'mean_sentiment']),
       unnest([avg(intent_confidence), avg(sentiment)])
from ml.communication_scores where scored_at = $at"""


@dataclass
class Champions:
    """The champion models of the night and their versions (sentiment and topics optional)."""

    intent: object
    intent_version: str
    intent_run_id: str
    sentiment: object | None = None
    sentiment_version: str | None = None
    topics: object | None = None
    topic_version: str | None = None


def load_champions(settings: Settings) -> Champions | None:
    intent = champion(settings, INTENT_MODEL)
    if intent is None:
        return None
    found = Champions(load_champion(INTENT_MODEL), str(intent.version), intent.run_id)
    if (sentiment := champion(settings, SENTIMENT_MODEL)) is not None:
        found.sentiment, found.sentiment_version = load_champion(SENTIMENT_MODEL), str(sentiment.version)
    if (topics := champion(settings, TOPICS_MODEL)) is not None:
        found.topics, found.topic_version = load_champion(TOPICS_MODEL), str(topics.version)
    return found


def _column(values, kind: pa.DataType, rows: int) -> pa.Array:
    """The values, or nulls where that model has no champion yet."""
    return pa.nulls(rows, kind) if values is None else pa.array(values, kind)


def score_batch(models: Champions, batch: pd.DataFrame) -> pa.Table:
    """The score row of each communication in ``batch`` (scored_at is added on write)."""
    x = text_frame(batch["subject"], batch["body"])
    rows = len(batch)
    intent, confidence = predict_intents(models.intent, x)
    polarity = models.sentiment.predict(x) if models.sentiment else None
    return pa.table({
        "source_system": batch["source_system"], "communication_id": batch["communication_id"],
        "intent": intent, "intent_confidence": confidence,
        "sentiment": _column(polarity, pa.float64(), rows),
        "sentiment_label": _column(None if polarity is None else sentiment_labels(polarity),
                                   pa.string(), rows),
        "topic_id": _column(models.topics.predict(x) if models.topics else None, pa.int32(), rows),
        "intent_model_version": pa.array([models.intent_version] * rows),
        "sentiment_model_version": pa.array([models.sentiment_version] * rows, pa.string()),
        "topic_model_version": pa.array([models.topic_version] * rows, pa.string()),
        "mlflow_run_id": pa.array([models.intent_run_id] * rows),
    })


def write_scores(con: duckdb.DuckDBPyConnection, scores: pa.Table, scored_at: dt.datetime) -> None:
    """Replace each communication's row, keeping the replaced one in ``ml.score_history``."""
    con.register("_scores", scores)
    con.execute("""insert into ml.score_history by name
                   select s.*, $at as superseded_at from ml.communication_scores s
                   semi join _scores n using (source_system, communication_id)""", {"at": scored_at})
    con.execute("insert or replace into ml.communication_scores by name "
                "select *, $at::timestamptz as scored_at from _scores", {"at": scored_at})
    con.unregister("_scores")


def log_distribution(settings: Settings, con: duckdb.DuckDBPyConnection, models: Champions,
                     scored_at: dt.datetime, scored: int) -> None:
    """Share per intent and sentiment label, mean confidence and sentiment of this run's scores."""
    metrics = dict(con.execute(DISTRIBUTION_SQL, {"at": scored_at}).fetchall())
    use_experiment(settings, SCORING_EXPERIMENT)
    with mlflow.start_run(run_name=f"scores {scored_at:%Y-%m-%d %H:%M}"):
        mlflow.set_tags({"intent_model_version": models.intent_version,
                         "sentiment_model_version": models.sentiment_version,
                         "topic_model_version": models.topic_version})
        mlflow.log_metrics({"scored": scored, **{k: float(v) for k, v in metrics.items() if v is not None}})


def score_communications(settings: Settings) -> dict[str, int | str | None]:
    """Score inbound communications the champions have not scored yet."""
    models = load_champions(settings)
    if models is None:
        log.warning("no %s champion yet: nothing scored", INTENT_MODEL)
        return {"scored": 0, "intent_model_version": None}
    scored = 0
    scored_at = dt.datetime.now(dt.UTC)
    versions = {"intent": models.intent_version, "sentiment": models.sentiment_version,
                "topic": models.topic_version}
    with connect(settings) as con:
        con.execute(SCORES_DDL)
        reader = con.cursor().sql(UNSCORED_SQL, params=versions).to_arrow_reader(BATCH_ROWS)
        for batch in reader:
            write_scores(con, score_batch(models, batch.to_pandas()), scored_at)
            scored += batch.num_rows
            log.info("scored %d communications so far", scored)
        if scored:
            log_distribution(settings, con, models, scored_at, scored)
    return {"scored": scored, **{f"{k}_model_version": v for k, v in versions.items()}}


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    print(score_communications(Settings.from_env()))


if __name__ == "__main__":
    main()
