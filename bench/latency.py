"""Request-to-answer latency of one worker fed at a fixed rate: 25%, 50% and 75% of its measured peak.

For each rate a fresh worker answers requests produced at that pace for a few
seconds (a steady stream, not a backlog). Latency is read from the records
themselves: the requests and answers topics take the broker's append time as
record timestamp (`message.timestamp.type=LogAppendTime`), so each figure
runs from the request being in Kafka to its answer being in Kafka, whatever
the load generator's own producer queues before it sends. The peak is
measured first (a drained backlog, bench/throughput.py) unless given.

The measured process (the worker, or the bare loop) runs on a core of its
own: the last CPU this benchmark may use. The load generator (this process)
and the broker run on the others for the paced runs: the broker this
benchmark started, or the local one of `--broker-data-dir` (`jwtgen broker
start --data-dir`); a broker it does not know keeps running where it was.
On two shared cores, the load generator (0.3 of a core at 11,000 req/s) and
the broker preempting the worker put their own work in its latency: with the
three on both cores, the p99 at half the HS256 peak was 35-49 ms in four runs
alternated with 20-23 ms for the worker on a core of its own. `--no-pin`
leaves every process where the system puts it. The peak is measured without
moving anything, as bench/throughput.py measures it.

Each run also prints how busy the other cores were while it was paced
(/proc/stat): the broker and the load generator share them, and a run's
tail is to be read against how full they were. `--per-second` adds the p99
of each second of each run: a tail spread over the run (the broker's
collections, about once a second) or held in a stretch of a second or two.

Each paced stream first runs `--settle` seconds (2 by default) at its rate
that are not counted: the figures are the worker's steady state. Every run
starts a fresh worker on fresh topics, and its first second or two answered
more slowly than the rest in nearly every run (2026-11-30: the first
second's p99 was the run's highest in six runs of six, 23-58 ms against
8-27 for the seconds after the second), which a worker that keeps running
sees once per start, not all along. The settling seconds' own p99 is
printed beside each run's figures (`first 2 s p99`), and `--per-second`
shows them before a `|`; `--settle 0` counts everything.

`--side bare` paces the bare aiokafka loop (bench/bareloop.py) at the same
rates: what the same work through Kafka costs in latency on this machine,
with nothing of Faust's. `--runs N` repeats each rate and prints the median
of each percentile: on a machine shared with the broker and the load
generator, one paced run's p99 varies by a factor of two or more.
`--tick-ms 2` sends twice as much half as often: half the produce requests
for the broker (docs/performance.md). With `--peak` given, a paced run of
10 seconds at the first rate comes first, printed and not counted
(`--warm-up`): without the peak's drain before it, the first paced run after
a broker start measured that broker's first minute (its p99 was the highest
of its series in nearly every series of 2026-11-30).

    .venv/bin/python -m bench.latency --bootstrap 127.0.0.1:9092 --alg HS256 RS256
    .venv/bin/python -m bench.latency --bootstrap 127.0.0.1:9092 --alg HS256 --peak 12000 --seconds 20 --fractions 0.5
    .venv/bin/python -m bench.latency --bootstrap 127.0.0.1:9092 --alg HS256 --peak 16000 --fractions 0.5 \\
        --side worker bare --runs 5 --broker-data-dir /tmp/kafka

The project's broker (`jwtgen broker start`) compiles with C1 only. Against
a broker running C2 (Kafka's default JVM options), warm it up first: its
compiler spends several seconds of CPU on the first paced minutes, and the
first rate measured on it is slowed by that, not by the worker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from bench.common import (
    Cores,
    CoresBusy,
    CpuClock,
    batch_producer,
    broker,
    broker_pid,
    config_for,
    delete_topics,
    machine,
    new_topics,
    percentile,
    produce,
    read_timestamps,
    request_values,
    run_on,
    running_on,
    start_bare_loop,
    start_worker,
    stop_process,
)
from bench.throughput import DEFAULT_REQUESTS, drain
from tests.support.kafkaio import WorkerProcess

FRACTIONS = (0.25, 0.5, 0.75)
BATCH = 500  # the bare loop's batch, the worker's default JWTGEN_BATCH_MAX
TICK_SECONDS = 0.001  # by default the pacer sends what is due every millisecond (--tick-ms)
WARM_UP_SECONDS = 10.0  # the warm-up run when the peak is given, not measured (--warm-up)
SETTLE_SECONDS = 2.0  # each paced stream's first seconds, not counted (--settle)


@dataclass(frozen=True)
class Latency:
    rate: float  # requests per second asked for
    sent_rate: float  # what the pacer achieved
    p50: float  # seconds
    p95: float
    p99: float
    max: float
    cpu_per_1000: float  # CPU seconds of the worker per 1,000 answers while paced
    others_busy: float  # how busy the other cores were (the broker's, the load generator's), 0-1
    others: str = "other cores"  # which: "other cores" when the measured process has one of its own, else "cores"
    p99_by_second: tuple[float, ...] = ()  # the p99 of the requests appended in each second of the run
    settle_seconds: float = 0.0  # the stream's first seconds, paced but not counted in the figures above
    settle_p99: float = 0.0  # their p99

    def row(self) -> str:
        ms = " / ".join(f"{v * 1000:.1f}" for v in (self.p50, self.p95, self.p99, self.max))
        settling = ""
        if self.settle_seconds:
            settling = f", first {self.settle_seconds:g} s p99 {self.settle_p99 * 1000:.1f} ms"
        return (
            f"{self.rate:7.0f} req/s (sent {self.sent_rate:7.0f}): p50/p95/p99/max {ms} ms, "
            f"{self.cpu_per_1000:.3f} CPU s/1000, {self.others} {self.others_busy:.0%} busy{settling}"
        )

    def by_second_row(self) -> str:
        """Each second's p99, the settling seconds (not counted) before a `|`."""
        seconds = [f"{p99 * 1000:.0f}" for p99 in self.p99_by_second]
        settling = min(len(seconds), math.ceil(self.settle_seconds))
        if settling:
            seconds.insert(settling, "|")
        return "p99 by second " + " ".join(seconds) + " ms"


def stream_values(
    rate: float, settle: float, seconds: float, start: int
) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
    """The requests of one paced stream: those of its first `settle` seconds (not counted), then the counted ones."""
    settling = request_values(int(rate * settle), start=start)
    return settling, request_values(int(rate * seconds), start=start + len(settling))


def p99_by_second(stamps: list[tuple[int, float]]) -> tuple[float, ...]:
    """The p99 latency of each whole second from the first request: `stamps` are (request's time in ms, latency).

    Whether a run's tail is spread over it or held in a stretch of a second or
    two (a stall of the machine or the broker) shows here, not in its p99.
    """
    if not stamps:
        return ()
    first = min(at for at, _ in stamps)
    seconds: dict[int, list[float]] = {}
    for at, delay in stamps:
        seconds.setdefault((at - first) // 1000, []).append(delay)
    return tuple(percentile(seconds[second], 0.99) for second in sorted(seconds))


async def paced(
    bootstrap: str, topic: str, values: list[tuple[bytes, bytes]], rate: float, tick: float = TICK_SECONDS
) -> float:
    """Send `values` at `rate` per second, evenly; returns the rate achieved.

    Every `tick` seconds (a millisecond by default), what is due is appended
    to the record batches of its keys' partitions (bench.common.batch_producer).
    """
    async with batch_producer(bootstrap) as send:
        sent = 0
        started = time.perf_counter()
        while sent < len(values):
            due = min(len(values), int((time.perf_counter() - started) * rate) + 1)
            await send(topic, values[sent:due])
            sent = due
            await asyncio.sleep(tick)
        took = time.perf_counter() - started
    return sent / took


async def broker_timestamps(bootstrap: str, topics: list[str]) -> None:
    """Records on `topics` get their broker's append time as timestamp (message.timestamp.type)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.alter_configs(
            [
                ConfigResource(ConfigResourceType.TOPIC, topic, configs={"message.timestamp.type": "LogAppendTime"})
                for topic in topics
            ]
        )
    finally:
        await admin.close()


class BareLoop:
    """The bare loop (bench/bareloop.py) as `measure` uses a worker: a process to time, and a stop."""

    def __init__(self, bootstrap: str, prefix: str, tmp: Path) -> None:
        self.proc = start_bare_loop(bootstrap, prefix, tmp, BATCH)

    def stop(self) -> None:
        stop_process(self.proc)

    def metrics(self) -> str:
        return ""


async def measure(
    bootstrap: str,
    alg: str,
    rate: float,
    seconds: float,
    tmp: Path,
    config: dict[str, Any],
    side: str = "worker",
    cores: Cores | None = None,
    tick: float = TICK_SECONDS,
    settle: float = 0.0,
) -> Latency:
    names = await new_topics(bootstrap, f"lat-{alg.lower()}")
    # Timestamps set by the broker as it appends: from the request being in Kafka to its answer
    # being in Kafka, without the load generator's own queueing before it sends.
    await broker_timestamps(bootstrap, [names.requests, names.true])
    try:
        await produce(bootstrap, names.configs, [(b"bench", orjson.dumps(config))])
        worker: WorkerProcess | BareLoop
        if side == "bare":
            worker = BareLoop(bootstrap, names.prefix, tmp)  # ready once it answers the warm-up
        else:
            worker = await asyncio.to_thread(start_worker, bootstrap, names.prefix, tmp)
        assert worker.proc is not None
        if cores is not None:
            run_on(worker.proc.pid, cores.measured)
        try:
            # Warm up (compile the config, fill the connections) before the measured stream.
            warm = request_values(200)
            await paced(bootstrap, names.requests, warm, min(rate, 2000))
            await read_timestamps(bootstrap, [names.true], len(warm), timeout=120)
            settling, values = stream_values(rate, settle, seconds, start=len(warm))
            clock = CpuClock(worker.proc.pid).start()
            # The cores the broker and the load generator share: how full they were is the context of the tail.
            others = CoresBusy(cores.rest if cores is not None else os.sched_getaffinity(0)).start()
            try:
                sent_rate = await paced(bootstrap, names.requests, settling + values, rate, tick)
                others_busy = others.stop()
                total = len(warm) + len(settling) + len(values)
                answers = await read_timestamps(bootstrap, [names.true], total, timeout=300)
            except TimeoutError:
                # What the worker says of itself, for whoever reads why a run failed.
                shown = [line for line in worker.metrics().splitlines() if line.startswith(("jwtgen_", "kafka_"))]
                print("\n".join(["worker metrics:", *shown]), flush=True)
                raise
            finally:
                clock.stop()
            requests = await read_timestamps(bootstrap, [names.requests], total, timeout=120)
        finally:
            await asyncio.to_thread(worker.stop)

        def stamp(key: bytes) -> tuple[int, float]:
            """When the request was appended (ms), and its latency (s)."""
            return requests[key], (answers[key] - requests[key]) / 1000

        wanted = {key for key, _ in values}
        stamps = [stamp(key) for key in wanted]
        settled = [stamp(key) for key, _ in settling]
        delays = [delay for _, delay in stamps]
        answered = [answers[key] / 1000 for key in wanted]
        return Latency(
            rate,
            sent_rate,
            percentile(delays, 0.50),
            percentile(delays, 0.95),
            percentile(delays, 0.99),
            max(delays),
            clock.between(min(answered), max(answered)) / len(values) * 1000,
            others_busy,
            "other cores" if cores is not None else "cores",
            p99_by_second(settled + stamps),
            settle if settled else 0.0,
            percentile([delay for _, delay in settled], 0.99) if settled else 0.0,
        )
    finally:
        await delete_topics(bootstrap, names)


def median_of(runs: list[Latency]) -> Latency:
    """Each figure's median over the runs of one rate."""
    mid = statistics.median
    return Latency(
        runs[0].rate,
        mid(r.sent_rate for r in runs),
        mid(r.p50 for r in runs),
        mid(r.p95 for r in runs),
        mid(r.p99 for r in runs),
        mid(r.max for r in runs),
        mid(r.cpu_per_1000 for r in runs),
        mid(r.others_busy for r in runs),
        runs[0].others,
        settle_seconds=runs[0].settle_seconds,
        settle_p99=mid(r.settle_p99 for r in runs),
    )


async def latencies(
    bootstrap: str,
    alg: str,
    peak: float,
    seconds: float,
    tmp: Path,
    fractions: tuple[float, ...] = FRACTIONS,
    sides: tuple[str, ...] = ("worker",),
    runs: int = 1,
    cores: Cores | None = None,
    broker: int | None = None,
    tick: float = TICK_SECONDS,
    warm_up: float = 0.0,
    by_second: bool = False,
    settle: float = 0.0,
) -> None:
    """Print each side's figures at each rate: every run, then the medians when there are several.

    A warm-up run of `warm_up` seconds at the first rate comes first, printed and not counted.
    Each measured stream begins with `settle` seconds at its rate that its figures leave out.
    """
    config = config_for(alg)
    moved = [os.getpid()] + ([broker] if broker is not None else [])
    with running_on(moved, cores.rest) if cores is not None else contextlib.nullcontext():
        if warm_up > 0:
            side, fraction = sides[0], fractions[0]
            result = await measure(bootstrap, alg, peak * fraction, warm_up, tmp, config, side, cores, tick)
            print(f"  {fraction:4.0%} of peak, warm-up (not counted), {side:6}: {result.row()}", flush=True)
        for fraction in fractions:
            rate = peak * fraction
            measured: dict[str, list[Latency]] = {side: [] for side in sides}
            for run in range(runs):
                for side in sides:  # alternated: both sides see the machine as it is at the time
                    result = await measure(bootstrap, alg, rate, seconds, tmp, config, side, cores, tick, settle)
                    measured[side].append(result)
                    label = f"run {run + 1}, " if runs > 1 else ""
                    print(f"  {fraction:4.0%} of peak, {label}{side:6}: {result.row()}", flush=True)
                    if by_second:
                        print(f"    {result.by_second_row()}", flush=True)
            if runs > 1:
                for side, results in measured.items():
                    median = median_of(results).row()
                    print(f"  {fraction:4.0%} of peak, median of {runs}, {side:6}: {median}", flush=True)


def warm_up_seconds(given: float | None, peak_given: bool) -> float:
    """The warm-up run's length: as given, else 10 s when the peak is given (no drain before the paced runs)."""
    if given is not None:
        return given
    # Measuring the peak drains a backlog through the broker first; without it, the
    # first paced run would also measure a broker that has only just started.
    return WARM_UP_SECONDS if peak_given else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", help="use a running broker instead of starting one")
    parser.add_argument("--alg", nargs="+", default=["HS256", "RS256"])
    parser.add_argument("--peak", type=float, help="the worker's peak in req/s (measured when not given)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each paced stream, as counted")
    parser.add_argument(
        "--settle",
        type=float,
        default=SETTLE_SECONDS,
        metavar="SECONDS",
        help=f"each stream's first seconds at its rate, not counted (default {SETTLE_SECONDS:g}): a fresh worker on "
        "fresh topics; their p99 is printed beside the run's",
    )
    parser.add_argument(
        "--fractions", type=float, nargs="+", default=list(FRACTIONS), help="rates to pace at, as fractions of the peak"
    )
    parser.add_argument(
        "--side", nargs="+", default=["worker"], choices=["worker", "bare"], help="what answers (alternated)"
    )
    parser.add_argument("--runs", type=int, default=1, help="runs per rate (and side); medians printed when over 1")
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the measured process on a core of its own, the load generator and the broker on the others",
    )
    parser.add_argument(
        "--warm-up",
        type=float,
        metavar="SECONDS",
        help="a paced run first, printed and not counted (default: 10 s when --peak is given, else none)",
    )
    parser.add_argument(
        "--tick-ms",
        type=float,
        default=TICK_SECONDS * 1000,
        help="how often the load generator sends what is due (default 1): one produce request to the broker each time",
    )
    parser.add_argument(
        "--per-second",
        action="store_true",
        help="after each run, the p99 of each second of it: a tail spread over the run, or held in a stretch",
    )
    parser.add_argument(
        "--broker-data-dir", type=Path, help="data dir of the local broker at --bootstrap, to move it off that core"
    )
    args = parser.parse_args()
    if args.tick_ms <= 0 or (args.warm_up or 0) < 0 or args.settle < 0:
        parser.error("--tick-ms must be above 0, --warm-up and --settle 0 or above")
    tick = args.tick_ms / 1000
    warm_up = warm_up_seconds(args.warm_up, peak_given=args.peak is not None)
    tmp = Path(tempfile.mkdtemp(prefix="jwtgen-bench-"))
    own_broker = tmp / "broker"  # the data dir of the broker started here, without --bootstrap
    with broker(args.bootstrap, own_broker) as bootstrap:
        print(f"{machine()}, broker {bootstrap}", flush=True)
        cores = Cores.split() if args.pin else None
        data_dir = args.broker_data_dir if args.bootstrap else own_broker
        broker_at = broker_pid(data_dir) if data_dir is not None else None
        if cores is not None:
            where = f"the broker (pid {broker_at})" if broker_at else "not the broker (see --broker-data-dir)"
            print(f"paced runs: the measured process on {cores.describe()}: the load generator and {where}", flush=True)
        for alg in args.alg:
            peak = args.peak
            if peak is None:
                n = DEFAULT_REQUESTS.get(alg, 10000)
                peak = asyncio.run(drain(bootstrap, "worker", alg, n, 500, tmp)).rate
            print(f"{alg}: peak {peak:.0f} req/s", flush=True)
            sides, fractions = tuple(args.side), tuple(args.fractions)
            asyncio.run(
                latencies(
                    bootstrap,
                    alg,
                    peak,
                    args.seconds,
                    tmp,
                    fractions,
                    sides,
                    runs=args.runs,
                    cores=cores,
                    broker=broker_at,
                    tick=tick,
                    warm_up=warm_up,
                    by_second=args.per_second,
                    settle=args.settle,
                )
            )


if __name__ == "__main__":
    main()
