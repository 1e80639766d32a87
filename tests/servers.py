"""Servers that tests start and stop themselves: each on a free loopback port, in its own
process group (so its workers stop with it), its output in a log file that a failure quotes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from contextlib import closing
from pathlib import Path


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


class Processes:
    """Long-running servers, each in its own process group so all its children stop too."""

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        self.log_dir, self.env, self.running = log_dir, env, {}
        log_dir.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        """``python -m <args>``, in this environment plus ``env``."""
        log = (self.log_dir / f"{name}.log").open("w")
        self.running[name] = subprocess.Popen([sys.executable, "-m", *args], env={**self.env, **(env or {})},
                                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def run(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", *args], env=self.env, capture_output=True, text=True)
        assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def assert_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.running.items() if p.poll() is not None}
        assert not dead, f"exited early: {dead}\n{self.tails()}"

    def tails(self, lines: int = 25) -> str:
        return "\n".join(f"--- {log.name}\n" + "\n".join(log.read_text().splitlines()[-lines:])
                         for log in sorted(self.log_dir.glob("*.log")))

    def wait_for(self, what: str, ready: Callable[[], bool], timeout_s: float) -> None:
        """Poll ``ready`` every two seconds until it holds; fail with the servers' logs when one
        of them exits or ``timeout_s`` passes."""
        deadline = time.monotonic() + timeout_s
        while not ready():
            self.assert_alive()
            assert time.monotonic() < deadline, f"timed out waiting for {what}\n{self.tails()}"
            time.sleep(2)

    def stop_all(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for process in self.running.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
