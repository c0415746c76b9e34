"""Loses nothing: a worker killed mid-stream is replaced and every request is still answered."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.support.configs import hs256_config, request_for
from tests.support.kafkaio import KafkaIO, WorkerProcess, unique_prefix
from tests.support.processes import free_port

pytestmark = pytest.mark.integration


def test_killed_worker_is_replaced_without_losing_a_request(kafka: str, tmp_path: Path) -> None:
    prefix = unique_prefix("resilience")
    # The first worker creates the topics; it is stopped cleanly so that a
    # backlog can build up before the one that gets killed starts.
    WorkerProcess(prefix, kafka, free_port(), tmp_path / "w0.log").start().stop()
    io = KafkaIO(kafka, prefix).open()
    first: WorkerProcess | None = None
    second: WorkerProcess | None = None
    try:
        io.put_config(hs256_config("steady"))
        requests = [request_for("steady") for _ in range(20000)]
        keys = [r["execution_id"] for r in requests]
        io.send_requests(requests)
        first = WorkerProcess(prefix, kafka, free_port(), tmp_path / "w1.log").start()
        # Kill it hard while it works through the backlog, before it could
        # commit everything it answered.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(io.answers) < 300:
            io._poll(100)
        assert first.proc is not None
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(10)
        answered_before = len(io.answers)
        assert answered_before < len(keys), "the first worker finished before it could be killed"

        second = WorkerProcess(prefix, kafka, free_port(), tmp_path / "w2.log").start()
        answers = io.wait_for(keys, timeout=120)
        assert all(kind == "true" for kind, _ in answers.values())
        # A redelivered request gets the same answer (same iat, same token).
        for key in keys:
            tokens = {body["store_delta"][0]["values"]["token"] for _, body, _ in io.answers[key]}
            assert len(tokens) == 1, key
    finally:
        io.close()
        if first is not None:
            first.stop()
        if second is not None:
            second.stop()
