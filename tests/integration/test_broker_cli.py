"""`jwtgen broker start|stop`: idempotent start, stale pid files, clean stop."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.support import processes
from tests.support.processes import free_port

pytestmark = pytest.mark.integration


async def transaction_commits(bootstrap: str) -> list[bytes]:
    """A transactional write and a read_committed read: the one-node transaction log works."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id="jwtgen-test-txn")
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send_and_wait("txn-check", b"in-txn")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        "txn-check", bootstrap_servers=bootstrap, isolation_level="read_committed", auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=10000)
        return [r.value for records in batches.values() for r in records]
    finally:
        await consumer.stop()


def jwtgen(*args: str) -> subprocess.CompletedProcess[str]:
    # Starting a broker may fetch Kafka's jars first: more time than other commands.
    return processes.jwtgen(*args, timeout=180)


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
        assert asyncio.run(transaction_commits(f"127.0.0.1:{port}")) == [b"in-txn"]
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
