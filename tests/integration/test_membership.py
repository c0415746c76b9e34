"""Workers join and leave while requests flow: clean changes answer each request once, a crash loses nothing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.support.configs import hs256_config, request_for
from tests.support.kafkaio import KafkaIO, WorkerProcess, unique_prefix
from tests.support.opsio import Audit, SteadyLoad, health, kill, spawn, stand_still, wait_until, worker

pytestmark = pytest.mark.integration

RATE = 150  # requests a second: every partition busy, far below what one worker answers


def in_background(action: object) -> threading.Thread:
    thread = threading.Thread(target=action)  # type: ignore[arg-type]
    thread.start()
    return thread


def keep_loading_until(load: SteadyLoad, thread: threading.Thread, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while thread.is_alive() and time.monotonic() < deadline:
        load.tick()
    assert not thread.is_alive(), "the worker did not start or stop in time"


def test_a_clean_join_and_a_clean_leave_answer_every_request_once(kafka: str, tmp_path: Path) -> None:
    prefix = unique_prefix("joinleave")
    first = worker(prefix, kafka, tmp_path / "w1.log").start()
    second = worker(prefix, kafka, tmp_path / "w2.log")
    io = KafkaIO(kafka, prefix).open()
    try:
        io.put_config(hs256_config("steady"))
        load = SteadyLoad(io, lambda: request_for("steady"), RATE)
        load.run_for(5)
        keep_loading_until(load, in_background(second.start), 90)  # joins: a rebalance
        load.run_for(6)
        keep_loading_until(load, in_background(second.stop), 60)  # leaves on SIGTERM: another
        load.run_for(5)
        load.drain(60)
        audit = Audit(io, load.keys)
        print(f"\nclean join and leave: {audit}")
        assert "Revoking previously assigned partitions" in first.log()  # it did rebalance
        assert not audit.lost, str(audit)
        assert not audit.duplicated, str(audit)
    finally:
        io.close()
        first.stop()
        second.stop()


def test_a_killed_static_member_restarts_without_a_rebalance_and_loses_nothing(kafka: str, tmp_path: Path) -> None:
    prefix = unique_prefix("static")
    # The restart must beat the session timeout; leave room for a busy machine.
    session = {"JWTGEN_SESSION_TIMEOUT_SECONDS": 30}
    a = worker(prefix, kafka, tmp_path / "a.log", JWTGEN_GROUP_INSTANCE_ID="worker-a", **session).start()
    b = worker(prefix, kafka, tmp_path / "b.log", JWTGEN_GROUP_INSTANCE_ID="worker-b", **session).start()
    restarted: WorkerProcess | None = None
    io = KafkaIO(kafka, prefix).open()
    try:
        wait_until(lambda: "Revoking previously assigned partitions" in a.log(), 30, "a rebalanced when b joined")
        io.put_config(hs256_config("static"))
        load = SteadyLoad(io, lambda: request_for("static"), RATE)
        load.run_for(6)
        a_before = a.log().count("Revoking previously assigned partitions")
        killed_at = time.time()
        kill(b)  # SIGKILL: no leave, no commit
        restarted = spawn(worker(prefix, kafka, tmp_path / "b2.log", JWTGEN_GROUP_INSTANCE_ID="worker-b", **session))
        keep_loading_until(load, in_background(lambda: wait_until(lambda: restarted.health()[0] == 200, 90, "")), 90)
        load.run_for(8)
        load.drain(90)
        audit = Audit(io, load.keys)
        silence, partition = stand_still(io, load.keys, killed_at - 1)
        print(
            f"\nSIGKILL and restart, static membership: {audit}; longest time without any answer {silence:.1f}s, "
            f"longest a partition stood still {partition:.1f}s"
        )
        assert not audit.lost and not audit.differing, str(audit)
        # The survivor never gave its partitions up: the restarted member took its place.
        assert a.log().count("Revoking previously assigned partitions") == a_before, a.log()[-3000:]
    finally:
        io.close()
        a.stop()
        b.stop()
        if restarted is not None:
            restarted.stop()


def test_a_static_member_that_stops_cleanly_hands_its_partitions_over_at_once(kafka: str, tmp_path: Path) -> None:
    prefix = unique_prefix("staticleave")
    a = worker(prefix, kafka, tmp_path / "a.log", JWTGEN_GROUP_INSTANCE_ID="worker-a").start()
    b = worker(prefix, kafka, tmp_path / "b.log", JWTGEN_GROUP_INSTANCE_ID="worker-b").start()
    io = KafkaIO(kafka, prefix).open()
    try:
        wait_until(lambda: health(a)[1].get("partitions", {}).get("assigned") == 4, 30, "a holds half the partitions")
        io.put_config(hs256_config("leave"))
        load = SteadyLoad(io, lambda: request_for("leave"), RATE)
        load.run_for(4)
        stopping = in_background(b.stop)
        stopped_at = time.monotonic()
        keep_loading_until(load, stopping, 60)
        while health(a)[1].get("partitions", {}).get("assigned") != 8 and time.monotonic() - stopped_at < 30:
            load.tick()
        took = time.monotonic() - stopped_at
        load.run_for(3)
        load.drain(60)
        audit = Audit(io, load.keys)
        print(f"\nclean stop of a static member: all partitions on the survivor after {took:.1f}s; {audit}")
        # Without a LeaveGroup the partitions would wait for the 15 s session timeout.
        assert took < 10, took
        assert not audit.lost and not audit.duplicated, str(audit)
    finally:
        io.close()
        a.stop()
        b.stop()
