"""Where a worker's CPU goes per request: py-spy samples of a worker draining a backlog, summed by function.

Attaches py-spy (a sampling profiler outside the process: nothing in the
worker changes) to a `jwtgen worker` draining `-n` requests of one algorithm,
and to `bench/faust_floor.py` (stock Faust handing the same requests to a
no-op agent) for comparison. Prints, per process, the share of samples by
own time (the function on top of the stack) and by area (the innermost of our
own modules, Faust, aiokafka, joserfc/cryptography, ... on the stack), then
microseconds per request for each area. Idle samples (waiting for the broker)
are not counted: the shares are of CPU time.

    .venv/bin/pip install -e '.[bench]'          # py-spy, once
    .venv/bin/python -m bench.profile --bootstrap 127.0.0.1:9092 --alg HS256 -n 100000
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson

from bench.common import (
    broker,
    config_for,
    delete_topics,
    machine,
    new_topics,
    produce,
    read_timestamps,
    request_values,
)
from tests.support.kafkaio import WorkerProcess
from tests.support.processes import REPO, free_port

RATE_HZ = 250
# Waiting, not working: py-spy cannot tell a thread blocked in these from one on the CPU here.
IDLE = ("EpollSelector.select", "Condition.wait", "SimpleQueue.get", "CompileAhead._run", "Event.wait (threading")

# Areas, checked from the top of the stack down: the first frame whose file matches names the sample.
AREAS = (
    ("signing (joserfc, cryptography, hmac)", ("(joserfc/", "(cryptography/", "/hmac.py")),
    ("JSON (orjson)", ("(orjson",)),
    ("token engine (worker/core)", ("(worker/core/",)),
    ("worker shell (worker/stream)", ("(worker/stream/",)),
    ("aiokafka (fetch, records, send)", ("(aiokafka/",)),
    ("Faust and mode (streams, events, sensors)", ("(faust/", "(mode/")),
    ("prometheus-client", ("(prometheus_client/",)),
    ("asyncio event loop", ("(asyncio/", "(selectors.py", "(uvloop")),
)


def py_spy_binary() -> Path:
    found = Path(sys.executable).parent / "py-spy"
    if not found.exists():
        sys.exit("bench.profile needs py-spy: .venv/bin/pip install -e '.[bench]'")
    return found


def py_spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    py_spy_bin = py_spy_binary()
    return subprocess.Popen(
        [str(py_spy_bin), "record", "--pid", str(pid), "--rate", str(RATE_HZ), "--format", "raw", "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop_py_spy(recorder: subprocess.Popen[bytes]) -> None:
    recorder.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
    recorder.wait(60)


def summarize(raw: Path, requests: int, title: str, skip: tuple[str, ...] = ()) -> None:
    """Print own-time functions and areas of the collapsed stacks in `raw`."""
    own: collections.Counter[str] = collections.Counter()
    areas: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        frames = stack.split(";")
        if any(marker in stack for marker in skip) or any(marker in frames[-1] for marker in IDLE):
            continue
        count = int(count_text)
        total += count
        own[frames[-1].split(" (", 1)[0] + " (" + frames[-1].rsplit("/", 1)[-1]] += count
        for frame in reversed(frames):
            area = next((name for name, markers in AREAS if any(m in frame for m in markers)), None)
            if area is not None:
                areas[area] += count
                break
        else:
            areas["other"] += count
    if not total:
        print(f"{title}: no samples", flush=True)
        return
    seconds = total / RATE_HZ
    print(f"{title}: {total} samples, ~{seconds:.1f} CPU s, ~{seconds / requests * 1e6:.0f} us per request", flush=True)
    print("  by area (innermost on the stack):", flush=True)
    for area, count in areas.most_common():
        print(f"    {count / total:6.1%}  {count / RATE_HZ / requests * 1e6:6.1f} us/request  {area}", flush=True)
    print("  top own time:", flush=True)
    for function, count in own.most_common(12):
        print(f"    {count / total:6.1%}  {function}", flush=True)


async def profile_worker(bootstrap: str, alg: str, n: int, tmp: Path) -> None:
    names = await new_topics(bootstrap, f"prof-{alg.lower()}")
    try:
        await produce(bootstrap, names.configs, [(b"bench", orjson.dumps(config_for(alg)))])
        await produce(bootstrap, names.requests, request_values(n))
        worker = WorkerProcess(names.prefix, bootstrap, free_port(), tmp / f"{names.prefix}.log")
        starting = threading.Thread(target=worker.start, kwargs={"timeout": 180}, daemon=True)
        starting.start()
        while worker.proc is None:
            await asyncio.sleep(0.005)
        out = tmp / f"worker-{alg}.txt"
        recorder = py_spy(worker.proc.pid, out)
        try:
            await read_timestamps(bootstrap, [names.true], n, timeout=900)
        finally:
            stop_py_spy(recorder)
            starting.join()
            worker.stop()
        # Start-up (imports, reading the table, joining) is not per request: left out.
        summarize(out, n, f"worker, {alg}, {n} requests", skip=("_find_and_load",))
    finally:
        await delete_topics(bootstrap, names)


def profile_floor(bootstrap: str, n: int, tmp: Path) -> None:
    out = tmp / "floor.txt"
    floor = subprocess.Popen(
        [sys.executable, "-m", "bench.faust_floor", "--bootstrap", bootstrap, "-n", str(n)],
        cwd=REPO,
        stdout=subprocess.PIPE,
    )
    recorder = py_spy(floor.pid, out)
    try:
        stdout, _ = floor.communicate(timeout=900)
        print(stdout.decode().rstrip(), flush=True)
    finally:
        stop_py_spy(recorder)
    # The floor produces its backlog itself first: those samples are the load generator's, not Faust's.
    skip = ("(bench/common.py", "ensure_topics", "_find_and_load")
    summarize(out, n, f"Faust's floor (no-op agent), {n} requests", skip=skip)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", help="use a running broker instead of starting one")
    parser.add_argument("--alg", nargs="+", default=["HS256"])
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--no-floor", action="store_true", help="skip profiling bench/faust_floor.py")
    args = parser.parse_args()
    py_spy_binary()
    if os.geteuid() != 0:
        print("note: py-spy attaches with ptrace; as non-root it may need kernel.yama.ptrace_scope=0", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="jwtgen-profile-"))
    with broker(args.bootstrap, tmp / "broker") as bootstrap:
        print(f"{machine()}, broker {bootstrap}, py-spy at {RATE_HZ} Hz", flush=True)
        for alg in args.alg:
            asyncio.run(profile_worker(bootstrap, alg, args.n, tmp))
            time.sleep(1)
        if not args.no_floor:
            profile_floor(bootstrap, args.n, tmp)
    print(f"raw samples (collapsed stacks): {tmp}", flush=True)


if __name__ == "__main__":
    main()
