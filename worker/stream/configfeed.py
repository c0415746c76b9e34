"""Reads the configs topic into a ConfigTable, in full, on every worker.

Not a Faust GlobalTable: that one can loop forever in recovery when several
instances run (faust-streaming issue #283). A plain consumer without a group,
assigned every partition from the beginning, gives each worker the whole
table and lets it tell exactly when it has caught up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from worker.core.configtable import ConfigTable
from worker.stream import metrics
from worker.stream.backoff import add_reconnect_backoff
from worker.stream.compileahead import CompileAhead
from worker.stream.connection import KafkaConnection
from worker.stream.repeats import keyed

log = logging.getLogger(__name__)

STOP_SECONDS = 3.0


class ConfigFeed:
    def __init__(
        self,
        kafka: KafkaConnection,
        topic: str,
        table: ConfigTable,
        reconnect_backoff_max_seconds: float = 1.0,
        ahead: CompileAhead | None = None,
    ) -> None:
        self.kafka = kafka
        self.ahead = ahead  # compiles configs holding an RSA private key before their first request
        self.reconnect_backoff_max_seconds = reconnect_backoff_max_seconds
        self.topic = topic
        self.table = table
        self.ready = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._progress = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._positions: dict[TopicPartition, int] = {}
        self._invalid_at_start: dict[str, None] = {}  # ids found invalid while reading the topic from its start

    async def start(self) -> None:
        if self.ahead is not None:
            self.ahead.start()
        consumer = AIOKafkaConsumer(
            **self.kafka.client_options(),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        add_reconnect_backoff(consumer._client, self.reconnect_backoff_max_seconds)
        await consumer.start()
        partitions = consumer.partitions_for_topic(self.topic)
        for _ in range(50):
            if partitions:
                break
            await asyncio.sleep(0.1)
            await consumer._client.force_metadata_update()  # the topic may be brand new
            partitions = consumer.partitions_for_topic(self.topic)
        if not partitions:
            await consumer.stop()
            raise RuntimeError(f"configs topic {self.topic!r} does not exist")
        self._partitions = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        consumer.assign(self._partitions)
        await consumer.seek_to_beginning(*self._partitions)
        self._consumer = consumer
        self._task = asyncio.create_task(self._run(), name="config-feed")

    async def stop(self) -> None:
        if self.ahead is not None:
            self.ahead.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._consumer is not None:
            # With Kafka gone, aiokafka's stop can wait on its fetcher for long:
            # nothing is committed here, so a bounded wait loses nothing.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                async with asyncio.timeout(STOP_SECONDS):
                    await self._consumer.stop()

    async def _end_offsets(self) -> dict[TopicPartition, int]:
        assert self._consumer is not None
        return await self._consumer.end_offsets(self._partitions)

    async def probe(self) -> None:
        """Ask the configs topic's leaders for their end offsets: raises (or hangs) while Kafka is unreachable."""
        if self._consumer is not None:
            await self._end_offsets()

    async def _run(self) -> None:
        assert self._consumer is not None
        startup_ends: dict[TopicPartition, int] | None = None
        while True:
            try:
                if startup_ends is None:
                    startup_ends = await self._end_offsets()
                await self._poll_once(startup_ends)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # The feed must outlive a broker hiccup: a stale table is
                # better than none, and the next poll resumes where it was.
                log.warning("config feed: %s, retrying in 1s", type(exc).__name__)
                await asyncio.sleep(1.0)

    async def _poll_once(self, startup_ends: dict[TopicPartition, int]) -> None:
        assert self._consumer is not None
        batches = await self._consumer.getmany(timeout_ms=200, max_records=1000)
        for records in batches.values():
            for record in records:
                # The record's timestamp is the same on every worker: retired keys are published from it.
                stamp = record.timestamp
                published_at = stamp / 1000 if stamp is not None and stamp >= 0 else None
                self._apply(record.key, record.value, published_at)
        for tp in self._partitions:
            self._positions[tp] = await self._consumer.position(tp)
        if batches:
            held, invalid = self.table.summary()
            metrics.CONFIGS.set(held)
            metrics.CONFIGS_INVALID.set(invalid)
        if not self.ready.is_set() and self._reached(startup_ends):
            self.ready.set()
            metrics.CONFIG_TABLE_READY.set(1)
            held, invalid = self.table.summary()
            if invalid:
                still = [cid for cid in self._invalid_at_start if self.table.problems_of(cid)]
                shown = ", ".join(f"'{cid}'" for cid in still[:10])
                more = f" and {invalid - 10} more" if invalid > 10 else ""
                log.warning(
                    "config table caught up: %d configs, %d invalid (%s%s): requests for them fail with "
                    "CONFIG_INVALID, whose message lists the problems",
                    held,
                    invalid,
                    shown,
                    more,
                )
            else:
                log.info("config table caught up: %d configs", held)
            self._invalid_at_start.clear()
        async with self._progress:
            self._progress.notify_all()

    def _apply(self, key: bytes | None, value: bytes | None, published_at: float | None) -> None:
        config_id = self.table.apply(key, value, published_at)
        if config_id is None or value is None:
            return
        if self.ahead is not None:
            self.ahead.offer(config_id)
        problems = self.table.problems_of(config_id)
        if not problems:
            return
        if not self.ready.is_set():
            # Reading the topic from its start: one summary line once caught up.
            self._invalid_at_start[config_id] = None
            return
        # Once per record; problems name fields, never key material.
        log.warning(
            "config '%s' version %s is invalid: %s",
            config_id,
            self.table.version_of(config_id),
            "; ".join(problems),
            extra={**keyed(("config invalid", config_id)), "config_id": config_id},
        )

    def _reached(self, ends: dict[TopicPartition, int]) -> bool:
        return all(self._positions.get(tp, -1) >= end for tp, end in ends.items())

    async def catch_up(self, timeout: float, until: Callable[[], bool] | None = None) -> bool:
        """Wait until every config published before this call has been applied,
        and then, if given, until `until()` holds; False when `timeout` ran out."""
        try:
            async with asyncio.timeout(timeout):
                ends = await self._end_offsets()
                async with self._progress:
                    await self._progress.wait_for(lambda: self._reached(ends))
                    if until is not None:
                        await self._progress.wait_for(until)
            return True
        except TimeoutError:
            return False
        except Exception as exc:  # the broker did not answer: answer from what we hold
            log.warning("config feed: cannot read end offsets (%s)", type(exc).__name__)
            return False
