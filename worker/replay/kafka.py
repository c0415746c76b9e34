"""The Kafka side of record and replay.

`record_topics` reads a prefix's topics up to the end offsets they had when
it started. `replay_on_kafka` publishes a plan epoch by epoch into a prefix
and collects the answers. Every client is built from `KafkaConnection`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from worker.core import events
from worker.replay.plan import Epoch, Plan, dead_letter_ref
from worker.replay.recording import ANSWER_TOPICS, CREATE_TIME, LOG_APPEND_TIME, TOPICS, Record
from worker.stream.connection import KafkaConnection
from worker.stream.topics import TopicNames, ensure_topics

Progress = Callable[[int, int, str], None]  # (done, total, what)
# Requests that only make every worker catch up with the configs topic: they
# name a config that never exists, so the worker reads the configs topic to
# its current end before answering them (and the batch they are in).
BARRIER = b"__jwtgen-replay-barrier-"


def _full(names: TopicNames, topic: str) -> str:
    return f"{names.prefix}.{topic}"


def _record_of(message: object, topic: str) -> Record:
    timestamp_type = getattr(message, "timestamp_type", None)
    return Record(
        topic=topic,
        partition=message.partition,  # type: ignore[attr-defined]
        offset=message.offset,  # type: ignore[attr-defined]
        timestamp=message.timestamp,  # type: ignore[attr-defined]
        timestamp_type={0: CREATE_TIME, 1: LOG_APPEND_TIME}.get(timestamp_type),  # type: ignore[arg-type]
        key=message.key,  # type: ignore[attr-defined]
        value=message.value,  # type: ignore[attr-defined]
        headers=tuple((k, v) for k, v in (message.headers or ())),  # type: ignore[attr-defined]
    )


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    for _ in range(50):
        found = consumer.partitions_for_topic(topic)
        if found:
            return [TopicPartition(topic, p) for p in sorted(found)]
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.1)
    raise RuntimeError(f"topic {topic} has no partitions")


# ---------------------------------------------------------------- record


@dataclass
class Recorded:
    counts: dict[str, int] = field(default_factory=dict)
    missing_topics: list[str] = field(default_factory=list)


async def record_topics(
    kafka: KafkaConnection,
    names: TopicNames,
    topics: Sequence[str],
    write: Callable[[Record], None],
    *,
    since_ms: int | None = None,
    until_ms: int | None = None,
    progress: Progress | None = None,
    stall_seconds: float = 60.0,
) -> Recorded:
    """Write every record of `topics` up to their end offsets at the start (and within the time window).

    The configs topic is read from its beginning whatever the window, up to
    `until_ms`: requests in the window use configs published long before. With
    a window, answers are kept only for the requests that were recorded.
    """
    result = Recorded()
    consumer = AIOKafkaConsumer(**kafka.client_options(), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        existing = await consumer.topics()
        wanted = [t for t in TOPICS if t in topics]
        result.missing_topics = [t for t in wanted if _full(names, t) not in existing]
        present = [t for t in wanted if t not in result.missing_topics]
        if not present:
            return result
        partitions = {t: await _partitions(consumer, _full(names, t)) for t in present}
        every = [tp for tps in partitions.values() for tp in tps]
        ends = await consumer.end_offsets(every)
        starts = await consumer.beginning_offsets(every)
        if since_ms is not None:
            later = [tp for t, tps in partitions.items() if t != "configs" for tp in tps]
            found = await consumer.offsets_for_times({tp: since_ms for tp in later})
            for tp in later:
                hit = found.get(tp)
                starts[tp] = ends[tp] if hit is None else max(starts[tp], hit.offset)
        totals = {t: sum(max(0, ends[tp] - starts[tp]) for tp in tps) for t, tps in partitions.items()}
        total = sum(totals.values())
        windowed = since_ms is not None or until_ms is not None
        answer_keys: set[bytes] = set()
        request_refs: set[tuple[int, int]] = set()
        done = 0
        for topic in present:
            result.counts[topic] = 0
            tps = [tp for tp in partitions[topic] if starts[tp] < ends[tp]]
            if not tps:
                continue
            consumer.assign(tps)
            for tp in tps:
                consumer.seek(tp, starts[tp])
            remaining = set(tps)
            last_move = time.monotonic()
            while remaining:
                batches = await consumer.getmany(*remaining, timeout_ms=300, max_records=5000)
                for tp, messages in batches.items():
                    for message in messages:
                        if message.offset >= ends[tp]:
                            continue
                        done += 1
                        record = _record_of(message, topic)
                        if windowed and not _in_window(record, since_ms, until_ms, answer_keys, request_refs):
                            continue
                        write(record)
                        result.counts[topic] += 1
                if batches:
                    last_move = time.monotonic()
                for tp in list(remaining):
                    if await consumer.position(tp) >= ends[tp]:
                        remaining.discard(tp)
                if progress is not None:
                    progress(done, total, _counts_text(result.counts, totals))
                if remaining and time.monotonic() - last_move > stall_seconds:
                    raise TimeoutError(f"no progress reading {_full(names, topic)} for {stall_seconds:.0f}s")
        return result
    finally:
        await consumer.stop()


def _counts_text(counts: dict[str, int], totals: dict[str, int]) -> str:
    return " · ".join(f"{t} {counts.get(t, 0)}/{totals[t]}" for t in totals)


def _in_window(
    record: Record,
    since_ms: int | None,
    until_ms: int | None,
    answer_keys: set[bytes],
    request_refs: set[tuple[int, int]],
) -> bool:
    timestamp = record.timestamp or 0
    if record.topic == "configs":
        return until_ms is None or timestamp <= until_ms
    if record.topic == "requests":
        if (since_ms is not None and timestamp < since_ms) or (until_ms is not None and timestamp > until_ms):
            return False
        request_refs.add((record.partition, record.offset))
        parsed = events.parse_request(record.value)
        if record.key is not None:
            answer_keys.add(record.key)
        elif not isinstance(parsed, events.Unanswerable):
            answer_keys.add(parsed.execution_id.encode("utf-8", errors="replace"))
        return True
    if record.topic == "deadletter":
        ref = dead_letter_ref(record.value)
        return ref is not None and ref[0] == "requests" and ref[1:] in request_refs
    return record.key in answer_keys


# ---------------------------------------------------------------- the replay's prefix


class PrefixNotEmpty(RuntimeError):
    def __init__(self, topics: list[str]) -> None:
        super().__init__(", ".join(topics))
        self.topics = topics


async def prepare_prefix(
    kafka: KafkaConnection, names: TopicNames, *, force: bool, partitions: int, replication: int
) -> list[str]:
    """Check that the prefix holds no records (PrefixNotEmpty, unless `force`); create missing topics.

    Returns the topics created here. The requests topic keeps its records
    forever (retention.ms=-1): they carry their recorded timestamps, which may
    be older than the cluster's retention, and the broker would otherwise be
    free to delete them before the worker reads them.
    """
    wanted = [_full(names, t) for t in TOPICS]
    consumer = AIOKafkaConsumer(**kafka.client_options(), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        existing = await consumer.topics()
        holding = []
        for topic in (t for t in wanted if t in existing):
            tps = await _partitions(consumer, topic)
            starts, ends = await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
            if any(ends[tp] > starts[tp] for tp in tps):
                holding.append(topic)
        if holding and not force:
            raise PrefixNotEmpty(holding)
    finally:
        await consumer.stop()
    missing = [t for t in wanted if t not in existing]
    if names.requests in missing:
        admin = AIOKafkaAdminClient(**kafka.client_options())
        await admin.start()
        try:
            topic = NewTopic(names.requests, partitions, replication, topic_configs={"retention.ms": "-1"})
            await admin.create_topics([topic])
        finally:
            await admin.close()
    await ensure_topics(kafka, names, partitions, replication)
    return missing


async def delete_topics(kafka: KafkaConnection, topics: Sequence[str]) -> None:
    if not topics:
        return
    admin = AIOKafkaAdminClient(**kafka.client_options())
    await admin.start()
    try:
        await admin.delete_topics(list(topics))
    finally:
        await admin.close()


# ---------------------------------------------------------------- replay


@dataclass
class Replayed:
    answers: dict[int, Record] = field(default_factory=dict)  # exchange index -> its answer
    extras: list[Record] = field(default_factory=list)  # answers to no request of the plan
    timed_out: int = 0  # epochs that stopped waiting before every request was answered


class _Collector:
    """Reads the answer topics and attributes every answer to the request it answers."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Record] = asyncio.Queue()
        self.result = Replayed()
        self.pending: dict[bytes, deque[int]] = {}  # answer key -> exchange indexes, in publication order
        self.refs: dict[tuple[int, int], int] = {}  # (partition, offset) of a published request -> its index
        self.barrier_keys: set[bytes] = set()  # sent by this replay
        self.barriers: set[bytes] = set()  # answered

    def attribute(self, answer: Record) -> None:
        answers = self.result.answers
        if answer.topic == "deadletter":
            ref = dead_letter_ref(answer.value)
            index = self.refs.get(ref[1:]) if ref is not None and ref[0] == "requests" else None
            if index is not None and index not in answers:
                answers[index] = answer
                return
        elif answer.key in self.barrier_keys:  # ours: a recording may hold the barriers of an earlier replay
            self.barriers.add(answer.key)
            return
        else:
            queue = self.pending.get(answer.key) if answer.key is not None else None
            while queue:
                index = queue.popleft()
                if index not in answers:  # not answered by a dead letter already
                    answers[index] = answer
                    return
        self.result.extras.append(answer)


async def replay_on_kafka(
    kafka: KafkaConnection,
    names: TopicNames,
    plan: Plan,
    *,
    timeout: float = 30.0,
    first_answer_timeout: float = 120.0,
    progress: Progress | None = None,
    alive: Callable[[], bool] = lambda: True,
) -> Replayed:
    """Publish the plan epoch by epoch and collect the answers; the topics must exist.

    Each epoch publishes its config records, then sends a barrier request to
    every requests partition and waits for their answers (so every worker has
    applied those configs), then publishes the epoch's requests with their
    recorded keys, headers and timestamps, and waits until each is answered
    (or `timeout` seconds pass without a new answer).
    """
    options = kafka.client_options()
    collector = _Collector()
    consumer = AIOKafkaConsumer(**options, group_id=None, enable_auto_commit=False)
    producer = AIOKafkaProducer(**options, acks="all", linger_ms=5)
    await consumer.start()
    reader: asyncio.Task[None] | None = None
    try:
        await producer.start()
        answer_partitions = [tp for t in ANSWER_TOPICS for tp in await _partitions(consumer, _full(names, t))]
        consumer.assign(answer_partitions)
        await consumer.seek_to_end(*answer_partitions)
        for tp in answer_partitions:  # fix the start before anything is sent
            await consumer.position(tp)
        reader = asyncio.create_task(_read_answers(consumer, names, collector.queue))
        request_partitions = await producer.partitions_for(names.requests)
        run = uuid.uuid4().hex[:12]
        total = len(plan.exchanges)
        for number, epoch in enumerate(plan.epochs):
            await _send_all(producer, names.configs, epoch.configs)
            if not epoch.exchanges:
                continue
            if number == 0 or epoch.configs:
                wait = first_answer_timeout if number == 0 else timeout
                await _barrier(producer, names, collector, sorted(request_partitions), f"{run}-{number}", wait, alive)
            for exchange in epoch.exchanges:
                if exchange.answer_key is not None:
                    collector.pending.setdefault(exchange.answer_key, deque()).append(exchange.index)
            sent = await _send_all(producer, names.requests, [e.request for e in epoch.exchanges])
            for exchange, meta in zip(epoch.exchanges, sent, strict=True):
                collector.refs[(meta.partition, meta.offset)] = exchange.index
            what = f"epoch {number + 1}/{len(plan.epochs)}"
            if not await _await_answers(collector, epoch, timeout, total, what, progress, alive):
                collector.result.timed_out += 1
        await _drain(collector, 0.5)  # late extras, if any
        return collector.result
    finally:
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        await producer.stop()
        await consumer.stop()


async def _read_answers(consumer: AIOKafkaConsumer, names: TopicNames, queue: asyncio.Queue[Record]) -> None:
    while True:
        batches = await consumer.getmany(timeout_ms=200)
        for tp, messages in batches.items():
            topic = tp.topic.rpartition(".")[2]
            for message in messages:
                queue.put_nowait(_record_of(message, topic))


async def _send_all(producer: AIOKafkaProducer, topic: str, records: Sequence[Record]) -> list[Any]:
    futures = [
        await producer.send(topic, value=r.value, key=r.key, timestamp_ms=r.timestamp, headers=list(r.headers) or None)
        for r in records
    ]
    return list(await asyncio.gather(*futures))


async def _barrier(
    producer: AIOKafkaProducer,
    names: TopicNames,
    collector: _Collector,
    partitions: list[int],
    tag: str,
    timeout: float,
    alive: Callable[[], bool],
) -> None:
    config_id = f"{BARRIER.decode()}{tag}"
    keys = []
    for partition in partitions:
        key = f"{config_id}-{partition}".encode()
        value = {"execution_id": key.decode(), "flow": {"type": "API"}, "node": {}, "config": {"id": config_id}}
        collector.barrier_keys.add(key)
        await producer.send(names.requests, value=orjson.dumps(value), key=key, partition=partition)
        keys.append(key)
    await producer.flush()
    deadline = time.monotonic() + timeout
    while not all(k in collector.barriers for k in keys):
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"no worker answered on {names.requests} within {timeout:.0f}s (is one running on prefix "
                f"'{names.prefix}'?)"
            )
        if not alive():
            raise RuntimeError("the worker stopped")
        await _next_answer(collector, 0.2)


async def _next_answer(collector: _Collector, wait: float) -> bool:
    try:
        answer = await asyncio.wait_for(collector.queue.get(), wait)
    except TimeoutError:
        return False
    collector.attribute(answer)
    return True


async def _await_answers(
    collector: _Collector,
    epoch: Epoch,
    timeout: float,
    total: int,
    what: str,
    progress: Progress | None,
    alive: Callable[[], bool],
) -> bool:
    answers = collector.result.answers
    last = time.monotonic()
    while not all(e.index in answers for e in epoch.exchanges):
        if await _next_answer(collector, 0.2):
            last = time.monotonic()
        if progress is not None:
            progress(len(answers), total, what)
        if time.monotonic() - last > timeout or not alive():
            return False
    return True


async def _drain(collector: _Collector, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await _next_answer(collector, 0.1)
