"""Fixtures shared by all tests: the real broker, started through `jwtgen broker start`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.kafkaio import JWTGEN, REPO, free_port, load_schemas


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a real single-node Kafka, started and stopped by the project's CLI.

    Set JWTGEN_TEST_BOOTSTRAP to reuse a broker that already runs (local iteration).
    """
    existing = os.environ.get("JWTGEN_TEST_BOOTSTRAP")
    if existing:
        yield existing
        return
    port = free_port()
    data_dir = tmp_path_factory.mktemp("broker")
    start = subprocess.run(
        [*JWTGEN, "broker", "start", "--port", str(port), "--data-dir", str(data_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if start.returncode != 0:
        pytest.fail(f"jwtgen broker start failed:\n{start.stdout}\n{start.stderr}")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([*JWTGEN, "broker", "stop", "--data-dir", str(data_dir)], cwd=REPO, check=False)


@pytest.fixture(scope="session")
def schemas() -> dict[str, object]:
    return load_schemas()


def pytest_report_header() -> list[str]:
    return [f"python {sys.version.split()[0]}, repo {REPO}"]
