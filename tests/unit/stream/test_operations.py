"""The pieces behind outages and restarts, without Kafka: log bound, reconnect backoff, outage lines, startup wait."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

from worker.stream import metrics
from worker.stream.backoff import ReconnectBackoff, add_reconnect_backoff
from worker.stream.brokerwatch import BrokerWatch, Outage, human
from worker.stream.repeats import UNLIMITED, RepeatLimiter, install, keyed
from worker.stream.settings import Settings, SettingsError
from worker.stream.startup import StartupTimedOut, wait_for_kafka


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------ the log bound


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def logged() -> Any:
    clock = Clock()
    limiter = RepeatLimiter(60, clock)
    first, second = Collect(), Collect()
    install(limiter, [first, second])
    logger = logging.getLogger("aiokafka.test")
    logger.addHandler(first)
    logger.addHandler(second)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    try:
        yield clock, limiter, logger, first, second
    finally:
        logger.removeHandler(first)
        logger.removeHandler(second)
        logger.propagate = True
        logger.setLevel(logging.NOTSET)


def test_a_flood_of_one_template_is_one_line_per_interval(logged: Any) -> None:
    clock, limiter, logger, first, second = logged
    for second_ in range(180):  # three minutes of ten errors a second
        clock.now = 1000.0 + second_
        for node in range(10):
            logger.error("Unable connect to node with id %s: %s", node, "refused")
    assert len(first.lines) == 3
    assert first.lines == second.lines  # one decision per record, whatever the number of handlers
    assert first.lines[0] == "Unable connect to node with id 0: refused"
    assert first.lines[1] == "Unable connect to node with id 0: refused [599 more like this in the last 60s not shown]"
    assert limiter.suppressed == 1800 - 3


def test_different_templates_and_levels_are_limited_apart(logged: Any) -> None:
    _, _, logger, first, _ = logged
    for _ in range(50):
        logger.error("Failed fetch messages from %s", 1)
        logger.warning("Failed fetch messages from %s", 1)
        logger.error("Unable to update metadata from %s", [1])
    assert len(first.lines) == 3


def test_progress_lines_own_keys_and_opted_out_lines_pass(logged: Any) -> None:
    _, _, logger, first, _ = logged
    for i in range(5):
        logger.info("Revoking previously assigned partitions %s", i)
        logger.warning("config '%s' is invalid", f"c{i}", extra=keyed(("config", f"c{i}")))
        logger.warning("Kafka still unreachable", extra=UNLIMITED)
        logger.debug("fetching %s", i)
    assert len(first.lines) == 20


# ------------------------------------------------------------------ reconnect backoff


def test_backoff_doubles_to_its_maximum_and_resets_on_success() -> None:
    clock = Clock()
    backoff = ReconnectBackoff(max_seconds=1.0, clock=clock)
    waits = [backoff.failed(1) for _ in range(6)]
    assert waits == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert not backoff.may_try(1) and backoff.may_try(2)
    clock.now += 1.0
    assert backoff.may_try(1)
    backoff.connected(1)
    assert backoff.failed(1) == 0.1


class FakeClient:
    def __init__(self) -> None:
        self._conns: dict[Any, Any] = {}
        self.attempts = 0
        self.up = False

    async def _get_conn(self, node_id: Any, *, group: Any = 0, no_hint: bool = False) -> Any:
        self.attempts += 1
        return "conn" if self.up else None


def test_a_client_in_backoff_does_not_reconnect_until_its_time() -> None:
    client = FakeClient()
    backoff = add_reconnect_backoff(client, max_seconds=5.0)  # type: ignore[arg-type]

    async def scenario() -> None:
        for _ in range(100):  # callers retrying every 100 ms would have tried 100 times
            assert await client._get_conn(1) is None
        assert client.attempts == 1
        backoff._failures[1] = (0.0, 0.1)  # its wait is over
        client.up = True
        assert await client._get_conn(1) == "conn"
        assert backoff.may_try(1)

    asyncio.run(scenario())


# ------------------------------------------------------------------ outage lines


def test_an_outage_is_one_line_a_reminder_per_interval_and_one_line_back() -> None:
    outage = Outage(reminder_seconds=60)
    said = []
    for t in range(0, 300, 2):  # five minutes of probes every 2 s, Kafka away from 10 s to 250 s
        change = outage.observe(not 10 <= t < 250, float(t))
        if change is not None:
            said.append((t, change.kind, round(change.seconds)))
    assert said == [
        (10, "down", 0),
        (70, "still down", 60),
        (130, "still down", 120),
        (190, "still down", 180),
        (250, "back", 240),
    ]


def test_human_durations() -> None:
    assert human(5.4) == "5s" and human(65) == "1m 05s" and human(600) == "10m 00s"


def test_the_watch_says_it_and_sets_the_gauges(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    up = {"value": True}

    async def probe() -> None:
        if not up["value"]:
            raise KafkaConnectionError("refused")

    async def scenario() -> None:
        watch = BrokerWatch(probe, "kafka:9092", lambda: 3, reminder_seconds=60)
        assert await watch.check() is None and watch.reachable
        up["value"] = False
        change = await watch.check()
        assert change is not None and change.kind == "down" and not watch.reachable
        assert metrics.KAFKA_REACHABLE._value.get() == 0 and metrics.ASSIGNED_PARTITIONS._value.get() == 3
        up["value"] = True
        change = await watch.check()
        assert change is not None and change.kind == "back"
        assert metrics.KAFKA_REACHABLE._value.get() == 1

    asyncio.run(scenario())
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("Kafka at kafka:9092 is unreachable (KafkaConnectionError)")
    assert lines[1].startswith("Kafka at kafka:9092 reachable again after")


def test_a_probe_that_hangs_counts_as_unreachable() -> None:
    async def hang() -> None:
        await asyncio.sleep(60)

    async def scenario() -> None:
        watch = BrokerWatch(hang, "kafka:9092", lambda: 0, reminder_seconds=60, timeout=0.05)
        change = await watch.check()
        assert change is not None and change.kind == "down"

    asyncio.run(scenario())


# ------------------------------------------------------------------ startup wait


def run_wait(up_after: float | None, limit: float) -> tuple[Any, list[str], float]:
    clock = Clock()
    start = clock.now
    said: list[str] = []

    async def attempt() -> str:
        if up_after is None or clock.now - start < up_after:
            raise KafkaConnectionError("Unable to bootstrap")
        return "topics"

    async def sleep(seconds: float) -> None:
        clock.now += seconds

    async def scenario() -> Any:
        return await wait_for_kafka(attempt, "kafka:9092", limit, said.append, clock=clock, sleep=sleep)

    try:
        result = asyncio.run(scenario())
    except StartupTimedOut as exc:
        result = exc
    return result, said, clock.now - start


def test_a_start_waits_with_backoff_and_says_so_a_few_times() -> None:
    result, said, waited = run_wait(up_after=95, limit=300)
    assert result == "topics"
    assert 95 <= waited < 110
    assert said[0] == (
        "Kafka at kafka:9092 is not reachable (KafkaConnectionError): waiting up to 300s for it "
        "(JWTGEN_STARTUP_WAIT_SECONDS)"
    )
    assert said[-1].startswith("Kafka at kafka:9092 is reachable after")
    assert 3 <= len(said) <= 6  # a reminder about every 30 s, not a line per attempt


def test_a_start_gives_up_after_the_limit_with_one_line() -> None:
    result, said, waited = run_wait(up_after=None, limit=60)
    assert isinstance(result, StartupTimedOut)
    assert str(result) == (
        "Kafka at kafka:9092 was not reachable within 60s "
        "(JWTGEN_STARTUP_WAIT_SECONDS; last error: KafkaConnectionError)"
    )
    assert len(said) <= 3
    assert waited <= 60


def test_a_zero_wait_fails_at_once() -> None:
    result, said, waited = run_wait(up_after=None, limit=0)
    assert isinstance(result, StartupTimedOut) and waited == 0 and said == []


def test_anything_but_unreachable_fails_at_once() -> None:
    class Refused(Exception):  # say, a refused credential
        pass

    async def refused() -> None:
        raise Refused("SASL authentication failed")

    with pytest.raises(Refused):
        asyncio.run(wait_for_kafka(refused, "kafka:9092", 300, lambda line: None))


# ------------------------------------------------------------------ settings


def test_operations_settings_from_the_environment() -> None:
    settings = Settings.from_mapping(
        {
            "JWTGEN_STARTUP_WAIT_SECONDS": "0",
            "JWTGEN_SHUTDOWN_TIMEOUT_SECONDS": "12.5",
            "JWTGEN_LOG_REPEAT_SECONDS": "30",
            "JWTGEN_GROUP_INSTANCE_ID": "jwtgen-7d9f-abcde",
            "JWTGEN_LEAVE_GROUP_ON_SHUTDOWN": "false",
            "KAFKA_RECONNECT_BACKOFF_MAX_MS": "2500",
        }
    )
    assert settings.startup_wait_seconds == 0
    assert settings.shutdown_timeout_seconds == 12.5
    assert settings.log_repeat_seconds == 30
    assert settings.group_instance_id == "jwtgen-7d9f-abcde"
    assert settings.leave_group_on_shutdown is False
    assert settings.reconnect_backoff_max_seconds == 2.5
    defaults = Settings.from_mapping({})
    assert defaults.group_instance_id is None and defaults.leave_group_on_shutdown is True
    assert defaults.shutdown_timeout_seconds < 60  # inside Kubernetes' default grace period


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("JWTGEN_SHUTDOWN_TIMEOUT_SECONDS", "0", "must be a number of seconds > 0"),
        ("JWTGEN_STARTUP_WAIT_SECONDS", "-1", "must be a number of seconds > 0"),
        ("JWTGEN_LEAVE_GROUP_ON_SHUTDOWN", "maybe", "must be true or false"),
        ("KAFKA_RECONNECT_BACKOFF_MAX_MS", "soon", "is not a number of seconds"),
    ],
)
def test_bad_operations_settings_name_the_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message) as caught:
        Settings.from_mapping({variable: value})
    assert variable in str(caught.value)
