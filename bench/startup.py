"""Memory with many configs, and the first requests after a start over thousands of RSA configs.

`memory`: a worker reads 10,000 configs (8,000 HS256, each its own secret;
2,000 RS256, each its own 2048-bit key) and answers requests over all of them
in rounds of 100,000; half-way through the first round, every config gets a
new version (new secrets, RSA keys moved one config along), so what the old
versions held must be let go. Prints the worker's resident memory (RSS) with
an empty table, after the table is read, and after every round. `--soak`
runs 1,000,000 requests (outside CI: some minutes).

`cold`: 2,000 RS256 configs, each its own key, and a backlog of 50,000
requests over them produced before the worker starts: how long the worker
takes to answer them (first to last answer, and from its start), against the
same worker answering another 50,000 once every config is compiled (warm).

The 2,000 RSA keys take a minute or two to generate: they are kept in
~/.cache/jwtgen/bench-rsa-keys.json for the next run (benchmark keys, of no
use elsewhere).

    .venv/bin/python -m bench.startup                                # both, own broker
    .venv/bin/python -m bench.startup --bootstrap 127.0.0.1:9092 memory --soak
    .venv/bin/python -m bench.startup --bootstrap 127.0.0.1:9092 cold
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import secrets
import tempfile
import time
from pathlib import Path

import orjson

from bench.common import (
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
    rsa_private_pems,
    rss_mib,
    span_seconds,
    start_worker,
    wait_for,
)
from tests.support.kafkaio import WorkerProcess

KEY_CACHE = Path.home() / ".cache" / "jwtgen" / "bench-rsa-keys.json"
ROUND = 100_000


def rsa_keys(count: int) -> list[str]:
    """`count` distinct 2048-bit RSA private keys (PEM), generated once on all cores and cached."""
    cached: list[str] = orjson.loads(KEY_CACHE.read_bytes()) if KEY_CACHE.exists() else []
    if len(cached) < count:
        missing = count - len(cached)
        print(f"generating {missing} RSA keys (cached in {KEY_CACHE} for the next run) ...", flush=True)
        started = time.monotonic()
        with multiprocessing.Pool() as pool:
            cached += [pem for chunk in pool.map(rsa_private_pems, [1] * missing, chunksize=50) for pem in chunk]
        KEY_CACHE.parent.mkdir(parents=True, exist_ok=True)
        KEY_CACHE.write_bytes(orjson.dumps(cached))
        print(f"  done in {time.monotonic() - started:.0f}s", flush=True)
    return cached[:count]


def mixed_configs(hs: int, rsa_pems: list[str], version: int = 1, shift: int = 0) -> list[tuple[bytes, bytes]]:
    """`hs` HS256 configs with their own secrets and one RS256 config per key; `shift` moves keys along."""
    records = []
    for i in range(hs):
        config = config_for("HS256", f"hs-{i}", secret=secrets.token_urlsafe(48))
        records.append((f"hs-{i}".encode(), orjson.dumps({**config, "version": version})))
    for i in range(len(rsa_pems)):
        config = config_for("RS256", f"rsa-{i}", private_key=rsa_pems[(i + shift) % len(rsa_pems)])
        records.append((f"rsa-{i}".encode(), orjson.dumps({**config, "version": version})))
    return records


def answered(worker: WorkerProcess) -> float:
    return metric_sum(worker, "jwtgen_answers_total")


def true_answers(worker: WorkerProcess) -> float:
    return metric_sum(worker, "jwtgen_answers_total", 'outcome="True"')


async def memory(bootstrap: str, tmp: Path, total: int, hs: int, rsa: int) -> None:
    pems = rsa_keys(rsa)
    empty = await new_topics(bootstrap, "mem-empty")
    try:
        baseline = await asyncio.to_thread(start_worker, bootstrap, empty.prefix, tmp)
        assert baseline.proc is not None
        print(f"empty table: RSS {rss_mib(baseline.proc.pid):.0f} MiB", flush=True)
        await asyncio.to_thread(baseline.stop)
    finally:
        await delete_topics(bootstrap, empty)

    names = await new_topics(bootstrap, "mem")
    ids = [f"hs-{i}" for i in range(hs)] + [f"rsa-{i}" for i in range(rsa)]
    try:
        await produce(bootstrap, names.configs, mixed_configs(hs, pems))
        started = time.monotonic()
        worker = await asyncio.to_thread(start_worker, bootstrap, names.prefix, tmp)
        assert worker.proc is not None
        pid = worker.proc.pid
        try:
            print(
                f"{hs + rsa} configs ({hs} HS256, {rsa} RS256) read in {time.monotonic() - started:.1f}s: "
                f"RSS {rss_mib(pid):.0f} MiB",
                flush=True,
            )
            done = 0
            while done < total:
                n = min(ROUND, total - done)
                round_started = time.monotonic()
                values = request_values(n, ids, start=done)
                if done == 0:
                    # Half-way through the first round, every config gets a new version.
                    await produce_burst(bootstrap, names.requests, values[: n // 2])
                    await produce(bootstrap, names.configs, mixed_configs(hs, pems, version=2, shift=1))
                    await produce_burst(bootstrap, names.requests, values[n // 2 :])
                else:
                    await produce_burst(bootstrap, names.requests, values)
                done += n
                await asyncio.to_thread(wait_for, lambda d=done: answered(worker) >= d, 1800, f"{done} answers")
                took = time.monotonic() - round_started
                note = " (every config replaced by version 2 in this round)" if done <= ROUND else ""
                print(
                    f"  after {done:>9,} requests: RSS {rss_mib(pid):.0f} MiB, {n / took:.0f} req/s{note}",
                    flush=True,
                )
            untrue = answered(worker) - true_answers(worker)
            print(f"  answers other than True: {untrue:.0f}", flush=True)
        finally:
            await asyncio.to_thread(worker.stop)
    finally:
        await delete_topics(bootstrap, names)


async def cold(bootstrap: str, tmp: Path, rsa: int, n: int) -> None:
    pems = rsa_keys(rsa)
    names = await new_topics(bootstrap, "cold")
    ids = [f"rsa-{i}" for i in range(rsa)]
    try:
        await produce(bootstrap, names.configs, mixed_configs(0, pems))
        first = request_values(n, ids)
        await produce_burst(bootstrap, names.requests, first)
        started = time.time()
        worker = await asyncio.to_thread(start_worker, bootstrap, names.prefix, tmp)
        try:
            stamps = await read_timestamps(bootstrap, [names.true], n, timeout=1800)
            cold_span = span_seconds(stamps)
            from_start = max(stamps.values()) / 1000 - started
            second = request_values(n, ids, start=n)
            await produce_burst(bootstrap, names.requests, second)
            stamps = await read_timestamps(bootstrap, [names.true], 2 * n, timeout=1800)
            warm = {key: stamps[key] for key, _ in second}
            warm_span = span_seconds(warm)
        finally:
            await asyncio.to_thread(worker.stop)
        print(
            f"{n:,} requests over {rsa:,} RS256 configs (each its own key): first after a start "
            f"{cold_span:.1f}s ({n / cold_span:.0f} req/s; {from_start:.1f}s from the worker's start), "
            f"warm {warm_span:.1f}s ({n / warm_span:.0f} req/s): cold/warm {cold_span / warm_span:.2f}",
            flush=True,
        )
    finally:
        await delete_topics(bootstrap, names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", help="use a running broker instead of starting one")
    parser.add_argument("scenario", nargs="*", help="memory, cold (default: both)")
    parser.add_argument("--soak", action="store_true", help="memory: 1,000,000 requests instead of 300,000")
    parser.add_argument("--requests", type=int, help="memory: requests in all (overrides --soak)")
    parser.add_argument("--hs", type=int, default=8000, help="memory: HS256 configs")
    parser.add_argument("--rsa", type=int, default=2000, help="RS256 configs (each its own key)")
    parser.add_argument("--cold-requests", type=int, default=50000, help="cold: requests after the start")
    args = parser.parse_args()
    scenarios: list[str] = args.scenario or ["memory", "cold"]
    if set(scenarios) - {"memory", "cold"}:
        parser.error("scenarios are memory and cold")
    total = args.requests or (1_000_000 if args.soak else 300_000)
    tmp = Path(tempfile.mkdtemp(prefix="jwtgen-bench-"))
    with broker(args.bootstrap, tmp / "broker") as bootstrap:
        print(f"{machine()}, broker {bootstrap}", flush=True)
        if "memory" in scenarios:
            asyncio.run(memory(bootstrap, tmp, total, args.hs, args.rsa))
        if "cold" in scenarios:
            asyncio.run(cold(bootstrap, tmp, args.rsa, args.cold_requests))


if __name__ == "__main__":
    main()
