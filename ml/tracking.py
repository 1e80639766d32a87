"""MLflow set-up shared by the training, scoring and trend jobs.

A tracking server that does not answer fails the step within seconds, naming its URI (MLflow's
own client would retry for minutes); a champion that cannot be loaded fails the night at its
start, naming the version and where its files are.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import mlflow
import mlflow.sklearn
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.models.model import ModelInfo
from mlflow.store.artifact.models_artifact_repo import REGISTERED_MODEL_META_FILE_NAME

from crm_followups.core.names import CHAMPION_ALIAS, INTENT_MODEL, SENTIMENT_MODEL, TOPICS_MODEL
from crm_followups.core.settings import Settings
from ml.vocabularies import compact_vocabularies, restore_vocabularies

# A champion is retrained weekly, or sooner when its training data grew by this share.
RETRAIN_AFTER = timedelta(days=7)
GROWTH_SHARE = 0.2
# A tracking server gets this many tries, this many seconds apart, before the step fails;
# Airflow's task retries take it from there.
REACHABLE_TRIES = 3
REACHABLE_PAUSE_SECONDS = 5.0
REACHABLE_TIMEOUT_SECONDS = 5.0
# Later calls to a server that answered: bounded too (MLflow's defaults retry for minutes).
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
# What every logged model needs to load and predict, pinned at log time to the versions it was
# trained with, so `mlflow models serve` builds a fresh environment that reads the model files
# (MLflow adds its own pin). Listing them also spares MLflow seconds of requirement inference.
SERVING_PACKAGES = ("scikit-learn", "numpy", "pandas", "scipy", "skops", "pyarrow")
ML_PACKAGE_DIR = Path(__file__).resolve().parent
# What loading a champion depends on besides its files: a version whose files, these packages and
# the `ml` modules are as they were when it last loaded would load again (the load is a function
# of them), so the night's check hashes them instead of loading (skops's import alone is seconds).
LOADING_PACKAGES = (*SERVING_PACKAGES, "mlflow")
# The MLflow UI (3.x) shows model-training pages for experiments of this kind, GenAI ones else.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING_KIND = "custom_model_development"


class TrackingServerError(RuntimeError):
    """The configured MLflow tracking server does not answer."""


class ChampionLoadError(RuntimeError):
    """A registered champion whose model cannot be loaded (missing or corrupt files)."""


def _server_answers(uri: str) -> str | None:
    """None when ``uri``'s /health answers, else why not."""
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=REACHABLE_TIMEOUT_SECONDS):
            return None
    except (urllib.error.URLError, OSError) as exc:
        return str(getattr(exc, "reason", exc))


def point_at_store(settings: Settings) -> None:
    """Point MLflow at the configured store; a server must answer within seconds."""
    uri = settings.mlflow_tracking_uri
    if uri.startswith(("http://", "https://")):
        for attempt in range(1, REACHABLE_TRIES + 1):
            problem = _server_answers(uri)
            if problem is None:
                break
            if attempt == REACHABLE_TRIES:
                raise TrackingServerError(
                    f"MLflow tracking server {uri} does not answer ({problem}) after {REACHABLE_TRIES} "
                    "tries; check that it runs and CRM_MLFLOW_TRACKING_URI")
            time.sleep(REACHABLE_PAUSE_SECONDS)
    mlflow.set_tracking_uri(uri)


def use_experiment(settings: Settings, name: str) -> str:
    """Point MLflow at the configured store and select ``name``, creating it if needed.

    With the embedded SQLite store, artifacts go under the data folder (MLflow's default would
    write beside the working directory); a tracking server decides itself (it proxies them).
    """
    point_at_store(settings)
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        local_store = settings.mlflow_tracking_uri.startswith("sqlite:")
        if local_store:
            settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
        experiment_id = mlflow.create_experiment(
            name, artifact_location=f"{settings.mlflow_artifacts_uri}/{name}" if local_store else None,
            tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING_KIND})
    else:
        experiment_id = experiment.experiment_id
        if EXPERIMENT_KIND_TAG not in experiment.tags:  # created before the kind was set
            MlflowClient().set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND)
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def champion(settings: Settings, model_name: str) -> ModelVersion | None:
    """The registry's current champion version of ``model_name``, or None before the first."""
    point_at_store(settings)
    try:
        return MlflowClient().get_model_version_by_alias(model_name, CHAMPION_ALIAS)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


@dataclass
class Gate:
    """What the registry did with a challenger."""

    version: str
    promoted: bool
    champion_score: float | None


def training_due(settings: Settings, model_name: str, rows: int, force: bool,
                 weekly: bool = True) -> str | None:
    """Why ``model_name`` should train now, or None: forced, no champion yet, the champion is a
    week old (when ``weekly``), or the training data grew by ``GROWTH_SHARE`` since the
    champion saw it."""
    if force:
        return "forced"
    current = champion(settings, model_name)
    if current is None:
        return "no champion yet"
    run = MlflowClient().get_run(current.run_id)
    age = time.time() - run.info.start_time / 1000
    if weekly and age >= RETRAIN_AFTER.total_seconds():
        return f"champion is {age / 86400:.0f} days old"
    trained_on = int(run.data.params.get("training_rows", 0))
    if rows >= trained_on * (1 + GROWTH_SHARE):
        return f"training data grew from {trained_on} to {rows} rows"
    return None


def pinned_requirements(packages: Sequence[str] = SERVING_PACKAGES) -> list[str]:
    """``package==version`` of each package as installed now, when the model is logged."""
    return [f"{package}=={importlib.metadata.version(package)}" for package in packages]


def _copy_ml_modules(modules: Sequence[str], into: Path) -> Path:
    """A copy of the ``ml`` package holding only ``modules``: what a model's classes and
    functions need to be imported where this repository is not installed."""
    package = into / ML_PACKAGE_DIR.name
    package.mkdir()
    for module in ("__init__", *modules):
        # new files (the process's umask, owner-only in a night), not the checkout's modes:
        # MLflow copies them into the data folder's artifact store as they are
        shutil.copyfile(ML_PACKAGE_DIR / f"{module}.py", package / f"{module}.py")
    return package


def log_model(model, name: str, code_modules: Sequence[str] = (), flavor: ModuleType = mlflow.sklearn,
              **log_model_args) -> ModelInfo:
    """Log ``model`` with the ``flavor`` module (``mlflow.sklearn`` or ``ml.serving``), in skops
    format, with pinned requirements and the ``ml`` modules it imports at load time
    (``code_paths``), so it loads in a fresh environment. Its vocabularies are stored as arrays
    (``ml.vocabularies``): the files load in a fraction of the time."""
    with tempfile.TemporaryDirectory() as scratch:
        code_paths = [str(_copy_ml_modules(code_modules, Path(scratch)))] if code_modules else None
        return Model.log(None, flavor, name=name, sk_model=compact_vocabularies(model),
                         code_paths=code_paths,
                         serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
                         pip_requirements=pinned_requirements(), **log_model_args)


def register_and_gate(model, model_name: str, score_name: str, challenger_score: float,
                      champion_score: float | None, **log_model_args) -> Gate:
    """Log and register the challenger; move ``champion`` to it only when it scores at least
    as well as the champion on the same evaluation data, else tag the run as rejected."""
    info = log_model(model, "model", registered_model_name=model_name, **log_model_args)
    version = str(info.registered_model_version)
    promoted = champion_score is None or challenger_score >= champion_score
    if champion_score is not None:
        mlflow.log_metric(f"champion_{score_name}", champion_score)
    mlflow.set_tag("challenger", "promoted" if promoted else "rejected")
    if promoted:
        MlflowClient().set_registered_model_alias(model_name, CHAMPION_ALIAS, version)
    else:
        MlflowClient().set_model_version_tag(model_name, version, "challenger", "rejected")
    return Gate(version, promoted, champion_score)


def load_logged_model(uri: str):
    """The scikit-learn model at ``uri`` as it was fitted (its vocabularies rebuilt)."""
    return restore_vocabularies(mlflow.sklearn.load_model(uri))


def load_champion(model_name: str):
    return load_logged_model(f"models:/{model_name}@{CHAMPION_ALIAS}")


# Registry versions loaded in this process, by (tracking URI, model name, version): a version's
# files never change, and loading one takes a second or more (seconds for a model logged with
# its vocabularies as dicts, which skops rebuilds node by node), so the champion check and every
# scoring task that run in one process (``dag.test``) load once.
_LOADED: dict[tuple[str, str, str], object] = {}


def load_model_version(settings: Settings, model_name: str, version: str):
    """A fixed registry version, so every partition of a night scores with the same model;
    loaded once per process and store, and remembered as loaded (``load_fingerprint``) so the
    next night's champion check need not load it again."""
    key = (mlflow.get_tracking_uri(), model_name, version)
    if key not in _LOADED:
        fingerprint = _version_fingerprint(model_name, version)
        _remember(settings, model_name, version, load_logged_model(f"models:/{model_name}/{version}"),
                  fingerprint)
    return _LOADED[key]


def _champion_files(model_name: str, version: str) -> Path | None:
    """The local folder a registry version's files load from; None when they are remote."""
    uri = urlparse(MlflowClient().get_model_version_download_uri(model_name, version))
    return Path(url2pathname(uri.path)) if uri.scheme == "file" else None


def _model_files(files: Path) -> list[Path]:
    """The files of a model folder, without what loading it writes there: the name and version
    MLflow writes as it hands the folder out, and the bytecode of its code modules."""
    if not files.is_dir():
        return []
    return sorted(p for p in files.rglob("*") if p.is_file() and p.name != REGISTERED_MODEL_META_FILE_NAME
                  and "__pycache__" not in p.relative_to(files).parts)


def load_fingerprint(files: Path) -> str | None:
    """SHA-256 of everything a load of the model in ``files`` reads: its files (path and bytes),
    the loading packages' versions, the `ml` modules and Python; None when there is no file."""
    paths = _model_files(files)
    if not paths:
        return None
    digest = hashlib.sha256(sys.version.encode())
    for package in LOADING_PACKAGES:
        digest.update(f"{package}=={importlib.metadata.version(package)}".encode())
    for path in paths:
        digest.update(str(path.relative_to(files)).encode())
        digest.update(path.read_bytes())
    for module in sorted(ML_PACKAGE_DIR.glob("*.py")):
        digest.update(module.read_bytes())
    return digest.hexdigest()


def _loaded_fingerprints(settings: Settings) -> dict[str, str]:
    """The fingerprints of the versions that loaded; none when the file is missing or unreadable
    (every champion then loads in full)."""
    try:
        return json.loads(settings.champion_loads_path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _record_loaded(settings: Settings, key: str, fingerprint: str) -> None:
    """Remember that the model with ``fingerprint`` loaded (written whole: a rename)."""
    fingerprints = {**_loaded_fingerprints(settings), key: fingerprint}
    path = settings.champion_loads_path
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(f".{os.getpid()}.tmp")
    scratch.write_text(json.dumps(fingerprints, indent=1, sort_keys=True))
    scratch.replace(path)


def _version_fingerprint(model_name: str, version: str) -> str | None:
    """The version's ``load_fingerprint``, taken before it loads (a file changed during the load
    then differs next time); None when its files are not local."""
    files = _champion_files(model_name, version)
    return None if files is None else load_fingerprint(files)


def _remember(settings: Settings, model_name: str, version: str, model, fingerprint: str | None) -> None:
    """Keep a version just loaded for this process, and its fingerprint for later nights' checks."""
    _LOADED[(mlflow.get_tracking_uri(), model_name, version)] = model
    if fingerprint is not None:
        _record_loaded(settings, f"{model_name}/{version}", fingerprint)


def _check_champion(settings: Settings, current: ModelVersion) -> bool:
    """Load ``current`` unless it loaded before with the same fingerprint (then False); a
    failure to load is a ``ChampionLoadError`` naming the version and its files."""
    name, version = current.name, str(current.version)
    fingerprint = _version_fingerprint(name, version)
    if fingerprint is not None and _loaded_fingerprints(settings).get(f"{name}/{version}") == fingerprint:
        return False
    try:  # not the process's cache: the files may have changed since it loaded them
        model = load_logged_model(f"models:/{name}/{version}")
    except Exception as exc:  # any failure to load is the same fault: the champion is unusable
        raise ChampionLoadError(
            f"{name} version {version} (the champion) cannot be loaded from "
            f"{current.source}: {type(exc).__name__}: {exc}. Retrain with force_train, or move "
            f"the alias to a good version") from exc
    _remember(settings, name, version, model, fingerprint)
    return True


def check_champions(settings: Settings) -> dict[str, Any]:
    """Check every registered champion at the start of a night: a missing or corrupt model fails
    the night there, naming the version and its files, whether or not anything new would have
    been scored. A version is loaded in full the first time (here or by scoring); later nights
    hash what that load read (``load_fingerprint``) and load again only when it changed.
    Returns each model's champion version (None before the first) and the models loaded."""
    versions: dict[str, str | None] = {}
    loaded: list[str] = []
    for name in (INTENT_MODEL, SENTIMENT_MODEL, TOPICS_MODEL):
        current = champion(settings, name)
        versions[name] = None if current is None else str(current.version)
        if current is not None and _check_champion(settings, current):
            loaded.append(name)
    return {"versions": versions, "loaded": loaded}
