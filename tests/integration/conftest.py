"""Integration fixtures: a worker process per module, on its own topic prefix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kafkaio import KafkaIO, WorkerProcess, free_port, unique_prefix


@pytest.fixture(scope="module")
def prefix(request: pytest.FixtureRequest) -> str:
    return unique_prefix(request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_"))


@pytest.fixture(scope="module")
def worker(kafka: str, prefix: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    log = Path(tmp_path_factory.mktemp("worker")) / "worker.log"
    proc = WorkerProcess(prefix, kafka, free_port(), log).start()
    try:
        yield proc
    finally:
        proc.stop()
        # The log must never carry key material; tests put secrets that say so.
        assert "TOP-SECRET" not in proc.log()


@pytest.fixture(scope="module")
def io(kafka: str, prefix: str, worker: WorkerProcess) -> Iterator[KafkaIO]:
    kio = KafkaIO(kafka, prefix).open()
    try:
        yield kio
    finally:
        kio.close()
