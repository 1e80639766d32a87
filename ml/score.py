"""Score communications with the champion intent model, in batches.

Only communications the current champion version has not scored are read, streamed from
DuckDB as Arrow record batches, so memory stays flat however large the fact table grows.
``ml.communication_scores`` keeps one row per communication: the current champion's view.

    python -m ml.score
"""

from __future__ import annotations

import logging

import duckdb
import mlflow
import numpy as np
import pandas as pd
import pyarrow as pa

from crm_followups.settings import CHAMPION_ALIAS, INTENT_MODEL, Settings
from crm_followups.warehouse import connect
from ml.features import text_frame
from ml.tracking import champion

log = logging.getLogger(__name__)

BATCH_ROWS = 50_000
# Below this probability the model says it does not know.
UNKNOWN_BELOW = 0.4

SCORES_DDL = """
create table if not exists ml.communication_scores (
    source_system varchar, communication_id varchar,
    intent varchar, intent_confidence double,
    sentiment double, sentiment_label varchar, topic_id integer,
    intent_model_version varchar, sentiment_model_version varchar, topic_model_version varchar,
    mlflow_run_id varchar, scored_at timestamptz,
    primary key (source_system, communication_id))"""

UNSCORED_SQL = """
select f.source_system, f.communication_id, f.subject, f.body
from marts.fct_communications f
left join ml.communication_scores s
    on s.source_system = f.source_system and s.communication_id = f.communication_id
   and s.intent_model_version = ?
where s.communication_id is null and f.direction = 'inbound'"""


def predict_intents(model, batch: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The most likely intent and its probability; ``unknown`` when the model is unsure."""
    proba = model.predict_proba(text_frame(batch["subject"], batch["body"]))
    best = proba.argmax(axis=1)
    confidence = proba[np.arange(len(best)), best]
    intent = np.where(confidence >= UNKNOWN_BELOW, model.classes_[best], "unknown")
    return intent, confidence


def _write_batch(con: duckdb.DuckDBPyConnection, scores: pa.Table) -> None:
    con.register("_scores", scores)
    con.execute("insert or replace into ml.communication_scores by name "
                "select *, now() as scored_at from _scores")
    con.unregister("_scores")


def score_communications(settings: Settings) -> dict[str, int | str | None]:
    """Score inbound communications the champion has not scored yet."""
    current = champion(settings, INTENT_MODEL)
    if current is None:
        log.warning("no %s champion yet: nothing scored", INTENT_MODEL)
        return {"scored": 0, "intent_model_version": None}
    model = mlflow.sklearn.load_model(f"models:/{INTENT_MODEL}@{CHAMPION_ALIAS}")
    scored = 0
    with connect(settings) as con:
        con.execute(SCORES_DDL)
        version = str(current.version)
        reader = con.cursor().sql(UNSCORED_SQL, params=[version]).to_arrow_reader(BATCH_ROWS)
        for batch in reader:
            frame = batch.to_pandas()
            intent, confidence = predict_intents(model, frame)
            _write_batch(con, pa.table({
                "source_system": frame["source_system"], "communication_id": frame["communication_id"],
                "intent": intent, "intent_confidence": confidence,
                "intent_model_version": [version] * len(frame),
                "mlflow_run_id": [current.run_id] * len(frame),
            }))
            scored += len(frame)
            log.info("scored %d communications so far", scored)
    return {"scored": scored, "intent_model_version": version}


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    print(score_communications(Settings.from_env()))


if __name__ == "__main__":
    main()
