"""Score communications with the champion models (intent, sentiment, topics), in batches.

Only communications the current champion versions have not scored are read, streamed from
DuckDB as Arrow record batches, so memory stays flat however large the fact table grows.
``ml.communication_scores`` keeps one row per communication, the current champions' view;
the row it replaces moves to ``ml.score_history``. Each scoring run logs the distribution
of what it scored to the ``crm-scoring`` experiment, so drift shows in MLflow.

``score_communications`` does it all in one process; the DAG runs the same pieces split by
customer bucket so workers share the night (``ml.score_partitions``).

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

from crm_followups.core.names import INTENT_MODEL, SCORING_EXPERIMENT, SENTIMENT_MODEL, TOPICS_MODEL
from crm_followups.core.settings import Settings
from crm_followups.core.warehouse import connect
from ml.features import TEXT_COLUMN, text_frame
from ml.intent import predict_intents
from ml.sentiment import sentiment_labels
from ml.topics import predict_topics
from ml.tracking import champion, load_model_version, point_at_store, use_experiment

log = logging.getLogger(__name__)

BATCH_ROWS = 50_000

# Inbound communications without a row from exactly these champion versions.
UNSCORED_SQL = """
select f.source_system, f.communication_id, f.customer_id, f.subject, f.body
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


SCORE_SCHEMA = pa.schema([
    ("source_system", pa.string()), ("communication_id", pa.string()),
    ("intent", pa.string()), ("intent_confidence", pa.float64()),
    ("sentiment", pa.float64()), ("sentiment_label", pa.string()), ("topic_id", pa.int32()),
    ("intent_model_version", pa.string()), ("sentiment_model_version", pa.string()),
    ("topic_model_version", pa.string()), ("mlflow_run_id", pa.string()),
])

# The rows of ``source`` (SCORE_SCHEMA) that these champion versions have not written yet:
# a retried write, or a merge run twice, then changes nothing.
NEW_SCORES_SQL = """
create or replace temp table _new_scores as
select n.* from {source} n
where not exists (
    select 1 from ml.communication_scores s
    where s.source_system = n.source_system and s.communication_id = n.communication_id
      and s.intent_model_version is not distinct from n.intent_model_version
      and s.sentiment_model_version is not distinct from n.sentiment_model_version
      and s.topic_model_version is not distinct from n.topic_model_version)"""


@dataclass(frozen=True)
class ChampionVersions:
    """Which registry versions score tonight, fixed once so every partition uses the same ones
    even if an alias moves mid-night (sentiment and topics are optional)."""

    intent: str
    intent_run_id: str
    sentiment: str | None = None
    topic: str | None = None

    def as_params(self) -> dict[str, str | None]:
        return {"intent": self.intent, "sentiment": self.sentiment, "topic": self.topic}

    def summary(self) -> dict[str, str | None]:
        return {f"{k}_model_version": v for k, v in self.as_params().items()}


@dataclass
class Champions:
    """The champion models of the night, loaded at their fixed versions."""

    versions: ChampionVersions
    intent: object
    sentiment: object | None = None
    topics: object | None = None


def champion_versions(settings: Settings) -> ChampionVersions | None:
    """The current champions' versions (registry metadata only), or None before the first intent model."""
    intent = champion(settings, INTENT_MODEL)
    if intent is None:
        return None
    sentiment, topics = champion(settings, SENTIMENT_MODEL), champion(settings, TOPICS_MODEL)
    return ChampionVersions(str(intent.version), intent.run_id,
                            None if sentiment is None else str(sentiment.version),
                            None if topics is None else str(topics.version))


def load_champions(settings: Settings, versions: ChampionVersions) -> Champions:
    point_at_store(settings)
    return Champions(versions, load_model_version(settings, INTENT_MODEL, versions.intent),
                     versions.sentiment and load_model_version(settings, SENTIMENT_MODEL, versions.sentiment),
                     versions.topic and load_model_version(settings, TOPICS_MODEL, versions.topic))


def _column(values, kind: pa.DataType, rows: int) -> pa.Array:
    """The values, or nulls where that model has no champion yet."""
    return pa.nulls(rows, kind) if values is None else pa.array(values, kind)


def _constant(value: str | None, rows: int) -> pa.Array:
    """``value`` on every row, built by Arrow rather than as a Python list of ``rows`` items."""
    return pa.repeat(pa.scalar(value, pa.string()), rows)


def score_batch(models: Champions, batch: pd.DataFrame) -> pa.Table:
    """The score row of each communication in ``batch`` (scored_at is added on write).

    Each distinct text is scored once and its scores copied to the communications that share
    it (templated mails, one-line replies): every model scores a text on its own, so the
    numbers are the same as scoring every row."""
    text_of, texts = pd.factorize(text_frame(batch["subject"], batch["body"])[TEXT_COLUMN])
    x = pd.DataFrame({TEXT_COLUMN: texts})
    rows, versions = len(batch), models.versions
    intent, confidence = (answer[text_of] for answer in predict_intents(models.intent, x))
    polarity = models.sentiment.predict(x)[text_of] if models.sentiment else None
    topics = predict_topics(models.topics, x)[text_of] if models.topics else None
    return pa.table({
        "source_system": pa.array(batch["source_system"], pa.string()),
        "communication_id": pa.array(batch["communication_id"], pa.string()),
        "intent": pa.array(intent, pa.string()), "intent_confidence": pa.array(confidence, pa.float64()),
        "sentiment": _column(polarity, pa.float64(), rows),
        "sentiment_label": _column(None if polarity is None else sentiment_labels(polarity),
                                   pa.string(), rows),
        "topic_id": _column(topics, pa.int32(), rows),
        "intent_model_version": _constant(versions.intent, rows),
        "sentiment_model_version": _constant(versions.sentiment, rows),
        "topic_model_version": _constant(versions.topic, rows),
        "mlflow_run_id": _constant(versions.intent_run_id, rows),
    }, schema=SCORE_SCHEMA)


def unscored_batches(con: duckdb.DuckDBPyConnection, versions: ChampionVersions) -> pa.RecordBatchReader:
    """Inbound communications these versions have not scored, as a stream of Arrow batches."""
    return con.cursor().sql(UNSCORED_SQL, params=versions.as_params()).to_arrow_reader(BATCH_ROWS)


def write_scores(con: duckdb.DuckDBPyConnection, source: str, scored_at: dt.datetime) -> int:
    """Replace each communication's row with its score from ``source`` (a table or view of
    SCORE_SCHEMA), keeping the replaced one in ``ml.score_history``; rows these versions
    already wrote are left alone. Returns the rows written."""
    con.execute(NEW_SCORES_SQL.format(source=source))
    con.execute("""insert into ml.score_history by name
                   select s.*, $at as superseded_at from ml.communication_scores s
                   semi join _new_scores n using (source_system, communication_id)""", {"at": scored_at})
    con.execute("insert or replace into ml.communication_scores by name "
                "select *, $at::timestamptz as scored_at from _new_scores", {"at": scored_at})
    written = con.execute("select count(*) from _new_scores").fetchone()[0]
    con.execute("drop table _new_scores")
    return written


def log_distribution(settings: Settings, con: duckdb.DuckDBPyConnection, versions: ChampionVersions,
                     scored_at: dt.datetime, scored: int) -> None:
    """Share per intent and sentiment label, mean confidence and sentiment of this run's scores."""
    metrics = dict(con.execute(DISTRIBUTION_SQL, {"at": scored_at}).fetchall())
    use_experiment(settings, SCORING_EXPERIMENT)
    with mlflow.start_run(run_name=f"scores {scored_at:%Y-%m-%d %H:%M}"):
        mlflow.set_tags(versions.summary())
        mlflow.log_metrics({"scored": scored, **{k: float(v) for k, v in metrics.items() if v is not None}})


def score_communications(settings: Settings) -> dict[str, int | str | None]:
    """Score inbound communications the champions have not scored yet, in this one process
    (the path tests and benchmarks take)."""
    versions = champion_versions(settings)
    if versions is None:
        log.warning("no %s champion yet: nothing scored", INTENT_MODEL)
        return {"scored": 0, "intent_model_version": None}
    models = load_champions(settings, versions)
    scored = 0
    scored_at = dt.datetime.now(dt.UTC)
    with connect(settings) as con:
        for batch in unscored_batches(con, versions):
            con.register("_scores", score_batch(models, batch.to_pandas()))
            scored += write_scores(con, "_scores", scored_at)
            con.unregister("_scores")
            log.info("scored %d communications so far", scored)
        if scored:
            log_distribution(settings, con, versions, scored_at, scored)
    return {"scored": scored, **versions.summary()}


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    print(score_communications(Settings()))


if __name__ == "__main__":
    main()
