"""``crm-followups ui``: each UI for real, as ``python -m crm_followups ui ...`` in a subprocess on
a free port of a fresh data folder. It says its URL once it answers, listens on 127.0.0.1 only,
and SIGTERM stops it together with every process it started. The Airflow UI leaves crm_nightly
paused even when the metadata DB has it unpaused: its scheduler starts no night by itself."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import psutil
import pytest

from crm_followups.cli import servers
from crm_followups.cli.stack import local_airflow_env, prepare_environment
from crm_followups.core.settings import REPO_ROOT, Settings

READY_TIMEOUT_S = 240  # Airflow: set-up (migrate, dbt parse) and three components on two busy cores
STOP_TIMEOUT_S = 60


def _free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(data_dir: Path) -> dict[str, str]:
    """This environment with the session's Airflow/MLflow paths replaced by the fresh folder's."""
    return {**os.environ, **Settings(data_dir=data_dir).airflow_env()}


@contextmanager
def _ui(data_dir: Path, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """``crm-followups ui ...`` running; stopped by the test, or killed with its tree after a failure."""
    output = data_dir.parent / f"ui-{args[0]}.log"
    with output.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "crm_followups", "ui", *args], cwd=REPO_ROOT,
                                   env=_env(data_dir), stdout=sink, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        yield process, output
    finally:
        if process.poll() is None:
            servers.stop_all([process])


def _wait_ready(process: subprocess.Popen[bytes], output: Path, url: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while f"ready: {url}" not in output.read_text(errors="replace"):
        assert process.poll() is None, f"ui exited with {process.returncode}:\n{_tail(output)}"
        assert time.monotonic() < deadline, f"no 'ready: {url}' within {READY_TIMEOUT_S}s:\n{_tail(output)}"
        time.sleep(1)


def _tail(output: Path, lines: int = 40) -> str:
    return "\n".join(output.read_text(errors="replace").splitlines()[-lines:])


def _tree(process: subprocess.Popen[bytes]) -> list[psutil.Process]:
    root = psutil.Process(process.pid)
    return [root, *root.children(recursive=True)]


def _listening(tree: list[psutil.Process]) -> set[tuple[str, int]]:
    return {(c.laddr.ip, c.laddr.port) for proc in tree for c in proc.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN}


def _alive(tree: list[psutil.Process]) -> list[str]:
    alive = []
    for proc in tree:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(" ".join(proc.cmdline()[:5]))
        except psutil.NoSuchProcess:
            pass
    return alive


def _stop_and_check(process: subprocess.Popen[bytes], output: Path, tree: list[psutil.Process]) -> None:
    """SIGTERM the ui command: it exits 0 saying so, and nothing it started outlives it."""
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=STOP_TIMEOUT_S) == 0, _tail(output)
    assert "stopped (SIGTERM)" in _tail(output, 5)
    # the ui command's own helpers (multiprocessing's resource tracker) end when it ends
    psutil.wait_procs(tree, timeout=10)
    assert not _alive(tree)


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def test_mlflow_ui_listens_on_loopback_without_job_runners_and_stops_whole(tmp_path: Path):
    port = _free_port()
    with _ui(tmp_path / "data", "mlflow", "--port", str(port)) as (process, output):
        _wait_ready(process, output, f"http://127.0.0.1:{port}/")
        tree = _tree(process)
        assert _listening(tree) == {("127.0.0.1", port)}
        # the ui command, `mlflow server` and its one uvicorn worker: no job-runner consumers
        assert len(tree) == 3, [p.cmdline()[:4] for p in tree]
        _stop_and_check(process, output, tree)


def test_docs_ui_generates_the_catalog_then_serves_it_on_loopback(tmp_path: Path):
    port = _free_port()
    with _ui(tmp_path / "data", "docs", "--port", str(port)) as (process, output):
        url = f"http://127.0.0.1:{port}/"
        _wait_ready(process, output, url)
        assert "fct_communications" in json.dumps(_get(url + "manifest.json")["nodes"])
        # the catalog describes the warehouse's tables (here only the Python-written ones)
        assert "source.crm_followups.extract._load_manifest" in _get(url + "catalog.json")["sources"]
        tree = _tree(process)
        assert _listening(tree) == {("127.0.0.1", port)}
        _stop_and_check(process, output, tree)


def _unpause_in_metadata(data_dir: Path) -> None:
    """What a night run before leaves: crm_nightly in the metadata DB, unpaused."""
    env = _env(data_dir)
    for command in (["crm_followups", "setup"], ["airflow", "dags", "reserialize"],
                    ["airflow", "dags", "unpause", "crm_nightly"]):
        subprocess.run([sys.executable, "-m", *command], cwd=REPO_ROOT, env=env, check=True,
                       capture_output=True)


def test_airflow_ui_pauses_the_dag_listens_on_loopback_and_stops_whole(tmp_path: Path):
    data_dir = tmp_path / "data"
    _unpause_in_metadata(data_dir)
    port = _free_port()
    with _ui(data_dir, "airflow", "--port", str(port)) as (process, output):
        url = f"http://127.0.0.1:{port}/"
        _wait_ready(process, output, url)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while _get(url + "api/v2/monitor/health")["scheduler"]["status"] != "healthy":
            assert time.monotonic() < deadline, _tail(output)
            time.sleep(2)
        time.sleep(10)  # unpaused, the scheduler creates today's run within its first loops
        assert _get(url + "api/v2/dags/crm_nightly")["is_paused"] is True  # and no login asked
        assert _get(url + "api/v2/dags/crm_nightly/dagRuns")["total_entries"] == 0
        tree = _tree(process)
        names = " ".join(" ".join(p.cmdline()) for p in tree)
        assert "airflow scheduler" in names and "airflow dag-processor" in names
        # only the api-server listens: no log server (Airflow's bind every interface)
        assert _listening(tree) == {("127.0.0.1", port)}
        _stop_and_check(process, output, tree)


def test_a_process_that_left_its_group_and_ignores_sigterm_is_killed(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch):
    """Airflow runs each task in a process group of its own: stopping the server's group alone
    would leave it running."""
    monkeypatch.setattr(servers, "STOP_GRACE_S", 1.0)
    ignoring = tmp_path / "ignoring-sigterm"
    grandchild = ("import pathlib, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                  "pathlib.Path(sys.argv[1]).touch(); time.sleep(600)")
    server = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; "
                               "subprocess.Popen(sys.argv[1:], start_new_session=True); time.sleep(600)",
                               sys.executable, "-c", grandchild, str(ignoring)], start_new_session=True)
    deadline = time.monotonic() + 30
    while not ignoring.exists():
        assert time.monotonic() < deadline, "the grandchild did not start"
        time.sleep(0.1)
    tree = _tree(server)
    killed = servers.stop_all([server])
    assert len(killed) == 1 and "SIG_IGN" in killed[0], killed
    assert not _alive(tree)


def test_a_server_that_exits_stops_the_others_and_fails_naming_it(tmp_path: Path):
    started = tmp_path / "started"
    sleeper = servers.Server("sleeper", [sys.executable, "-c", "import pathlib, sys, time; "
                                         "pathlib.Path(sys.argv[1]).touch(); time.sleep(600)", str(started)])
    quitter = servers.Server("quitter", [sys.executable, "-c", "import pathlib, sys, time\n"
                                         "while not pathlib.Path(sys.argv[1]).exists(): time.sleep(0.1)\n"
                                         "sys.exit(3)", str(started)])
    with pytest.raises(servers.ServersFailedError) as failed:
        servers.serve("Test UI", [sleeper, quitter], f"http://127.0.0.1:{_free_port()}/", os.environ)
    assert str(failed.value) == "Test UI: exited by itself: quitter (exit code 3); stopped sleeper, quitter"
    assert failed.value.code == str(failed.value)  # SystemExit: printed, exit status 1


def test_the_local_airflow_reports_to_its_own_port_and_scheduled_nights_retry(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("CRM_TASK_RETRIES")  # restored after the test
    settings = Settings(data_dir=tmp_path / "data")
    prepare_environment(settings)  # what every command does first: in-process runs fail fast
    assert os.environ["CRM_TASK_RETRIES"] == "0"
    env = local_airflow_env(settings, 18123)
    assert env["CRM_TASK_RETRIES"] == "2"  # the product's default, for the scheduler's nights
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18123/execution/"
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "True"
    secret = env["AIRFLOW__API_AUTH__JWT_SECRET"]
    assert len(secret) >= 64 and secret != local_airflow_env(settings, 18123)["AIRFLOW__API_AUTH__JWT_SECRET"]
