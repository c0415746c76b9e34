"""Per-batch bookkeeping of the requests agent: histograms observed per batch, answered offsets per partition."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from worker.stream import metrics
from worker.stream.lag import RequestProgress


def exposition_after(values: list[float], batched: bool) -> bytes:
    registry = CollectorRegistry()
    histogram = Histogram("h", "h", ["alg"], buckets=(0.001, 0.01, 0.1, 1.0), registry=registry)
    child = histogram.labels("HS256")
    if batched:
        metrics.observe_many(child, values)
    else:
        for value in values:
            child.observe(value)
    return generate_latest(registry)


def test_observe_many_reads_exactly_like_one_observe_per_value() -> None:
    values = [0.0, 0.0005, 0.001, 0.0010001, 0.05, 0.1, 0.7, 1.0, 3.0, -1.0, 0.001]
    assert exposition_after(values, batched=True) == exposition_after(values, batched=False)
    assert b'h_bucket{alg="HS256",le="0.001"} 5.0' in exposition_after(values, batched=True)


def test_observe_many_of_nothing_leaves_the_series_alone() -> None:
    assert exposition_after([], batched=True) == exposition_after([], batched=False)


@dataclass
class Message:
    topic: str
    partition: int
    offset: int


def test_answered_all_moves_each_partition_to_after_its_highest_offset() -> None:
    progress = RequestProgress("p.requests", "p.worker")
    progress.assign([0, 1, 2])
    progress.answered(2, 50)
    batch = [Message("p.requests", 0, 7), Message("p.requests", 1, 3), Message("p.requests", 0, 9)]
    batch += [Message("p.requests", 0, 8), Message("p.requests", 2, 10), Message("other", 1, 99)]
    progress.answered_all(batch)
    # 0: after 9; 1: after 3 (the other topic's offset 99 is not ours); 2: a later offset was answered already
    assert progress.positions({}) == {0: 10, 1: 4, 2: 51}
