"""The champions outside the pipeline: each loads and predicts through ``mlflow.pyfunc`` in a
fresh process, and the intent champion answers over HTTP under ``mlflow models serve``.

The fresh processes run from an empty folder without PYTHONPATH, and the test checks that the
``ml`` modules they import are the copies inside the model (``code_paths``), not this checkout.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from crm_followups.core.names import (
    INTENT_EXPERIMENT,
    INTENT_MODEL,
    SENTIMENT_EXPERIMENT,
    SENTIMENT_MODEL,
    TOPICS_EXPERIMENT,
    TOPICS_MODEL,
)
from crm_followups.core.settings import Settings
from crm_followups.followups.rules import load_rules
from ml.examples import SYNTHETIC_TEXTS
from ml.tracking import EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND
from ml.train import train_intent, train_sentiment, train_topics
from tests.sample_marts import write_sample_communications

# Generated texts, never a customer's: English and Chinese, clearly negative and positive.
TEXTS = ["This is terrible, I want to cancel my subscription now.",
         "Thank you, the new dashboard is great and I love it!",
         "服务太差了，我非常失望，我要退订。",
         "非常满意，谢谢你们的帮助！"]
# A uv environment builds from uv's cache in seconds; the server then imports MLflow.
SERVER_START_SECONDS = 120

# Run in a fresh interpreter: load one champion by its registry alias, predict, and report what
# came back and where each imported ``ml`` module was read from.
LOAD_AND_PREDICT = """
import json, sys
import mlflow.pyfunc, pandas as pd
model = mlflow.pyfunc.load_model(f"models:/{sys.argv[1]}@champion")
answer = model.predict(pd.DataFrame({"text": json.loads(sys.argv[2])}))
answer = answer.to_dict("list") if isinstance(answer, pd.DataFrame) else answer.tolist()
modules = {name: module.__file__ for name, module in sys.modules.items() if name.split(".")[0] == "ml"}
print(json.dumps({"answer": answer, "modules": modules}))
"""


@pytest.fixture(scope="module")
def rules_thresholds() -> dict[str, float]:
    return {intent: rule.min_confidence for intent, rule in load_rules().intents.items()}


@pytest.fixture(scope="module")
def champions(tmp_path_factory, rules_thresholds) -> Settings:
    """The three champions, trained on a small sample into this data folder's MLflow store, the
    intent model with the follow-up rules' thresholds as the DAG hands them down."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("serving") / "data")
    settings.ensure_dirs()
    write_sample_communications(settings)
    assert train_intent(settings, min_confidence=rules_thresholds).promoted
    assert train_sentiment(settings).promoted and train_topics(settings).promoted
    return settings


def _fresh_env(settings: Settings) -> dict[str, str]:
    """This environment without PYTHONPATH (so not this checkout), pointed at the test store, with
    the venv's commands on PATH as an activated venv has them (`mlflow models serve` runs uvicorn)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {**env, "PYTHONNOUSERSITE": "1", "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}


def _load_and_predict(settings: Settings, model: str, cwd: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", LOAD_AND_PREDICT, model, json.dumps(TEXTS)], cwd=cwd,
                          env=_fresh_env(settings), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _model_dir(module_file: str) -> Path:
    """The model folder a shipped module was read from (``<model>/code/ml/<module>.py``)."""
    return Path(module_file).parents[2]


def test_intent_champion_answers_label_confidence_and_act_in_a_fresh_process(champions, rules_thresholds,
                                                                             tmp_path):
    reply = _load_and_predict(champions, INTENT_MODEL, tmp_path)
    answer = reply["answer"]
    assert set(answer) == {"intent", "intent_confidence", "act"}
    assert len(answer["intent"]) == len(TEXTS)
    labels = {"pricing_inquiry", "purchase_intent", "complaint", "support_request", "cancellation", "other"}
    assert set(answer["intent"]) <= labels
    assert all(0 < p <= 1 for p in answer["intent_confidence"])
    expected_act = [intent in rules_thresholds and p >= rules_thresholds[intent]
                    for intent, p in zip(answer["intent"], answer["intent_confidence"], strict=True)]
    assert answer["act"] == expected_act
    # the loader and the model's functions come from the model's own code, not this checkout
    assert {"ml.serving", "ml.intent", "ml.features"} <= set(reply["modules"])
    for path in reply["modules"].values():
        assert (_model_dir(path) / "MLmodel").is_file(), path


def test_sentiment_champion_carries_its_code_and_reads_both_languages(champions, tmp_path):
    reply = _load_and_predict(champions, SENTIMENT_MODEL, tmp_path)
    polarity = reply["answer"]
    assert all(-1 <= p <= 1 for p in polarity)
    assert polarity[0] < 0 < polarity[1] and polarity[2] < 0 < polarity[3]
    assert "ml.sentiment" in reply["modules"]
    for path in reply["modules"].values():
        assert (_model_dir(path) / "MLmodel").is_file(), path


def test_topics_champion_is_plain_scikit_learn_in_a_fresh_process(champions, tmp_path):
    reply = _load_and_predict(champions, TOPICS_MODEL, tmp_path)
    assert len(reply["answer"]) == len(TEXTS) and all(isinstance(t, int) and t >= 0 for t in reply["answer"])
    assert reply["modules"] == {}  # needs no code of this project


def test_each_champion_pins_its_requirements_and_holds_no_customer_text(champions):
    mlflow.set_tracking_uri(champions.mlflow_tracking_uri)
    for model in (INTENT_MODEL, SENTIMENT_MODEL, TOPICS_MODEL):
        folder = Path(mlflow.artifacts.download_artifacts(f"models:/{model}@champion"))
        requirements = (folder / "requirements.txt").read_text().split()
        assert {r.split("==")[0] for r in requirements} >= {"mlflow", "scikit-learn", "numpy", "pandas",
                                                            "scipy", "skops", "pyarrow"}
        assert all("==" in r for r in requirements), requirements
        example = json.loads((folder / "input_example.json").read_text())
        assert [row[0] for row in example["data"]] == list(SYNTHETIC_TEXTS)


def test_experiments_are_created_as_model_training_for_the_mlflow_ui(champions):
    mlflow.set_tracking_uri(champions.mlflow_tracking_uri)
    for name in (INTENT_EXPERIMENT, SENTIMENT_EXPERIMENT, TOPICS_EXPERIMENT):
        assert mlflow.get_experiment_by_name(name).tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING_KIND


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _uv_binary() -> Path | None:
    """uv on PATH, or where ``make install`` puts it (``.tools/bin`` beside the venv)."""
    found = shutil.which("uv")
    local = Path(sys.prefix).resolve().parent / ".tools" / "bin" / "uv"
    return Path(found) if found else local if local.is_file() else None


def _serve_env(settings: Settings, env_manager: str) -> dict[str, str]:
    """The fresh environment; for ``uv``, with uv on PATH, packages from PyPI (uv's cache
    first) and no Python downloads (those come from GitHub, out of reach here). Not offline:
    uv revalidates a cached wheel's HTTP entry once it is stale, and offline it then refuses
    the wheel even though its files are in the cache."""
    env = _fresh_env(settings)
    if env_manager == "uv":
        uv = _uv_binary()
        if uv is None:
            pytest.skip("uv is not installed (`make install` puts it in .tools/bin)")
        env.update(PATH=f"{uv.parent}{os.pathsep}{env['PATH']}", UV_PYTHON_DOWNLOADS="never",
                   MLFLOW_ENV_ROOT=str(settings.data_dir / "serving-envs"))
    return env


@pytest.fixture(params=["local", "uv"])
def served_intent(request, champions, tmp_path) -> Iterator[str]:
    """``mlflow models serve`` of the intent champion on a free local port, in this environment
    (``local``) or in a new one built from the model's pinned requirements (``uv``); stopped
    after the test with its whole process group."""
    env = _serve_env(champions, request.param)
    port = _free_port()
    log = tmp_path / "server.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{INTENT_MODEL}@champion",
         "--env-manager", request.param, "-h", "127.0.0.1", "-p", str(port)],
        cwd=tmp_path, env=env, start_new_session=True, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            assert server.poll() is None, log.read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{url}/ping", timeout=2):
                    break
            except (urllib.error.URLError, OSError):
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(1)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):  # the whole group may have exited already
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_served_intent_champion_answers_label_confidence_and_act(served_intent, rules_thresholds):
    body = json.dumps({"dataframe_split": {"columns": ["text"], "data": [[t] for t in TEXTS]}}).encode()
    request = urllib.request.Request(f"{served_intent}/invocations", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        predictions = json.load(response)["predictions"]
    assert len(predictions) == len(TEXTS)
    for row in predictions:
        assert set(row) == {"intent", "intent_confidence", "act"}
        assert isinstance(row["intent"], str) and 0 < row["intent_confidence"] <= 1
        threshold = rules_thresholds.get(row["intent"])
        assert row["act"] is (threshold is not None and row["intent_confidence"] >= threshold)
