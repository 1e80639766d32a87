"""Train the intent (customer needs) classifier on communications the CRM labelled.

An MLflow run in ``crm-intent`` logs parameters and held-out metrics; the model is
registered as ``crm_intent``. The ``champion`` alias moves to the new version only when it
is at least as good as the current champion on the same held-out communications.
Training runs when no champion exists yet, or when forced.

    python -m ml.train [--force]
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import asdict, dataclass

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from crm_followups.settings import CHAMPION_ALIAS, INTENT_EXPERIMENT, INTENT_MODEL, Settings
from crm_followups.warehouse import connect
from ml.features import text_features, text_frame
from ml.tracking import champion, use_experiment

log = logging.getLogger(__name__)

MIN_LABELLED = 30
HOLDOUT_SHARE = 0.2
SEED = 42
# What the model needs at serving time; listing it saves MLflow seconds of inference.
PIP_REQUIREMENTS = ["scikit-learn", "pandas", "numpy", "scipy"]


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
    with connect(settings) as con:
        return con.execute("""
            select communication_id, subject, body, label
            from marts.fct_communications
            where label is not null and direction = 'inbound'
            order by source_system, communication_id""").df()


def build_model(c: float = 5.0) -> Pipeline:
    return Pipeline([
        ("features", text_features()),
        ("classifier", LogisticRegression(C=c, max_iter=2000)),
    ])


def _scores(model: Pipeline, x: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    predicted = model.predict(x)
    return {"accuracy": accuracy_score(y, predicted),
            "macro_f1": f1_score(y, predicted, average="macro", zero_division=0)}


def _champion_macro_f1(settings: Settings, x: pd.DataFrame, y: pd.Series) -> float | None:
    current = champion(settings, INTENT_MODEL)
    if current is None:
        return None
    model = mlflow.sklearn.load_model(f"models:/{INTENT_MODEL}@{CHAMPION_ALIAS}")
    return _scores(model, x, y)["macro_f1"]


def train_intent(settings: Settings, force: bool = False) -> TrainResult:
    """Train, log and register a challenger when due; promote it when it is no worse."""
    if not force and champion(settings, INTENT_MODEL) is not None:
        return TrainResult(False, "a champion exists and training was not forced")
    labelled = load_labelled(settings)
    if len(labelled) < MIN_LABELLED or labelled["label"].nunique() < 2:
        return TrainResult(False, f"too few labelled communications ({len(labelled)}; "
                                  f"need {MIN_LABELLED} over at least 2 labels)")
    x = text_frame(labelled["subject"], labelled["body"])
    y = labelled["label"]
    counts = y.value_counts()
    stratify = y if counts.min() >= 2 else None
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=HOLDOUT_SHARE, random_state=SEED, stratify=stratify)

    use_experiment(settings, INTENT_EXPERIMENT)
    model = build_model()
    with mlflow.start_run(run_name="intent-tfidf-logreg") as run:
        mlflow.log_params({"features": "tfidf char_wb 1-3 + word 1-2", "classifier": "logistic_regression",
                           "C": model.named_steps["classifier"].C, "labelled_rows": len(labelled),
                           "holdout_share": HOLDOUT_SHARE, "classes": y.nunique()})
        model.fit(x_train, y_train)
        metrics = _scores(model, x_test, y_test)
        mlflow.log_metrics({f"holdout_{k}": v for k, v in metrics.items()})
        champion_f1 = _champion_macro_f1(settings, x_test, y_test)
        info = mlflow.sklearn.log_model(
            model, name="model", registered_model_name=INTENT_MODEL,
            signature=infer_signature(x_train.head(20), model.predict(x_train.head(20))),
            input_example=x_train.head(3), pip_requirements=PIP_REQUIREMENTS)
        promoted = champion_f1 is None or metrics["macro_f1"] >= champion_f1
        version = str(info.registered_model_version)
        client = MlflowClient()
        if promoted:
            client.set_registered_model_alias(INTENT_MODEL, CHAMPION_ALIAS, version)
        else:
            mlflow.set_tag("challenger", "rejected")
            mlflow.log_metric("champion_holdout_macro_f1", champion_f1)
    log.info("intent model v%s: accuracy %.3f, macro-F1 %.3f, %s", version, metrics["accuracy"],
             metrics["macro_f1"], "promoted to champion" if promoted else "kept as rejected challenger")
    return TrainResult(True, "forced" if force else "no champion yet", version, run.info.run_id,
                       promoted, metrics["accuracy"], metrics["macro_f1"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the intent classifier.")
    parser.add_argument("--force", action="store_true", help="train even when a champion exists")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    print(asdict(train_intent(Settings.from_env(), force=args.force)))


if __name__ == "__main__":
    main()
