"""MLflow down or a champion broken: the night fails fast and says what and where."""

from __future__ import annotations

import shutil
import time
import zipfile
from pathlib import Path

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from crm_followups.core.names import (
    CHAMPION_ALIAS,
    INTENT_EXPERIMENT,
    INTENT_MODEL,
    SENTIMENT_MODEL,
    TOPICS_MODEL,
)
from crm_followups.core.settings import Settings
from ml import tracking
from ml.score import champion_versions
from ml.tracking import (
    ChampionLoadError,
    TrackingServerError,
    check_champions,
    load_model_version,
    register_and_gate,
    use_experiment,
)

CLOSED_PORT = "http://127.0.0.1:9"


@pytest.mark.parametrize("step", [check_champions, champion_versions,
                                  lambda settings: use_experiment(settings, INTENT_EXPERIMENT)],
                         ids=["night start", "scoring", "training"])
def test_an_unreachable_tracking_server_fails_within_a_minute(settings: Settings, step) -> None:
    offline = Settings(data_dir=settings.data_dir, tracking_server=CLOSED_PORT)
    started = time.monotonic()
    with pytest.raises(TrackingServerError, match=f"MLflow tracking server {CLOSED_PORT} does not answer"):
        step(offline)
    assert time.monotonic() - started < 60


def _register_champion(settings: Settings) -> Path:
    """A small real model registered as the intent champion; returns its model file."""
    use_experiment(settings, INTENT_EXPERIMENT)
    model = LogisticRegression().fit(np.array([[0.0], [1.0]]), ["a", "b"])
    with mlflow.start_run():
        register_and_gate(model, INTENT_MODEL, "accuracy", 1.0, None)
    (model_file,) = [p for p in settings.mlflow_dir.rglob("model.*") if p.suffix in (".skops", ".pkl")]
    return model_file


def test_a_sound_champion_passes_the_check(settings: Settings) -> None:
    _register_champion(settings)
    assert check_champions(settings)["versions"][INTENT_MODEL] == "1"


def test_a_truncated_champion_fails_naming_its_version_and_files(settings: Settings) -> None:
    model_file = _register_champion(settings)
    model_file.write_bytes(model_file.read_bytes()[:100])
    with pytest.raises(ChampionLoadError, match=rf"{INTENT_MODEL} version 1 \(the champion\) cannot be "
                                                 r"loaded from .+"):
        check_champions(settings)


def test_a_deleted_champion_folder_fails_naming_its_version(settings: Settings) -> None:
    model_file = _register_champion(settings)
    shutil.rmtree(model_file.parent)
    with pytest.raises(ChampionLoadError, match=rf"{INTENT_MODEL} version 1 \(the champion\)"):
        check_champions(settings)


def test_a_champion_that_loaded_is_not_loaded_again_while_unchanged(settings: Settings, monkeypatch) -> None:
    _register_champion(settings)
    assert check_champions(settings)["loaded"] == [INTENT_MODEL]
    monkeypatch.setattr(tracking, "load_logged_model", lambda uri: pytest.fail(f"{uri} loaded again"))
    versions = {INTENT_MODEL: "1", SENTIMENT_MODEL: None, TOPICS_MODEL: None}
    assert check_champions(settings) == {"versions": versions, "loaded": []}


def test_a_version_scoring_loaded_is_not_loaded_again_by_the_next_check(settings: Settings,
                                                                         monkeypatch) -> None:
    _register_champion(settings)  # trained and promoted: the first night scores with it
    load_model_version(settings, INTENT_MODEL, "1")
    monkeypatch.setattr(tracking, "load_logged_model", lambda uri: pytest.fail(f"{uri} loaded again"))
    assert check_champions(settings)["loaded"] == []


def test_an_unreadable_record_of_loads_means_a_full_load(settings: Settings) -> None:
    model_file = _register_champion(settings)
    settings.champion_loads_path.parent.mkdir(parents=True, exist_ok=True)
    settings.champion_loads_path.write_text("{not json")
    assert check_champions(settings)["versions"][INTENT_MODEL] == "1"
    model_file.write_bytes(model_file.read_bytes()[:100])
    with pytest.raises(ChampionLoadError):
        check_champions(settings)


def test_a_champion_corrupted_after_it_loaded_fails_the_next_check(settings: Settings) -> None:
    model_file = _register_champion(settings)
    check_champions(settings)  # loaded once, in this process too
    model_file.write_bytes(model_file.read_bytes()[:100])
    with pytest.raises(ChampionLoadError, match=rf"{INTENT_MODEL} version 1 \(the champion\) cannot be"):
        check_champions(settings)


def test_a_version_is_loaded_once_per_process_and_store(settings: Settings) -> None:
    _register_champion(settings)
    check_champions(settings)
    assert load_model_version(settings, INTENT_MODEL, "1") is load_model_version(settings, INTENT_MODEL, "1")


def _text_model() -> tuple[Pipeline, pd.DataFrame]:
    """Fitted vectorizers of each kind the champions hold (characters, words with pruned and
    stop words, a given vocabulary) under a classifier, and the rows it learnt from."""
    x = pd.DataFrame({"text": ["refund my card please", "the card was charged twice", "cancel my plan now",
                               "please cancel the subscription", "我要退款", "取消我的订阅", "card refund"]})
    features = ColumnTransformer([
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4)), "text"),
        ("word", TfidfVectorizer(ngram_range=(1, 2), stop_words="english", max_df=0.5), "text"),
        ("given", CountVectorizer(vocabulary=["refund", "cancel", "card"]), "text"),
    ])
    model = Pipeline([("features", features), ("classifier", LogisticRegression())])
    return model.fit(x, ["refund", "refund", "cancel", "cancel", "refund", "cancel", "refund"]), x


def _vocabularies(model: Pipeline) -> list[tuple[dict[str, int], object]]:
    return [(vectorizer.vocabulary_, vectorizer.vocabulary)
            for _, vectorizer, _ in model.named_steps["features"].transformers_]


def test_a_logged_champion_stores_its_vocabularies_as_arrays_and_scores_as_fitted(settings: Settings) -> None:
    model, x = _text_model()
    use_experiment(settings, INTENT_EXPERIMENT)
    with mlflow.start_run():
        register_and_gate(model, INTENT_MODEL, "accuracy", 1.0, None)
    (model_file,) = settings.mlflow_dir.rglob("model.skops")
    with zipfile.ZipFile(model_file) as stored:
        assert '"vocabulary_"' not in stored.read("schema.json").decode()  # no dict entry by entry

    loaded = load_model_version(settings, INTENT_MODEL, "1")
    assert _vocabularies(loaded) == _vocabularies(model)  # the fitted state, the logged model untouched
    assert np.array_equal(loaded.predict_proba(x), model.predict_proba(x))
    # MLflow serving a plain scikit-learn model has no project hook: scikit-learn rebuilds them
    plain = mlflow.sklearn.load_model(f"models:/{INTENT_MODEL}@{CHAMPION_ALIAS}")
    assert np.array_equal(plain.predict_proba(x), model.predict_proba(x))


def test_a_champion_logged_with_dict_vocabularies_still_loads(settings: Settings) -> None:
    model, x = _text_model()
    use_experiment(settings, INTENT_EXPERIMENT)
    with mlflow.start_run():  # as log_model did before the vocabularies were stored as arrays
        mlflow.sklearn.log_model(model, name="model", registered_model_name=INTENT_MODEL,
                                 serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS)
    loaded = load_model_version(settings, INTENT_MODEL, "1")
    assert _vocabularies(loaded) == _vocabularies(model)
    assert np.array_equal(loaded.predict_proba(x), model.predict_proba(x))
