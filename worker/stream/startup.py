"""Starting while Kafka is unreachable: wait for it, with backoff and a few clear lines, up to a limit.

A worker started before its brokers (a cluster restart, a node that comes up
first) waits instead of exiting at once, and its supervisor sees a process
that either starts working or exits non-zero with one line saying why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError, RequestTimedOutError

from worker.stream.connection import KafkaUnreachable

T = TypeVar("T")

# What "not reachable" looks like; anything else (a refused credential, a
# missing right) fails at once: waiting would not change it.
UNREACHABLE: tuple[type[BaseException], ...] = (
    KafkaUnreachable,  # the login check found no bootstrap server answering
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
    RequestTimedOutError,
    OSError,
    TimeoutError,
)
ATTEMPT_SECONDS = 10.0  # one attempt (connect, list and create topics) never takes longer
FIRST_PAUSE_SECONDS = 0.5
MAX_PAUSE_SECONDS = 10.0
REMINDER_SECONDS = 30.0


class StartupTimedOut(Exception):
    """Kafka did not answer within the allowed wait; the text says so in one line."""


@contextlib.contextmanager
def quiet_kafka_client() -> Iterator[None]:
    """Hold aiokafka's own error lines back (every child logger inherits the level): we say it once."""
    logger = logging.getLogger("aiokafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


async def wait_for_kafka(
    attempt: Callable[[], Awaitable[T]],
    where: str,
    limit_seconds: float,
    say: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """`attempt()`'s result once Kafka answers; StartupTimedOut after `limit_seconds` of trying."""
    started = clock()
    pause = FIRST_PAUSE_SECONDS
    said_at: float | None = None
    with quiet_kafka_client():
        while True:
            try:
                async with asyncio.timeout(ATTEMPT_SECONDS):
                    result = await attempt()
            except UNREACHABLE as exc:
                reason = type(exc).__name__
                waited = clock() - started
                if waited + pause > limit_seconds:
                    raise StartupTimedOut(
                        f"Kafka at {where} was not reachable within {limit_seconds:.0f}s "
                        f"(JWTGEN_STARTUP_WAIT_SECONDS; last error: {reason})"
                    ) from None
                if said_at is None:
                    say(
                        f"Kafka at {where} is not reachable ({reason}): waiting up to {limit_seconds:.0f}s for it "
                        "(JWTGEN_STARTUP_WAIT_SECONDS)"
                    )
                    said_at = clock()
                elif clock() - said_at >= REMINDER_SECONDS:
                    say(f"still waiting for Kafka at {where}: {waited:.0f}s of {limit_seconds:.0f}s ({reason})")
                    said_at = clock()
                await sleep(pause)
                pause = min(pause * 2, MAX_PAUSE_SECONDS)
                continue
            if said_at is not None:
                say(f"Kafka at {where} is reachable after {clock() - started:.0f}s: starting")
            return result
