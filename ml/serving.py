"""How the intent model answers outside the pipeline: ``mlflow.pyfunc`` and ``mlflow models serve``.

The registered intent model is a scikit-learn model (the ``sklearn`` flavor, which scoring
loads directly) whose ``python_function`` flavor is loaded by this module instead of
``mlflow.sklearn``: a served model then answers what scoring writes, the best intent with its
calibrated probability, and whether the follow-up rules act on it (``act``: the probability
reaches the intent's ``min_confidence``). The thresholds are the rules' at training time,
handed down by the caller (``ml`` may not import the rules' layer) and kept in the model's
``config``; ``mlflow.pyfunc.load_model(uri, model_config={"min_confidence": {...}})`` overrides
them. This module travels with the model (``code_paths``), so a fresh environment loads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow.sklearn
import numpy as np
import pandas as pd
from mlflow import pyfunc
from mlflow.models import Model
from mlflow.models.model import MLMODEL_FILE_NAME, MODEL_CONFIG

from ml.intent import predict_intents
from ml.vocabularies import restore_vocabularies

THRESHOLDS_KEY = "min_confidence"


class IntentAnswers:
    """The intent model's pyfunc: ``intent``, ``intent_confidence`` and ``act`` per row."""

    def __init__(self, classifier, min_confidence: Mapping[str, float]):
        self.classifier = classifier
        # the rules match intents without regard to case
        self.min_confidence = {intent.lower(): float(value) for intent, value in min_confidence.items()}

    def predict(self, data: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        intent, confidence = predict_intents(self.classifier, data)
        # an intent the rules do not list is never acted on at once (it waits as unanswered)
        threshold = pd.Series(intent).str.lower().map(self.min_confidence).fillna(np.inf).to_numpy()
        return pd.DataFrame({"intent": intent, "intent_confidence": confidence,
                             "act": confidence >= threshold})


def save_model(sk_model, path: str, mlflow_model: Model, min_confidence: Mapping[str, float],
               **sklearn_args) -> None:
    """``mlflow.sklearn.save_model``, then this module as the ``python_function`` loader with the
    thresholds as its config (``Model.log`` calls this as the flavor's ``save_model``)."""
    mlflow.sklearn.save_model(sk_model, path, mlflow_model=mlflow_model, **sklearn_args)
    serving = mlflow_model.flavors[pyfunc.FLAVOR_NAME]
    serving[pyfunc.MAIN] = __name__
    serving[MODEL_CONFIG] = {THRESHOLDS_KEY: dict(min_confidence)}
    mlflow_model.save(str(Path(path) / MLMODEL_FILE_NAME))


def _load_pyfunc(path: str, model_config: dict[str, Any] | None = None) -> IntentAnswers:
    """Called by ``mlflow.pyfunc.load_model`` with the model directory and its config."""
    return IntentAnswers(restore_vocabularies(mlflow.sklearn.load_model(path)),
                         (model_config or {}).get(THRESHOLDS_KEY, {}))
