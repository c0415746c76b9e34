"""Is Kafka reachable, and what to tell the operator about it.

A probe (the config feed asking for the configs topic's end offsets) runs
every couple of seconds. `Outage` turns its results into a few clear lines:
one when Kafka goes away, a reminder every `reminder_seconds` while it stays
away, one when it is back. The state feeds `/healthz` (readiness) and the
`jwtgen_kafka_reachable` gauge; the partitions the group assigned to this
worker feed `jwtgen_assigned_partitions`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import mode

from worker.stream import metrics
from worker.stream.repeats import UNLIMITED

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Change:
    kind: str  # "down", "still down" or "back"
    seconds: float  # how long Kafka has been (or was) unreachable


class Outage:
    """Reachability from probe results; pure, so that its timing is testable."""

    def __init__(self, reminder_seconds: float) -> None:
        self.reminder_seconds = reminder_seconds
        self.down_since: float | None = None  # reachable until a probe says otherwise
        self._reminded_at = 0.0

    @property
    def reachable(self) -> bool:
        return self.down_since is None

    def unreachable_for(self, now: float) -> float:
        return 0.0 if self.down_since is None else now - self.down_since

    def observe(self, ok: bool, now: float) -> Change | None:
        if ok:
            if self.down_since is None:
                return None
            change = Change("back", now - self.down_since)
            self.down_since = None
            return change
        if self.down_since is None:
            self.down_since = self._reminded_at = now
            return Change("down", 0.0)
        if now - self._reminded_at >= self.reminder_seconds:
            self._reminded_at = now
            return Change("still down", now - self.down_since)
        return None


def human(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


class BrokerWatch(mode.Service):
    """Probes Kafka on a timer; says when it goes away and comes back; keeps the gauges current."""

    def __init__(
        self,
        probe: Callable[[], Awaitable[None]],
        where: str,
        assigned: Callable[[], int],
        reminder_seconds: float,
        interval: float = 2.0,
        timeout: float = 5.0,
        **kwargs: Any,
    ) -> None:
        self.probe = probe
        self.where = where
        self.assigned = assigned
        self.outage = Outage(reminder_seconds)
        self.interval = interval
        self.timeout = timeout
        super().__init__(**kwargs)

    @property
    def reachable(self) -> bool:
        return self.outage.reachable

    def unreachable_for(self) -> float:
        return self.outage.unreachable_for(time.monotonic())

    async def check(self) -> Change | None:
        """One probe; logs and updates the gauges. Returns what changed."""
        reason = ""
        try:
            async with asyncio.timeout(self.timeout):
                await self.probe()
            ok = True
        except Exception as exc:  # TimeoutError or a KafkaError: either way no answer
            ok, reason = False, type(exc).__name__
        change = self.outage.observe(ok, time.monotonic())
        if change is not None:
            self._say(change, reason)
        metrics.KAFKA_REACHABLE.set(1 if self.outage.reachable else 0)
        metrics.ASSIGNED_PARTITIONS.set(self.assigned())
        return change

    def _say(self, change: Change, reason: str) -> None:
        if change.kind == "down":
            log.warning(
                "Kafka at %s is unreachable (%s): no request is answered until it is back, none is lost. "
                "Repeated Kafka client errors are now shown once per %s each",
                self.where,
                reason,
                human(self.outage.reminder_seconds),
                extra=UNLIMITED,
            )
        elif change.kind == "still down":
            log.warning(
                "Kafka at %s still unreachable after %s (%s)",
                self.where,
                human(change.seconds),
                reason,
                extra=UNLIMITED,
            )
        else:
            log.warning("Kafka at %s reachable again after %s", self.where, human(change.seconds), extra=UNLIMITED)

    @mode.Service.task
    async def _watch(self) -> None:
        while not self.should_stop:
            await self.check()
            await self.sleep(self.interval)
