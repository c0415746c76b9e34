"""Two workers in one consumer group against one: the throughput ratio, HS256 and RS256.

For each algorithm and each group size, the workers are started on fresh
topics (8 partitions) and waited for until the group has settled (every
partition held, no rebalance under way); then a backlog is produced in record
batches, much faster than any worker answers, and the rate is read from the
answers' timestamps (first to last). Rounds alternate one and two workers;
the ratio is the median of the rounds' ratios.

On a 2-core machine the broker, the load generator and the workers share the
cores: two workers cannot reach twice one. Read the ratio with the CPU column
(CPU seconds per 1,000 answers, the workers' sum): when it stays flat while
the rate does not double, the cores are the bound, not the group.

    .venv/bin/python -m bench.scaling                      # starts its own broker
    .venv/bin/python -m bench.scaling --bootstrap 127.0.0.1:9092 --alg RS256 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.common import (
    CpuClock,
    broker,
    config_for,
    delete_topics,
    machine,
    metric_sum,
    new_topics,
    produce,
    produce_burst,
    read_timestamps,
    request_values,
    span_seconds,
    start_worker,
    wait_for,
)
from tests.support.kafkaio import WorkerProcess

DEFAULT_REQUESTS = {"HS256": 60000, "RS256": 12000}


@dataclass(frozen=True)
class GroupRun:
    workers: int
    rate: float
    cpu_per_1000: float  # the workers' CPU seconds per 1,000 answers, summed


def settled(workers: list[WorkerProcess], partitions: int) -> bool:
    """Every partition held by exactly one worker of the group."""
    held = [metric_sum(w, "jwtgen_assigned_partitions") for w in workers]
    return sum(held) == partitions and all(held)


async def run_group(bootstrap: str, alg: str, config: dict[str, Any], n: int, size: int, tmp: Path) -> GroupRun:
    names = await new_topics(bootstrap, f"scale{size}-{alg.lower()}")
    workers: list[WorkerProcess] = []
    try:
        await produce(bootstrap, names.configs, [(b"bench", orjson.dumps(config))])
        for _ in range(size):
            workers.append(await asyncio.to_thread(start_worker, bootstrap, names.prefix, tmp))
        await asyncio.to_thread(wait_for, lambda: settled(workers, 8), 120, "the group settling")
        # Warm: the config compiled and the connections open on every worker.
        warm = request_values(400)
        await produce_burst(bootstrap, names.requests, warm)
        await read_timestamps(bootstrap, [names.true], len(warm), timeout=120)
        values = request_values(n, start=len(warm))
        clocks = [CpuClock(w.proc.pid).start() for w in workers if w.proc is not None]
        try:
            await produce_burst(bootstrap, names.requests, values)
            stamps = await read_timestamps(bootstrap, [names.true], len(warm) + n, timeout=900)
        finally:
            for clock in clocks:
                clock.stop()
        wanted = {key: stamps[key] for key, _ in values}
        first, last = min(wanted.values()) / 1000, max(wanted.values()) / 1000
        cpu = sum(clock.between(first, last) for clock in clocks)
        return GroupRun(size, n / span_seconds(wanted), cpu / n * 1000)
    finally:
        for w in workers:
            await asyncio.to_thread(w.stop)
        await delete_topics(bootstrap, names)


async def compare(bootstrap: str, alg: str, n: int, rounds: int, tmp: Path) -> list[tuple[GroupRun, GroupRun]]:
    config = config_for(alg)
    pairs = []
    for index in range(rounds):
        one = await run_group(bootstrap, alg, config, n, 1, tmp)
        two = await run_group(bootstrap, alg, config, n, 2, tmp)
        pairs.append((one, two))
        print(
            f"  {alg} round {index + 1}: one worker {one.rate:7.0f} req/s ({one.cpu_per_1000:.3f} CPU s/1000) | "
            f"two workers {two.rate:7.0f} req/s ({two.cpu_per_1000:.3f} CPU s/1000) | ratio {two.rate / one.rate:.2f}",
            flush=True,
        )
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", help="use a running broker instead of starting one")
    parser.add_argument("--alg", nargs="+", default=["HS256", "RS256"])
    parser.add_argument("-n", type=int, help="requests per run (default: 60000 HS256, 12000 RS256)")
    parser.add_argument("--rounds", type=int, default=3, help="one-worker/two-worker pairs per algorithm")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="jwtgen-bench-"))
    with broker(args.bootstrap, tmp / "broker") as bootstrap:
        print(f"{machine()}, broker {bootstrap}", flush=True)
        for alg in args.alg:
            n = args.n or DEFAULT_REQUESTS.get(alg, 20000)
            pairs = asyncio.run(compare(bootstrap, alg, n, args.rounds, tmp))
            ratio = statistics.median(two.rate / one.rate for one, two in pairs)
            one_rate = statistics.median(one.rate for one, _ in pairs)
            two_rate = statistics.median(two.rate for _, two in pairs)
            print(
                f"{alg}, {n} requests, median of {args.rounds}: one worker {one_rate:.0f} req/s, "
                f"two workers {two_rate:.0f} req/s, two/one ratio {ratio:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
