"""A worker for the replay: `jwtgen worker` of this installation, as a subprocess on the replay's prefix."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from worker.devtools.ports import free_port


class WorkerFailed(RuntimeError):
    """The replay's worker did not start or died; the text ends with its last log lines."""


class WorkerProcess:
    """`python -m worker.cli worker` on `prefix`, its log and Faust data in a temp dir of its own."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.web_port = free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="jwtgen-replay-worker-")
        self.log_path = Path(self._dir.name) / "worker.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def start(self, timeout: float = 120.0) -> None:
        """Start it and return once its config table is ready (GET /healthz answers 200)."""
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "JWTGEN_TOPIC_PREFIX": self.prefix,
            "JWTGEN_DATA_DIR": str(Path(self._dir.name) / "data"),
            "PYTHONUNBUFFERED": "1",
        }
        command = [sys.executable, "-m", "worker.cli", "worker", "--web-port", str(self.web_port)]
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [*command, "--web-host", "127.0.0.1"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise WorkerFailed(f"the worker exited with {self._proc.returncode}:\n{self.log_tail()}")
            if self._healthy():
                return
            time.sleep(0.3)
        self.stop()
        raise WorkerFailed(f"the worker was not ready within {timeout:.0f}s:\n{self.log_tail()}")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/healthz", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 30.0) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self._dir.cleanup()
