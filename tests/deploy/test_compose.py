"""docker-compose.yml cannot run here (no Docker engine), so check what can be checked:
the compose specification's schema, and that the services reference what exists."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from crm_followups.core.settings import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def test_compose_file_follows_the_compose_specification():
    checker = shutil.which("check-jsonschema", path=str(VENV_BIN))
    done = subprocess.run([checker, "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_dependency_names_a_service(compose):
    services = compose["services"]
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown service {dependency}"


def test_airflow_services_share_one_configuration(compose):
    airflow = {n: s for n, s in compose["services"].items() if n.startswith("airflow-")}
    assert {"airflow-init", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor",
            "airflow-triggerer", "airflow-worker"} <= set(airflow)
    environments = [s["environment"] for s in airflow.values()]
    assert all(env == environments[0] for env in environments)
    env = environments[0]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
    assert "${AIRFLOW_JWT_SECRET" in env["AIRFLOW__API_AUTH__JWT_SECRET"], "secrets come from .env"


def test_secrets_come_only_from_the_env_file(compose):
    """Every secret-looking value is a required ${VAR:?} from .env, and no .env is tracked."""
    tracked = subprocess.run(["git", "ls-files", ".env"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert tracked.stdout.strip() == ""
    secret_keys = ("PASSWORD", "SECRET", "FERNET", "SALT")
    env = compose["services"]["airflow-init"]["environment"]
    secrets = {k: v for k, v in env.items() if any(word in k for word in secret_keys)}
    secrets |= {k: v for k, v in compose["services"]["postgres"]["environment"].items() if "PASSWORD" in k}
    assert len(secrets) >= 5
    for key, value in secrets.items():
        assert value.startswith("${") and ":?" in value, f"{key} must come from .env, not the file"
    assert set(re.findall(r"^([A-Z_]+)=", (REPO_ROOT / ".env.example").read_text(), re.M)) >= {
        "POSTGRES_PASSWORD", "AIRFLOW_JWT_SECRET", "AIRFLOW_FERNET_KEY", "CRM_HASH_SALT"}


def test_the_env_example_sets_no_secret(compose):
    """Copying .env.example as it is must not start a stack with a known password: every
    secret is empty there, and the file's ``${VAR:?}`` refuses an empty value."""
    example = dict(re.findall(r"^([A-Z_]+)=(.*)$", (REPO_ROOT / ".env.example").read_text(), re.M))
    words = ("PASSWORD", "SECRET", "FERNET", "SALT")
    secrets = {k: v for k, v in example.items() if any(w in k for w in words)}
    assert len(secrets) >= 5 and all(v == "" for v in secrets.values()), secrets
    assert not re.search(r"(PASSWORD|SECRET|FERNET|SALT)[A-Z_]*:-", COMPOSE_FILE.read_text()), \
        "no secret has a fallback value"


def test_published_ports_bind_to_loopback_unless_configured(compose):
    published = {name: port for name, service in compose["services"].items()
                 for port in service.get("ports", [])}
    assert {"mlflow", "airflow-api-server"} <= set(published)
    for name, port in published.items():
        assert isinstance(port, str) and port.startswith("${CRM_BIND_ADDRESS:-127.0.0.1}:"), (name, port)
    assert not {"postgres", "redis"} & set(published), "databases are reached on the compose network only"


def test_mlflow_server_serves_artifacts_to_remote_workers(compose):
    command = compose["services"]["mlflow"]["command"]
    assert "--serve-artifacts" in command
    assert "mlflow:5000" in command[command.index("--allowed-hosts") + 1]


def _our_image_commands(compose) -> list[list[str]]:
    return [s["command"] for s in compose["services"].values()
            if s.get("image", "").startswith("crm-followups")]


def test_every_command_exists_in_the_image(compose):
    """The image installs the same lock as .venv, so the venv answers for it."""
    from airflow.cli.cli_parser import get_parser

    parser = get_parser()
    for command in _our_image_commands(compose):
        program, *args = command
        if program == "airflow":
            parsed = parser.parse_args(args)
            assert callable(parsed.func), command
        elif program == "python":
            assert args[:2] == ["-m", "crm_followups"], command
            import typer

            from crm_followups.cli.app import app

            group = typer.main.get_command(app)
            name, *options = args[2:]
            subcommand = group.get_command(group.make_context("crm-followups", [name]), name)
            assert subcommand is not None, command
            subcommand.make_context(name, options)
        else:
            assert shutil.which(program, path=str(VENV_BIN)), f"{program} is not installed"
