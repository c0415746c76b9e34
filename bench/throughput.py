"""Worker throughput and CPU cost against the bare aiokafka loop doing the same work.

Each side drains its own backlog of the same requests on one broker: the
worker (`jwtgen worker`), and the bare loop (bench/bareloop.py: the same pure
handler and the same batch sink, flush and commit after every batch), each in
a process of its own. Rates come from the answers' own timestamps (first to
last), so start-up is not counted; CPU is the process's user + system time
over the same span, per 1,000 answers. Rounds alternate bare and worker; the
ratio is the median of the rounds' ratios. Compare figures of one run only.

    .venv/bin/python -m bench.throughput                              # starts its own broker
    .venv/bin/python -m bench.throughput --bootstrap 127.0.0.1:9092 --alg HS256 RS256 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
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
    new_topics,
    produce,
    read_timestamps,
    request_values,
    span_seconds,
    start_bare_loop,
    stop_process,
)
from tests.support.kafkaio import WorkerProcess
from tests.support.processes import free_port
from worker.core import events, handler
from worker.core.configtable import ConfigTable

DEFAULT_REQUESTS = {"HS256": 30000, "RS256": 8000}


@dataclass(frozen=True)
class Drain:
    rate: float  # answers per second, first to last answer
    cpu_per_1000: float  # CPU seconds of the answering process per 1,000 answers


async def drain(
    bootstrap: str, side: str, alg: str, n: int, batch: int, tmp: Path, config: dict[str, Any] | None = None
) -> Drain:
    """One side (`worker` or `bare`) drains a fresh backlog of `n` requests for one `alg` config."""
    names = await new_topics(bootstrap, side)
    config = config or config_for(alg)
    try:
        await produce(bootstrap, names.configs, [(b"bench", orjson.dumps(config))])
        await produce(bootstrap, names.requests, request_values(n))
        worker: WorkerProcess | None = None
        if side == "worker":
            worker = WorkerProcess(
                names.prefix,
                bootstrap,
                free_port(),
                tmp / f"{names.prefix}.log",
                extra_env={"JWTGEN_BATCH_MAX": str(batch)},
            )
            starting = threading.Thread(target=worker.start, kwargs={"timeout": 180}, daemon=True)
            starting.start()
            while worker.proc is None:
                await asyncio.sleep(0.005)
            pid = worker.proc.pid
            bare = None
        else:
            bare = start_bare_loop(bootstrap, names.prefix, tmp, batch)
            pid = bare.pid
        clock = CpuClock(pid).start()
        try:
            stamps = await read_timestamps(bootstrap, [names.true], n, timeout=900)
        finally:
            clock.stop()
            if worker is not None:
                starting.join()
                worker.stop()
            if bare is not None:
                stop_process(bare)
        first, last = min(stamps.values()) / 1000, max(stamps.values()) / 1000
        return Drain(n / span_seconds(stamps), clock.between(first, last) / n * 1000)
    finally:
        await delete_topics(bootstrap, names)


def engine_rate(alg: str, n: int = 5000, config: dict[str, Any] | None = None) -> float:
    """Requests per second of the pure handler alone, without Kafka (parse, claims, sign, answer)."""
    table = ConfigTable()
    table.apply(b"bench", orjson.dumps(config or config_for(alg)))
    values = request_values(n)
    started = time.perf_counter()
    for key, value in values:
        handler.answer(handler.RecordRef("t", 0, 0, 0.0, key, value), events.parse_request(value), table)
    return n / (time.perf_counter() - started)


@dataclass(frozen=True)
class Comparison:
    alg: str
    bare: list[Drain]
    worker: list[Drain]

    @property
    def ratio(self) -> float:
        """Median over the rounds of worker rate / bare rate (each round on the same broker, one after the other)."""
        return statistics.median(w.rate / b.rate for w, b in zip(self.worker, self.bare, strict=True))

    def median(self, side: str, what: str) -> float:
        return statistics.median(getattr(d, what) for d in getattr(self, side))


async def compare(bootstrap: str, alg: str, n: int, rounds: int, batch: int, tmp: Path, say: bool = True) -> Comparison:
    config = config_for(alg)
    bare: list[Drain] = []
    worker: list[Drain] = []
    for index in range(rounds):
        bare.append(await drain(bootstrap, "bare", alg, n, batch, tmp, config))
        worker.append(await drain(bootstrap, "worker", alg, n, batch, tmp, config))
        if say:
            b, w = bare[-1], worker[-1]
            print(
                f"  {alg} round {index + 1}: bare {b.rate:7.0f} req/s {b.cpu_per_1000:.3f} CPU s/1000 | "
                f"worker {w.rate:7.0f} req/s {w.cpu_per_1000:.3f} CPU s/1000 | ratio {w.rate / b.rate:.2f}",
                flush=True,
            )
    return Comparison(alg, bare, worker)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", help="use a running broker instead of starting one")
    parser.add_argument("--alg", nargs="+", default=["HS256", "RS256"], help="signing algorithms, one config each")
    parser.add_argument("-n", type=int, help="requests per drain (default: 30000 HS256, 8000 RS256)")
    parser.add_argument("--rounds", type=int, default=5, help="bare/worker pairs per algorithm")
    parser.add_argument("--batch", type=int, default=500, help="JWTGEN_BATCH_MAX, and the bare loop's batch")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="jwtgen-bench-"))
    with broker(args.bootstrap, tmp / "broker") as bootstrap:
        print(f"{machine()}, broker {bootstrap}", flush=True)
        for alg in args.alg:
            n = args.n or DEFAULT_REQUESTS.get(alg, 10000)
            result = asyncio.run(compare(bootstrap, alg, n, args.rounds, args.batch, tmp))
            sides = ", ".join(
                f"{side} {result.median(side, 'rate'):.0f} req/s ({result.median(side, 'cpu_per_1000'):.3f} CPU s/1000)"
                for side in ("bare", "worker")
            )
            print(
                f"{alg}, {n} requests, median of {args.rounds}: {sides}, worker/bare ratio {result.ratio:.2f}; "
                f"engine alone {engine_rate(alg):.0f} req/s",
                flush=True,
            )


if __name__ == "__main__":
    main()
