"""The replay plan: which recorded answer belongs to which request, and epochs that pin config versions.

A request that named no config version was answered with whatever version
the worker held at that moment. The replay reproduces that by publishing in
epochs: the config records up to a point, then the requests that came after
them, and only once those are answered the next config records.

Where a request falls is first decided by record timestamps. Its recorded
answer then has the last word: it tells which version was used (a success
names it, a failure of an unversioned request echoes it, CONFIG_NOT_FOUND
says there was none), so a request the original worker answered with the old
version although it came a few milliseconds after the new one is placed
before the new one too.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from worker.core import events, jsonio
from worker.core.configtable import ConfigTable
from worker.replay.recording import Record, Recording, RecordingError

ABSENT = ("absent",)  # a config id with no record (or deleted by a tombstone)
State = tuple[Any, ...]  # ABSENT, or ("present", version or None)

# Failures whose echoed config version is the version loaded when the request named none.
_LOADED_VERSION_ECHOED = frozenset(
    {"CONFIG_INVALID", "VARIABLE_NOT_FOUND", "CLAIM_TYPE_MISMATCH", "SIGNING_FAILED", "ENCRYPTION_FAILED"}
)


@dataclass
class Exchange:
    """One recorded request, the answer recorded for it and where the replay sends it."""

    index: int  # publication order
    request: Record
    answer_key: bytes | None  # the key its True/Failure answer carries (None: only a dead letter can answer it)
    config_id: str | None
    recorded: Record | None = None
    position: int = 0  # how many config records precede it
    config: Record | None = field(default=None, repr=False)  # the config record in force for it, if any

    @property
    def label(self) -> str:
        """How reports name it: the execution id (the record key), else where the request was."""
        key = self.answer_key if self.answer_key is not None else self.request.key
        if key is not None:
            return key.decode("utf-8", "replace")
        return f"(no key, {self.request.where})"


@dataclass(frozen=True)
class Epoch:
    configs: tuple[Record, ...]
    exchanges: tuple[Exchange, ...]


@dataclass(frozen=True)
class Plan:
    epochs: tuple[Epoch, ...]
    exchanges: tuple[Exchange, ...]  # in publication order
    unmatched: tuple[Record, ...]  # recorded answers of requests that are not in the recording
    moved: int  # requests placed by their recorded answer rather than by their timestamp

    @property
    def config_records(self) -> int:
        return sum(len(e.configs) for e in self.epochs)


def make_plan(recording: Recording) -> Plan:
    configs = _config_sequence(recording.of("configs"))
    requests = sorted(recording.of("requests"), key=lambda r: (_time(r), r.partition, r.offset))
    exchanges = [_exchange(i, r) for i, r in enumerate(requests)]
    unmatched = _pair_answers(recording, exchanges)

    timeline = _Timeline(configs)
    moved = 0
    for exchange in exchanges:
        exchange.position = timeline.position_at(_time(exchange.request))
        if exchange.config_id is None:
            continue
        wanted = _revealed_state(exchange)
        if wanted is not None:
            better = timeline.nearest(exchange.config_id, wanted, exchange.position)
            if better is not None and better != exchange.position:
                exchange.position = better
                moved += 1
        exchange.config = timeline.record_in_force(exchange.config_id, exchange.position)

    ordered = sorted(exchanges, key=lambda e: (e.position, _time(e.request), e.request.partition, e.request.offset))
    for index, exchange in enumerate(ordered):
        exchange.index = index
    epochs: list[Epoch] = []
    published = 0
    for position, group in _grouped(ordered):
        epochs.append(Epoch(tuple(configs[published:position]), tuple(group)))
        published = position
    if published < len(configs):
        epochs.append(Epoch(tuple(configs[published:]), ()))
    return Plan(tuple(epochs), tuple(ordered), tuple(unmatched), moved)


def _time(record: Record) -> int:
    if record.timestamp is None:
        raise RecordingError(record.line, f"{record.where} has no timestamp: configs and requests are ordered by it")
    return record.timestamp


def _config_sequence(records: list[Record]) -> list[Record]:
    """Config records in the order a worker applied them: offset order per partition, partitions merged by time."""
    by_partition: dict[int, list[Record]] = defaultdict(list)
    for record in records:
        _time(record)
        by_partition[record.partition].append(record)
    runs = [sorted(rs, key=lambda r: r.offset) for _, rs in sorted(by_partition.items())]
    return list(heapq.merge(*runs, key=_time))


def _exchange(index: int, request: Record) -> Exchange:
    parsed = events.parse_request(request.value)
    config_id: str | None = None
    if isinstance(parsed, events.Request):
        config_id = parsed.config_id
    if isinstance(parsed, events.Unanswerable):
        answer_key = None
    elif request.key is not None:
        answer_key = request.key
    else:  # the worker answers a request without key under its execution id
        answer_key = parsed.execution_id.encode("utf-8", errors="replace")
    return Exchange(index, request, answer_key, config_id)


def _pair_answers(recording: Recording, exchanges: list[Exchange]) -> list[Record]:
    """Give each request its recorded answer; returns the answers that belong to no recorded request.

    Dead letters point at their request (partition, offset); other answers carry
    the request's key and are paired in order when a key was used twice.
    """
    unmatched: list[Record] = []
    by_position = {(e.request.partition, e.request.offset): e for e in exchanges}
    for letter in recording.of("deadletter"):
        ref = dead_letter_ref(letter.value)
        exchange = by_position.get(ref[1:]) if ref is not None and ref[0] == "requests" else None
        if exchange is None or exchange.recorded is not None:
            unmatched.append(letter)
        else:
            exchange.recorded = letter
    waiting: dict[bytes, list[Exchange]] = defaultdict(list)
    for exchange in exchanges:  # already in time order
        if exchange.answer_key is not None and exchange.recorded is None:
            waiting[exchange.answer_key].append(exchange)
    answers = [r for r in recording.records if r.topic in ("true", "failure")]
    for answer in sorted(answers, key=lambda r: (r.timestamp or 0, r.topic, r.partition, r.offset)):
        queue = waiting.get(answer.key) if answer.key is not None else None
        if queue:
            queue.pop(0).recorded = answer
        else:
            unmatched.append(answer)
    return unmatched


def dead_letter_ref(value: bytes | None) -> tuple[str, int, int] | None:
    """(topic relative to the prefix, partition, offset) of the record a dead letter points at."""
    try:
        letter = jsonio.loads(value or b"")
    except ValueError:
        return None
    if not isinstance(letter, dict):
        return None
    topic, partition, offset = letter.get("topic"), letter.get("partition"), letter.get("offset")
    if not isinstance(topic, str) or not isinstance(partition, int) or not isinstance(offset, int):
        return None
    return topic.rpartition(".")[2], partition, offset


def _revealed_state(exchange: Exchange) -> State | None:
    """The state of the request's config that its recorded answer shows the original worker had."""
    answer = exchange.recorded
    if answer is None or answer.topic not in ("true", "failure"):
        return None
    try:
        body = jsonio.loads(answer.value or b"")
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("config"), dict):
        return None
    version = body["config"].get("version")
    if answer.topic == "true":
        return ("present", version) if isinstance(version, int) else None
    error = body.get("error")
    if not isinstance(error, dict):
        return None
    code, message = error.get("code"), str(error.get("message", ""))
    if code == "CONFIG_NOT_FOUND" and message.startswith("config.id: no config"):
        return ABSENT
    parsed = events.parse_request(exchange.request.value)
    if code in _LOADED_VERSION_ECHOED and isinstance(parsed, events.Request) and parsed.config_version is None:
        return ("present", version if isinstance(version, int) else None)
    return None


class _Timeline:
    """The state of every config id after each prefix of the config records."""

    def __init__(self, configs: list[Record]) -> None:
        self.count = len(configs)
        self._highest = list(accumulate((_time(r) for r in configs), max))
        # config id -> [(first position it holds, state, record in force)]
        self._changes: dict[str, list[tuple[int, State, Record | None]]] = defaultdict(list)
        table = ConfigTable()
        for position, record in enumerate(configs, start=1):
            config_id = table.apply(record.key, record.value)
            if config_id is None:
                continue
            state: State = ("present", table.version_of(config_id)) if config_id in table else ABSENT
            self._changes[config_id].append((position, state, record if record.value is not None else None))

    def position_at(self, timestamp: int) -> int:
        """How many config records a request of this time follows (ties: the config first)."""
        return bisect_right(self._highest, timestamp)

    def _intervals(self, config_id: str) -> list[tuple[int, int, State, Record | None]]:
        """[(start, end inclusive, state, record in force)] covering positions 0..count."""
        out: list[tuple[int, int, State, Record | None]] = []
        start, state, record = 0, ABSENT, None
        for position, next_state, next_record in self._changes.get(config_id, []):
            if position > start:
                out.append((start, position - 1, state, record))
            start, state, record = position, next_state, next_record
        out.append((start, self.count, state, record))
        return out

    def nearest(self, config_id: str, wanted: State, position: int) -> int | None:
        """The position closest to `position` where the config is in state `wanted` (earlier on ties)."""
        best: tuple[int, int] | None = None
        for start, end, state, _ in self._intervals(config_id):
            if state != wanted:
                continue
            candidate = min(max(position, start), end)
            distance = abs(candidate - position)
            if best is None or distance < best[0]:
                best = (distance, candidate)
        return None if best is None else best[1]

    def record_in_force(self, config_id: str, position: int) -> Record | None:
        for start, end, _, record in self._intervals(config_id):
            if start <= position <= end:
                return record
        return None


def _grouped(ordered: Iterable[Exchange]) -> Iterable[tuple[int, list[Exchange]]]:
    group: list[Exchange] = []
    for exchange in ordered:
        if group and exchange.position != group[0].position:
            yield group[0].position, group
            group = []
        group.append(exchange)
    if group:
        yield group[0].position, group
