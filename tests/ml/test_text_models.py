"""The text models on real components: a DuckDB file, a real MLflow store, real fits.

Labelled communications come from the bundled sample's phrase bank (English and Chinese);
two products per language are held out of training entirely, so the held-out checks ask the
model about sentences it has never seen.
"""

from __future__ import annotations

import itertools

import duckdb
import mlflow
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from mlflow import MlflowClient

from crm_followups.core.names import CHAMPION_ALIAS, INTENT_MODEL, SENTIMENT_MODEL, TOPICS_MODEL
from crm_followups.core.settings import Settings
from crm_followups.sample import phrases as bank
from ml.features import text_frame
from ml.intent import IntentParams, capped_rows, fit_intent_model
from ml.score import Champions, ChampionVersions, score_batch, score_communications
from ml.sentiment import BilingualSentiment, chinese_reviews, sentiment_labels
from ml.topics import fit_topic_model
from ml.train import train_intent, train_sentiment, train_topics

# Barely any regularisation budget and single characters only: a deliberately weak challenger.
WEAK = IntentParams(char_ngrams=(1, 1), c=1e-4, lr_c=1e-4, nb_alpha=100.0)  # every voter weak


def _phrases(held_out: bool) -> pd.DataFrame:
    """Each intent's phrasings around products, wrapped in openers and closers; the held-out
    set uses the last two products of each language, which training never sees."""
    rows = []
    for lang, intents in bank.CORES.items():
        products = bank.PRODUCTS[lang][-2:] if held_out else bank.PRODUCTS[lang][:-2]
        for (intent, cores), (i, product) in itertools.product(intents.items(), enumerate(products)):
            for j, (before, after) in enumerate(cores):
                opener = bank.OPENERS[lang][(i + j) % len(bank.OPENERS[lang])]
                closer = bank.CLOSERS[lang][(i * 2 + j) % len(bank.CLOSERS[lang])]
                rows.append((lang, intent, f"{opener}{before}{product}{after}{closer}"))
    return pd.DataFrame(rows, columns=["lang", "label", "body"])


def _x(frame: pd.DataFrame) -> pd.DataFrame:
    return text_frame(pd.Series("", index=frame.index), frame["body"])


def _write_communications(settings: Settings, frame: pd.DataFrame) -> None:
    """A minimal ``marts.fct_communications`` as dbt would build it."""
    comms = frame.assign(communication_id=[f"c{i}" for i in range(len(frame))], source_system="generic",
                         customer_id="cust1", channel="email", direction="inbound",
                         occurred_at=pd.Timestamp("2026-03-01", tz="UTC"), subject="", agent_id=None)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create schema if not exists marts")
        con.register("comms", comms)
        con.execute("create or replace table marts.fct_communications as select communication_id, "
                    "source_system, customer_id, channel, direction, occurred_at, subject, body, agent_id, "
                    "label from comms")


def test_held_out_english_and_chinese_queries_get_their_intent():
    train, held_out = _phrases(held_out=False), _phrases(held_out=True)
    fit = fit_intent_model(_x(train), train["label"])
    predicted = fit.model.predict(_x(held_out))
    held_out = held_out.assign(correct=predicted == held_out["label"])
    by_language = held_out.groupby("lang")["correct"].mean()
    assert by_language["en"] >= 0.9, held_out[~held_out["correct"]]
    assert by_language["zh"] >= 0.9, held_out[~held_out["correct"]]
    assert fit.fit_rows == len(train)


def test_the_training_cap_keeps_every_label_and_rare_labels_whole():
    y = pd.Series(["big"] * 9000 + ["mid"] * 900 + ["rare"] * 40)
    kept = y.iloc[capped_rows(y, max_rows=1000, min_rows_per_label=100)].value_counts()
    assert kept.to_dict() == {"big": 905, "mid": 100, "rare": 40}
    assert len(capped_rows(y, max_rows=len(y), min_rows_per_label=100)) == len(y)


def test_sentiment_reads_english_and_chinese():
    reviews = chinese_reviews()
    model = BilingualSentiment().fit(reviews, reviews["label"])
    texts = pd.DataFrame({"text": [
        "I love the new dashboard, great work!", "This is terrible, I am very angry.",
        "The update is not good at all.", "服务太差了，我非常失望。", "非常满意，谢谢你们的帮助！"]})
    assert list(sentiment_labels(model.predict(texts))) == [
        "positive", "negative", "negative", "negative", "positive"]
    assert ((model.predict(texts) >= -1) & (model.predict(texts) <= 1)).all()


def test_a_batch_scores_each_row_as_scored_alone():
    """``score_batch`` scores each distinct text once: rows sharing a text, or not, get the
    numbers they get when scored one by one."""
    phrases = _phrases(held_out=False)
    x = _x(phrases)
    labels = pd.Series(np.where(np.arange(len(x)) % 2, "positive", "negative"))
    sentiment = BilingualSentiment().fit(x, labels)
    models = Champions(ChampionVersions("1", "run", "2", "3"), fit_intent_model(x, phrases["label"]).model,
                       sentiment, fit_topic_model(x, topic_counts=(4,)).model)
    rows = phrases.sample(12, random_state=1)
    batch = pd.DataFrame({"source_system": "generic", "communication_id": [f"c{i}" for i in range(24)],
                          "subject": "", "body": pd.concat([rows["body"], rows["body"]], ignore_index=True)})
    alone = pa.concat_tables([score_batch(models, batch.iloc[[i]]) for i in range(len(batch))])
    assert score_batch(models, batch).equals(alone)


@pytest.fixture
def labelled_warehouse(settings: Settings) -> Settings:
    """A warehouse of labelled communications with its own MLflow store."""
    _write_communications(settings, pd.concat([_phrases(False), _phrases(True)], ignore_index=True))
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    return settings


def _champion_version(model: str) -> str:
    return str(MlflowClient().get_model_version_by_alias(model, CHAMPION_ALIAS).version)


def test_a_worse_challenger_is_rejected_and_a_better_one_promoted(labelled_warehouse):
    weak = train_intent(labelled_warehouse, force=True, params=WEAK)
    assert weak.promoted  # the first model has no champion to beat
    strong = train_intent(labelled_warehouse, force=True)
    assert strong.promoted and strong.accuracy > weak.accuracy
    assert _champion_version(INTENT_MODEL) == strong.version
    # the champion learnt from every labelled row; the fit its gate judged did not see the held-out fifth
    params = MlflowClient().get_run(strong.run_id).data.params
    assert int(params["fit_rows"]) == int(params["labelled_rows"]) > int(params["judged_fit_rows"])
    worse = train_intent(labelled_warehouse, force=True, params=WEAK)
    assert not worse.promoted
    assert _champion_version(INTENT_MODEL) == strong.version
    rejected = MlflowClient().get_run(worse.run_id)
    assert rejected.data.tags["challenger"] == "rejected"
    assert rejected.data.metrics["champion_holdout_accuracy"] > rejected.data.metrics["holdout_accuracy"]
    # not forced and nothing grew: not due
    assert not train_intent(labelled_warehouse).trained


def test_scoring_is_incremental_and_a_new_champion_rescores(labelled_warehouse):
    settings = labelled_warehouse
    assert train_intent(settings).promoted and train_topics(settings).promoted
    assert train_sentiment(settings).promoted
    inbound = len(_phrases(False)) + len(_phrases(True))
    first = score_communications(settings)
    assert first["scored"] == inbound
    assert score_communications(settings)["scored"] == 0
    assert train_intent(settings, force=True).promoted  # same data, same score: at least as good
    assert score_communications(settings)["scored"] == inbound
    with duckdb.connect(str(settings.warehouse_path)) as con:
        rows, ids, versions, history, topics = con.execute("""
            select count(*), count(distinct communication_id), count(distinct intent_model_version),
                   (select count(*) from ml.score_history),
                   (select count(*) from ml.topics where model_version = any_value(s.topic_model_version))
            from ml.communication_scores s""").fetchone()
        sentiments = con.execute("""select min(sentiment), max(sentiment), count(distinct sentiment_label)
                                    from ml.communication_scores""").fetchone()
    assert rows == ids == inbound and versions == 1 and history == inbound and topics >= 4
    assert -1 <= sentiments[0] < 0 < sentiments[1] <= 1 and sentiments[2] >= 2
    for model in (INTENT_MODEL, SENTIMENT_MODEL, TOPICS_MODEL):
        run = MlflowClient().get_run(MlflowClient().get_model_version_by_alias(model, CHAMPION_ALIAS).run_id)
        assert run.inputs.dataset_inputs, f"{model} run lacks its dataset digest"
        artifacts = {a.path for a in MlflowClient().list_artifacts(run.info.run_id)}
        assert model == TOPICS_MODEL or any(p.endswith("confusion_matrix.png") for p in artifacts), artifacts
