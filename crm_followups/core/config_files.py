"""The YAML files users edit (``mapping.yml``, ``followup_rules.yml``), read into strict typed
models: a misspelt key or a list where a mapping belongs fails with the file, the key path
and what is allowed, instead of being ignored or failing later in a step."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar, get_args

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

Model = TypeVar("Model", bound=BaseModel)


class StrictModel(BaseModel):
    """Unknown keys are errors; values keep their YAML types (no silent coercion of a list)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ConfigFileError(ValueError):
    """A configuration file that cannot be used, with every problem found in it."""


def _key_path(location: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in location) or "(top level)"


def _models_in(annotation: object) -> list[type[BaseModel]]:
    """The models an annotation may hold (``Model``, ``Model | None``, ``dict[str, Model]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in _models_in(arg)]


def _allowed_keys(model: type[BaseModel], location: tuple[int | str, ...]) -> list[str]:
    """The keys the model accepts where an unknown key was found."""
    models = [model]
    for part in location[:-1]:
        fields = [m.model_fields[part] for m in models if part in m.model_fields]
        models = [m for f in fields for m in _models_in(f.annotation)] if fields else models
    return sorted({key for m in models for key in m.model_fields})


def describe_errors(path: Path, model: type[BaseModel], error: ValidationError) -> str:
    """One line per problem: ``file: key.path: what is wrong`` (and the keys allowed there)."""
    lines = []
    for e in error.errors():
        message = e["msg"]
        if e["type"] == "extra_forbidden":
            message = f"unknown key (allowed here: {', '.join(_allowed_keys(model, e['loc']))})"
        lines.append(f"{path}: {_key_path(e['loc'])}: {message}")
    return "\n".join(lines)


def load_config_file(path: Path, model: type[Model]) -> Model:
    """Read ``path`` into ``model``, or raise ConfigFileError naming the file and each key."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigFileError(f"{path}: cannot be read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigFileError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise ConfigFileError(describe_errors(path, model, exc)) from None
