"""worker/stream/lag.py: assignment, answered offsets and the lag gauges, without Kafka."""

from __future__ import annotations

import asyncio
from typing import Any

from faust.types import TP
from prometheus_client.parser import text_string_to_metric_families

from worker.stream import metrics
from worker.stream.lag import RequestProgress

TOPIC, GROUP = "p.requests", "p.worker"


def lag_series() -> dict[str, float]:
    """kafka_consumergroup_lag by partition, as /metrics shows it for this topic."""
    found = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        if family.name == "kafka_consumergroup_lag":
            for sample in family.samples:
                if sample.labels["topic"] == TOPIC:
                    assert sample.labels["consumergroup"] == GROUP
                    found[sample.labels["partition"]] = sample.value
    return found


class FakeConsumer:
    """The two calls RequestProgress makes on Faust's consumer."""

    def __init__(self, ends: dict[int, int], fetched: dict[int, int | None]) -> None:
        self.ends = ends
        self.fetched = fetched

    async def highwaters(self, *tps: TP) -> dict[TP, int]:
        return {tp: self.ends[tp.partition] for tp in tps}

    async def position(self, tp: TP) -> int | None:
        return self.fetched[tp.partition]


def test_lag_from_answered_offsets_else_the_fetch_position() -> None:
    progress = RequestProgress(TOPIC, GROUP)
    rebalances = metrics.REBALANCES._value.get()
    progress.assign([0, 1, 2])
    assert metrics.REBALANCES._value.get() == rebalances + 1 and metrics.ASSIGNED_PARTITIONS._value.get() == 3
    progress.answered(0, 41)
    progress.answered(0, 7)  # batches may interleave partitions; the highest offset counts
    consumer: Any = FakeConsumer(ends={0: 100, 1: 50, 2: 9}, fetched={0: 99, 1: 20, 2: None})
    asyncio.run(progress.refresh(consumer))
    # 0: answered up to 41 -> 100 - 42; 1: nothing answered yet -> fetch position; 2: no position, no series
    assert lag_series() == {"0": 58.0, "1": 30.0}


def test_rebalance_drops_the_series_of_partitions_given_away() -> None:
    progress = RequestProgress(TOPIC, GROUP)
    progress.assign([3, 4])
    progress.answered(3, 10)
    progress.record({3: 20, 4: 5}, progress.positions({4: 5}))
    assert {"3", "4"} <= set(lag_series())
    progress.revoke([3, 4])
    progress.assign([4])
    assert "3" not in lag_series() and "4" not in lag_series()  # 4 is measured again at the next refresh
    assert progress.positions({4: 2}) == {4: 2}, "an answered offset does not survive a revocation"
    assert metrics.ASSIGNED_PARTITIONS._value.get() == 1


def test_no_assignment_asks_nothing() -> None:
    class Refuses:
        async def highwaters(self, *tps: TP) -> dict[TP, int]:
            raise AssertionError("no partition held: no request")

    progress = RequestProgress(TOPIC, GROUP)
    progress.assign([])
    asyncio.run(progress.refresh(Refuses()))
