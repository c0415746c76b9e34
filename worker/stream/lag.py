"""Where this worker stands on the requests topic: its assignment, rebalances and lag per partition.

Lag is the high watermark (the end offset, asked of the broker) minus the next
offset this worker will answer: the offset after the last request whose answer
was queued for sending. Before the first answer on a newly assigned
partition it counts from the consumer's fetch position. The worker's own view
is finer than the committed offsets kafka_exporter and KEDA read (commits run
every second), and it needs no access to the group's offsets.

Series exist only for the partitions a worker holds: they are removed when a
rebalance takes them away, so summing over workers gives the group's lag.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import faust
from faust.types import TP

from worker.stream import metrics

log = logging.getLogger(__name__)

REFRESH_SECONDS = 2.0  # how often lag is measured (one ListOffsets request per worker)
_REFRESH_TIMEOUT = 5.0


class Offset(Protocol):
    """Where a record was read: a Faust message, for one."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


class RequestProgress:
    """Assignment and answered offsets of the requests topic; lag gauges from them."""

    def __init__(self, topic: str, group: str) -> None:
        self.topic = topic
        self.group = group
        self.partitions: set[int] = set()
        self._answered: dict[int, int] = {}  # partition -> next offset to answer

    def assign(self, partitions: Iterable[int]) -> None:
        """A rebalance gave this worker `partitions` (its whole new assignment)."""
        metrics.REBALANCES.inc()
        new = set(partitions)
        self.revoke(self.partitions - new)
        self.partitions = new
        metrics.ASSIGNED_PARTITIONS.set(len(new))

    def revoke(self, partitions: Iterable[int]) -> None:
        for partition in set(partitions):
            self.partitions.discard(partition)
            # Another worker may answer it meanwhile: forget where we were.
            self._answered.pop(partition, None)
            for gauge in (metrics.CONSUMER_LAG, metrics.CONSUMER_OFFSET):
                with contextlib.suppress(KeyError):  # never measured
                    gauge.remove(self.group, self.topic, str(partition))
        metrics.ASSIGNED_PARTITIONS.set(len(self.partitions))

    def answered(self, partition: int, offset: int) -> None:
        """The answer to the record at `offset` was queued for sending (sink.py)."""
        if offset >= self._answered.get(partition, -1):
            self._answered[partition] = offset + 1

    def answered_all(self, records: Iterable[Offset]) -> None:
        """The answers to `records` (a batch) were queued for sending: one update per partition."""
        highest: dict[int, int] = {}
        for record in records:
            if record.topic == self.topic and record.offset > highest.get(record.partition, -1):
                highest[record.partition] = record.offset
        for partition, offset in highest.items():
            self.answered(partition, offset)

    def positions(self, fetch_positions: Mapping[int, int | None]) -> dict[int, int]:
        """The next offset to answer per held partition; the fetch position where nothing was answered yet."""
        found: dict[int, int] = {}
        for partition in self.partitions:
            position = self._answered.get(partition, fetch_positions.get(partition))
            if position is not None:
                found[partition] = position
        return found

    def record(self, highwaters: Mapping[int, int | None], positions: Mapping[int, int]) -> None:
        """Set the lag gauges of the held partitions; a partition without both figures keeps its last value."""
        for partition in self.partitions:
            end = highwaters.get(partition)
            position = positions.get(partition)
            if end is None or position is None:
                continue
            labels = (self.group, self.topic, str(partition))
            metrics.CONSUMER_LAG.labels(*labels).set(max(0, end - position))
            metrics.CONSUMER_OFFSET.labels(*labels).set(position)

    async def refresh(self, consumer: Any) -> None:
        """Ask the broker for the end offsets of the held partitions and update the gauges."""
        held = sorted(self.partitions)
        if not held:
            return
        tps = [TP(self.topic, partition) for partition in held]
        async with asyncio.timeout(_REFRESH_TIMEOUT):
            ends = await consumer.highwaters(*tps)
            unanswered = [tp for tp in tps if tp.partition not in self._answered]
            fetched = {tp.partition: await consumer.position(tp) for tp in unanswered}
        highwaters = {tp.partition: offset for tp, offset in ends.items()}
        self.record(highwaters, self.positions(fetched))


def install(app: faust.App, topic: str, group: str) -> RequestProgress:
    """Track the requests topic's assignment through the app's rebalance signals and refresh lag on a timer."""
    progress = RequestProgress(topic, group)

    # Faust sends these signals as (app, set of TPs); the assigned set is the whole new assignment.
    @app.on_partitions_assigned.connect
    async def on_assigned(sender: Any, /, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        progress.assign(tp.partition for tp in args[0] if tp.topic == topic)

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: Any, /, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        progress.revoke(tp.partition for tp in args[0] if tp.topic == topic)

    @app.timer(REFRESH_SECONDS, name="jwtgen-lag")
    async def refresh_lag() -> None:
        try:
            await progress.refresh(app.consumer)
        except Exception as exc:  # a broker hiccup or a rebalance in progress: try again next time
            log.debug("lag not refreshed (%s)", type(exc).__name__)

    return progress
