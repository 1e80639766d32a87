"""MLflow down or a champion broken: the night fails fast and says what and where."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import mlflow
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from crm_followups.core.names import INTENT_EXPERIMENT, INTENT_MODEL
from crm_followups.core.settings import Settings
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
    assert check_champions(settings)[INTENT_MODEL] == "1"


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


def test_a_version_is_loaded_once_per_process_and_store(settings: Settings) -> None:
    _register_champion(settings)
    check_champions(settings)
    assert load_model_version(INTENT_MODEL, "1") is load_model_version(INTENT_MODEL, "1")
