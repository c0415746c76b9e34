"""`jwtgen broker start|stop`: idempotent start, stale pid files, clean stop, ports in use."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.support import processes
from tests.support.processes import free_port
from worker.devtools import broker, ports

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


def jwtgen(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # Starting a broker may fetch Kafka's jars first: more time than other commands.
    return processes.jwtgen(*args, env=env, timeout=180)


def jvm_arguments(pid: str) -> list[str]:
    """The options the running broker's JVM was started with (before its main class)."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return [a.decode() for a in argv[: argv.index(b"kafka.Kafka")]]


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
        # Our JVM options when KAFKA_HEAP_OPTS and KAFKA_JVM_PERFORMANCE_OPTS are unset:
        assert {
            "-Xmx1g",
            "-Xmn256m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-XX:MaxTenuringThreshold=1",
        } <= set(jvm_arguments(pid))
        assert (data / "server.log").stat().st_size > 0  # the broker logs through Log4j2
        # The tool picks the controller port itself, below the ephemeral range.
        voters = re.search(r"controller.quorum.voters=1@127.0.0.1:(\d+)", (data / "server.properties").read_text())
        assert voters, "no controller port in server.properties"
        assert ports.LOWEST_PORT <= int(voters[1]) < ports.ephemeral_range()[0]
        assert int(voters[1]) != int(port)
        assert asyncio.run(transaction_commits(f"127.0.0.1:{port}")) == [b"in-txn"]
    finally:
        stopped = jwtgen("broker", "stop", "--data-dir", str(data))
    assert stopped.returncode == 0 and f"pid {pid}" in stopped.stdout
    assert not (data / "broker.pid").exists()

    # A pid file left by a crash (the pid is gone) does not block a start,
    # and the formatted storage is reused.
    # The JVM's options come from Kafka's own variables when they are set.
    (data / "broker.pid").write_text("999999")
    own = {"KAFKA_HEAP_OPTS": "-Xms128m -Xmx768m", "KAFKA_JVM_PERFORMANCE_OPTS": "-XX:+UseG1GC"}
    restarted = jwtgen("broker", "start", "--port", port, "--data-dir", str(data), env={**os.environ, **own})
    try:
        assert restarted.returncode == 0, restarted.stdout + restarted.stderr
        assert "serving" in restarted.stdout
        options = jvm_arguments((data / "broker.pid").read_text().strip())
        assert {"-Xms128m", "-Xmx768m", "-XX:+UseG1GC"} <= set(options)
        assert not {"-Xmx1g", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"} & set(options)
    finally:
        jwtgen("broker", "stop", "--data-dir", str(data))
    assert "no broker running" in jwtgen("broker", "stop", "--data-dir", str(data)).stdout


def bind_free(sock: socket.socket) -> int:
    """Bind `sock` to a free port below the ephemeral range, and return it.

    `free_port` counts a port whose old connections linger in TIME_WAIT as free,
    as Kafka (binding with SO_REUSEADDR) would; a plain bind refuses it, so
    such a port is passed over.
    """
    for _ in range(50):
        try:
            sock.bind(("127.0.0.1", free_port()))
        except OSError:
            continue
        port: int = sock.getsockname()[1]
        return port
    raise OSError("no port below the ephemeral range could be bound in 50 tries")


@pytest.fixture(params=["bound", "listening"])
def taken_port(request: pytest.FixtureRequest) -> Iterator[int]:
    """A port another process holds: bound only (a connect is refused, a bind fails), or listening."""
    with socket.socket() as sock:
        port = bind_free(sock)
        if request.param == "listening":
            sock.listen(1)
        yield port


def test_a_port_in_use_is_refused_in_one_line(taken_port: int, tmp_path: Path) -> None:
    data = tmp_path / "broker"
    started = jwtgen("broker", "start", "--port", str(taken_port), "--data-dir", str(data))
    assert started.returncode == 1
    assert f"port {taken_port} is in use" in started.stderr
    assert "--port" in started.stderr
    assert started.stderr.strip().count("\n") == 0, started.stderr
    assert "log4j" not in (started.stdout + started.stderr).lower()
    assert not (data / "broker.pid").exists()


def test_a_port_taken_after_the_check_is_reported_from_the_broker_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The race: the port is free when checked and taken before Kafka binds it.
    monkeypatch.setattr(broker, "_require_free", lambda port: None)
    data = tmp_path / "broker"
    with socket.socket() as holder:
        port = bind_free(holder)
        holder.listen(1)
        with pytest.raises(broker.BrokerError) as failure:
            broker.start(port=port, data_dir=data, wait_seconds=120, say=lambda _: None)
    message = str(failure.value)
    assert message.startswith(f"port {port} is in use: the broker could not bind 127.0.0.1:{port}"), message
    assert "Address already in use" in message
    assert "\n" not in message and "log4j" not in message.lower()
    assert not (data / "broker.pid").exists()


def test_a_controller_port_taken_after_it_was_chosen_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "broker"
    port = free_port()
    with socket.socket() as holder:
        controller = bind_free(holder)
        holder.listen(1)
        # The race: the chosen controller port is taken before Kafka binds it.
        monkeypatch.setattr(broker.ports, "free_port", lambda **_: controller)
        with pytest.raises(broker.BrokerError) as failure:
            broker.start(port=port, data_dir=data, wait_seconds=120, say=lambda _: None)
    message = str(failure.value)
    assert message.startswith(f"controller port {controller} is in use"), message
    assert "start again" in message and "\n" not in message
    assert not (data / "broker.pid").exists()
