"""`jwtgen broker start|stop`: idempotent start, stale pid files, clean stop."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.kafkaio import JWTGEN, REPO, free_port

pytestmark = pytest.mark.integration


def jwtgen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*JWTGEN, *args], cwd=REPO, capture_output=True, text=True, timeout=180)


def test_start_twice_stale_pid_and_stop(tmp_path: Path) -> None:
    data = tmp_path / "broker"
    port = str(free_port())
    first = jwtgen("broker", "start", "--port", port, "--data-dir", str(data))
    assert first.returncode == 0, first.stderr
    pid = (data / "broker.pid").read_text().strip()
    try:
        again = jwtgen("broker", "start", "--port", port, "--data-dir", str(data))
        assert again.returncode == 0, again.stderr
        assert "already running" in again.stdout
        assert (data / "broker.pid").read_text().strip() == pid
        assert (data / "server.log").stat().st_size > 0  # the broker logs through Log4j2
    finally:
        stopped = jwtgen("broker", "stop", "--data-dir", str(data))
    assert stopped.returncode == 0 and f"pid {pid}" in stopped.stdout
    assert not (data / "broker.pid").exists()

    # A pid file left by a crash (the pid is gone) does not block a start,
    # and the formatted storage is reused.
    (data / "broker.pid").write_text("999999")
    restarted = jwtgen("broker", "start", "--port", port, "--data-dir", str(data))
    try:
        assert restarted.returncode == 0, restarted.stdout + restarted.stderr
        assert "serving" in restarted.stdout
    finally:
        jwtgen("broker", "stop", "--data-dir", str(data))
    assert "no broker running" in jwtgen("broker", "stop", "--data-dir", str(data)).stdout
