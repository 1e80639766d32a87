"""MLflow set-up shared by the training, scoring and trend jobs."""

from __future__ import annotations

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from crm_followups.settings import CHAMPION_ALIAS, Settings


def use_experiment(settings: Settings, name: str) -> str:
    """Point MLflow at the configured store and select ``name``, creating it if needed.

    With the embedded SQLite store, artifacts go under the data folder (MLflow's default would
    write beside the working directory); a tracking server decides itself (it proxies them).
    """
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        local_store = settings.mlflow_tracking_uri.startswith("sqlite:")
        if local_store:
            settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
        experiment_id = mlflow.create_experiment(
            name, artifact_location=f"{settings.mlflow_artifacts_uri}/{name}" if local_store else None)
    else:
        experiment_id = experiment.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def champion(settings: Settings, model_name: str) -> ModelVersion | None:
    """The registry's current champion version of ``model_name``, or None before the first."""
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    try:
        return MlflowClient().get_model_version_by_alias(model_name, CHAMPION_ALIAS)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise
