"""Kafka goes away: starting without it, an outage, a broker restart under load, stopping without it.

These tests stop and start a broker of their own (`jwtgen broker start|stop`
on a port in 20000-32000), never the shared one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.configs import hs256_config, request_for
from tests.support.kafkaio import KafkaIO, unique_prefix
from tests.support.opsio import (
    Audit,
    OwnBroker,
    broker_port,
    health,
    log_lines,
    problem_lines,
    spawn,
    stop_timed,
    wait_until,
    worker,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnBroker]:
    """Not started: the first test starts it. Stopped at the end whatever happened."""
    own = OwnBroker(tmp_path_factory.mktemp("own-broker"))
    try:
        yield own
    finally:
        own.stop()


def test_a_worker_started_before_kafka_waits_for_it(broker: OwnBroker, tmp_path: Path) -> None:
    prefix = unique_prefix("startwait")
    waiting = spawn(worker(prefix, broker.bootstrap, tmp_path / "w.log", JWTGEN_STARTUP_WAIT_SECONDS=120))
    io = None
    try:
        wait_until(lambda: "is not reachable" in waiting.log(), 30, "the worker says it waits for Kafka")
        time.sleep(4)
        assert waiting.proc is not None and waiting.proc.poll() is None, waiting.log()
        broker.start()
        waited = wait_until(lambda: health(waiting)[0] == 200, 90, "healthy once Kafka is up")
        text = waiting.log()
        assert "is reachable after" in text
        assert text.count("is not reachable") == 1
        # aiokafka's own connection errors were held back while waiting.
        assert "Unable connect" not in text.split("is reachable after")[0]
        print(f"\nstart before Kafka: healthy {waited:.1f}s after the broker started")
        io = KafkaIO(broker.bootstrap, prefix).open()
        io.put_config(hs256_config("wait"))
        request = request_for("wait")
        io.send_request(request)
        assert io.answer(request["execution_id"], timeout=60)[0] == "true"
    finally:
        if io is not None:
            io.close()
        waiting.stop()


def test_a_worker_gives_up_after_the_startup_wait(tmp_path: Path) -> None:
    nobody = f"127.0.0.1:{broker_port()}"  # nothing listens there
    proc = spawn(worker(unique_prefix("giveup"), nobody, tmp_path / "w.log", JWTGEN_STARTUP_WAIT_SECONDS=3))
    assert proc.proc is not None
    started = time.monotonic()
    code = proc.proc.wait(60)
    took = time.monotonic() - started
    text = proc.log()
    assert code == 1, text
    assert took < 20, took
    assert text.count(f"Kafka at {nobody} was not reachable within 3s") == 1, text
    assert "Traceback" not in text and "Unable connect" not in text, text


def test_an_outage_is_a_few_clear_lines_and_fails_readiness_not_liveness(broker: OwnBroker, tmp_path: Path) -> None:
    broker.start()
    prefix = unique_prefix("outage")
    repeat = 10  # seconds between reminders and between repeats of one client error
    proc = worker(prefix, broker.bootstrap, tmp_path / "w.log", JWTGEN_LOG_REPEAT_SECONDS=repeat).start()
    io = KafkaIO(broker.bootstrap, prefix).open()
    try:
        io.put_config(hs256_config("outage"))
        before = [request_for("outage") for _ in range(200)]
        io.send_requests(before)
        io.wait_for([r["execution_id"] for r in before], timeout=60)

        lines_before = len(log_lines(proc.log()))
        broker.stop()
        down_at = time.monotonic()
        noticed = wait_until(lambda: health(proc)[0] == 503, 30, "/healthz fails while Kafka is unreachable")
        _, body = health(proc)
        assert body["kafka"]["reachable"] is False and body["config_table_ready"] is True, body
        outage = 40.0
        while time.monotonic() - down_at < outage:
            assert proc.get("/livez")[0] == 200, "liveness never depends on Kafka"
            time.sleep(2)
        metrics = proc.metrics()
        assert "jwtgen_kafka_reachable 0.0" in metrics
        during = log_lines(proc.log())[lines_before:]
        problems = problem_lines("\n".join(during))

        broker.start()
        recovered = wait_until(lambda: health(proc)[0] == 200, 90, "/healthz 200 once Kafka is back")
        after = [request_for("outage") for _ in range(200)]
        io.send_requests(after)
        io.wait_for([r["execution_id"] for r in after], timeout=90)
        text = proc.log()
        assert text.count("is unreachable (") == 1
        assert text.count("still unreachable after") >= 2
        assert text.count("reachable again after") == 1
        assert "jwtgen_kafka_reachable 1.0" in proc.metrics()
        # Each client error template at most once per `repeat` seconds, plus our
        # own lines: about 120 lines a second without the bound.
        print(
            f"\noutage of {outage:.0f}s: /healthz 503 after {noticed:.1f}s, {len(during)} log lines "
            f"({len(problems)} warnings/errors), 200 again {recovered:.1f}s after the broker was back"
        )
        assert len(problems) <= 60, "\n".join(problems)
        assert len(during) <= 100, "\n".join(during)
    finally:
        io.close()
        proc.stop()


def test_a_broker_restart_under_load_loses_nothing(broker: OwnBroker, tmp_path: Path) -> None:
    broker.start()
    prefix = unique_prefix("restart")
    proc = worker(prefix, broker.bootstrap, tmp_path / "w.log").start()
    io = KafkaIO(broker.bootstrap, prefix).open()
    try:
        io.put_config(hs256_config("restart"))
        requests = [request_for("restart") for _ in range(6000)]
        keys = [r["execution_id"] for r in requests]
        io.send_requests(requests)
        wait_until(lambda: (io._poll(100), len(io.answers))[1] >= 500, 60, "answers before the restart")
        broker.stop()
        broker.start()
        io.wait_for(keys, timeout=150)
        audit = Audit(io, keys)
        print(f"\nbroker restart under load: {audit}")
        assert not audit.lost and not audit.differing, str(audit)
        assert all(found[0][0] == "true" for found in io.answers.values())
    finally:
        io.close()
        proc.stop()


def test_a_stop_with_kafka_down_is_bounded_and_commits_nothing_unanswered(broker: OwnBroker, tmp_path: Path) -> None:
    broker.start()
    prefix = unique_prefix("downstop")
    limit = 8
    proc = worker(prefix, broker.bootstrap, tmp_path / "w.log", JWTGEN_SHUTDOWN_TIMEOUT_SECONDS=limit).start()
    io = KafkaIO(broker.bootstrap, prefix).open()
    try:
        io.put_config(hs256_config("downstop", store={"variable": "jwt", "attributes": ["token"]}))
        requests = [request_for("downstop") for _ in range(8000)]
        keys = [r["execution_id"] for r in requests]
        io.send_requests(requests)
        wait_until(lambda: (io._poll(100), len(io.answers))[1] >= 300, 60, "answers before the outage")
        # Stop the broker while the worker drains the backlog: answers and
        # commits are in flight when it goes.
        stopper = threading.Thread(target=broker.stop)
        stopper.start()
        stopper.join(120)
        wait_until(lambda: health(proc)[0] == 503, 30, "the worker notices")
        took, code = stop_timed(proc, timeout=60)
        print(f"\nstop with Kafka down: {took:.1f}s (limit {limit}s), exit code {code}")
        assert took < limit + 4, proc.log()[-3000:]
        assert code in (0, 75), code

        broker.start()
        successor = worker(prefix, broker.bootstrap, tmp_path / "w2.log").start()
        try:
            io.wait_for(keys, timeout=150)
            audit = Audit(io, keys)
            print(f"after the restart: {audit}")
            assert not audit.lost and not audit.differing, str(audit)
        finally:
            successor.stop()
    finally:
        io.close()
        proc.stop()
