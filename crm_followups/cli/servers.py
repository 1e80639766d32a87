"""Local servers run as children of ``crm-followups ui``, stopped together with everything they
started.

Each server runs in its own process group (``start_new_session``), so a signal reaches its
workers too; processes that leave their group (Airflow runs each task in a group of its own)
are found by walking the process tree before the stop. SIGTERM or SIGINT (Ctrl-C) to the
``ui`` command stops them all; so does one of them exiting by itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType

import psutil

STOP_GRACE_S = 20.0  # Airflow's components end running tasks and close their DB sessions
POLL_S = 0.5


@dataclass(frozen=True)
class Server:
    """One long-running command, named in messages."""

    name: str
    command: Sequence[str]


class ServersFailedError(SystemExit):
    """A server exited by itself, or the UI never answered: the others were stopped."""


def answers(url: str) -> bool:
    """Whether an HTTP server answers at ``url`` (any status: it is up)."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def serve(title: str, servers: Sequence[Server], url: str, env: Mapping[str, str],
          ready_timeout_s: float = 300.0, page: str = "") -> None:
    """Run ``servers`` until SIGTERM/SIGINT; once ``url`` answers, print it (with ``page``, the
    place a user should open); stop them all."""
    stop_signal: list[int] = []

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop_signal.append(signum)

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    running: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for server in servers:
            running[server.name] = subprocess.Popen(list(server.command), env=dict(env),
                                                    start_new_session=True)
        problem = _watch(title, running, url, page, ready_timeout_s, lambda: bool(stop_signal))
    finally:
        killed = stop_all(list(running.values()))
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    forced = f"; killed after {STOP_GRACE_S:.0f}s: {', '.join(killed)}" if killed else ""
    if problem:
        raise ServersFailedError(f"{title}: {problem}; stopped {', '.join(running)}{forced}")
    print(f"{title} stopped ({signal.Signals(stop_signal[0]).name}): {', '.join(running)}{forced}",
          file=sys.stderr, flush=True)


def _watch(title: str, running: Mapping[str, subprocess.Popen[bytes]], url: str, page: str,
           ready_timeout_s: float, stop_requested: Callable[[], bool]) -> str | None:
    """Wait for a stop request; say when ``url`` answers. Returns why it stopped by itself."""
    deadline = time.monotonic() + ready_timeout_s
    ready = False
    while not stop_requested():
        exited = {name: p.returncode for name, p in running.items() if p.poll() is not None}
        if exited:
            return "exited by itself: " + ", ".join(f"{n} (exit code {c})" for n, c in exited.items())
        if not ready and answers(url):
            ready = True
            print(f"{title} ready: {url}{page}  (Ctrl-C stops it)", flush=True)
        if not ready and time.monotonic() > deadline:
            return f"{url} did not answer within {ready_timeout_s:.0f}s"
        time.sleep(POLL_S)
    return None


def stop_all(processes: Sequence[subprocess.Popen[bytes]]) -> list[str]:
    """SIGTERM each server's process group and the descendants that left it, wait up to
    ``STOP_GRACE_S``, then SIGKILL what is left. Returns the killed processes' names."""
    groups = {popen.pid for popen in processes}
    tree = [proc for popen in processes for proc in _tree(popen.pid)]
    for group in groups:
        _signal_group(group, signal.SIGTERM)
    for proc in tree:
        if _group(proc) not in groups:
            _signal(proc, signal.SIGTERM)
    _, alive = psutil.wait_procs(tree, timeout=STOP_GRACE_S)
    killed = [f"{_name(proc)} (pid {proc.pid})" for proc in alive]
    for group in groups:
        _signal_group(group, signal.SIGKILL)
    for proc in alive:
        _signal(proc, signal.SIGKILL)
    psutil.wait_procs(alive, timeout=5)
    for popen in processes:
        popen.wait()  # reap our own children
    return killed


def _tree(pid: int) -> list[psutil.Process]:
    """A process and all its descendants, including those in process groups of their own."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _group(proc: psutil.Process) -> int | None:
    try:
        return os.getpgid(proc.pid)
    except ProcessLookupError:
        return None


def _signal_group(group: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, sig)


def _signal(proc: psutil.Process, sig: int) -> None:
    with contextlib.suppress(psutil.NoSuchProcess):
        proc.send_signal(sig)


def _name(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline()[:4]) or proc.name()
    except psutil.Error:
        return "?"
