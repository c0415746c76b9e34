"""Child processes the tests start (workers, the broker CLI, Prometheus): run, wait for, stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from worker.devtools import ports

REPO = Path(__file__).resolve().parents[2]
JWTGEN = [sys.executable, "-m", "worker.cli"]


def free_port() -> int:
    """A free port for a broker or a worker's web server, below the kernel's ephemeral range.

    A port from the ephemeral range could be taken by any outgoing connection,
    even a client's connection to itself while it retries a stopped broker.
    """
    return ports.free_port()


def jwtgen(*args: str, env: dict[str, str] | None = None, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """`jwtgen ARGS` as a user runs it, from the repository, output captured."""
    return subprocess.run(
        [*JWTGEN, *args], cwd=REPO, env=env or dict(os.environ), capture_output=True, text=True, timeout=timeout
    )


def spawn(cmd: list[str], log_path: Path, *, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start `cmd` in the background, its stdout and stderr appended to `log_path`."""
    with log_path.open("ab") as log:
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def read_log(log_path: Path) -> str:
    return log_path.read_text(errors="replace") if log_path.exists() else ""


def wait_ready(
    proc: subprocess.Popen[bytes], ready: Callable[[], bool], log_path: Path, what: str, timeout: float, every: float
) -> None:
    """Poll `ready` until it holds; raise with the log's tail if `proc` exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{read_log(log_path)[-4000:]}")
        if ready():
            return
        time.sleep(every)
    raise RuntimeError(f"{what} not ready within {timeout}s:\n{read_log(log_path)[-4000:]}")


def stop(proc: subprocess.Popen[bytes] | None, timeout: float = 30.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
