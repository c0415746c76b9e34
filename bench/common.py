"""What the benchmarks share: configs and requests, topics, producing, reading records back, and the
processes under test (a worker, the bare loop) with their CPU time and resident memory.

Every figure comes from record timestamps (the request's, set by the producer
that sent it, and the answer's, set by the worker's producer when it appended
the answer) and from /proc of the measured process, so the benchmark's own
work (producing, reading back) is not counted against the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tests.support.kafkaio import WorkerProcess
from tests.support.processes import JWTGEN, REPO, free_port
from worker.core import keygen
from worker.devtools.broker import BrokerPaths, read_pid
from worker.stream.sink import BatchSink
from worker.stream.topics import TopicNames, ensure_topics

PARTITIONS = 8
_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


# --------------------------------------------------------------------------- configs and requests


def rsa_private_pems(count: int, bits: int = 2048) -> list[str]:
    """`count` distinct RSA private keys (PEM); generating one takes some 50-100 ms."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    return [
        rsa.generate_private_key(65537, bits)
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
        for _ in range(count)
    ]


def config_for(
    alg: str, config_id: str = "bench", *, private_key: object = None, secret: str | None = None
) -> dict[str, Any]:
    """A config like the contract's example (three claims, a jti, token and exp stored), signed with `alg`."""
    if alg.startswith("HS"):
        signature: dict[str, Any] = {"type": "symmetric", "alg": alg, "kid": "bench", "password": secret or "b" * 64}
    else:
        kty = "RSA" if alg[:2] in ("RS", "PS") else "EC"
        if private_key is None:
            private_key, _ = keygen.generate_keypair(kty, None, None, alg, "bench")
        signature = {"type": "asymmetric", "key_type": kty, "alg": alg, "kid": "bench", "private_key": private_key}
    return {
        "id": config_id,
        "version": 1,
        "ttl": 600,
        "claims": {
            "issuer": "https://idp.example.com",
            "subject": "{{user.id}}",
            "jti": True,
            "custom": [
                {"key": "email", "value": "{{user.email}}", "type": "String"},
                {"key": "roles", "value": "{{user.roles}}", "type": "Array"},
            ],
        },
        "signature": signature,
        "store": {"variable": "jwt", "attributes": ["token", "exp"]},
    }


def request_values(n: int, config_ids: Sequence[str] = ("bench",), start: int = 0) -> list[tuple[bytes, bytes]]:
    """`n` requests keyed by their execution id, spread over `config_ids` in turn."""
    tag = uuid.uuid4().hex[:6]
    out = []
    for i in range(start, start + n):
        eid = f"bench-{i}-{tag}"
        req = {
            "execution_id": eid,
            "flow": {"id": "bench", "type": "API"},
            "node": {"id": "jwt"},
            "config": {"id": config_ids[i % len(config_ids)]},
            "store": {"user": {"id": f"u-{i}", "email": f"u{i}@example.com", "roles": ["a", "b"]}},
            "issued_at": 1764355200,
        }
        out.append((eid.encode(), orjson.dumps(req)))
    return out


# --------------------------------------------------------------------------- topics, producing, reading back


async def new_topics(bootstrap: str, name: str, partitions: int = PARTITIONS) -> TopicNames:
    names = TopicNames(f"bench-{name}-{uuid.uuid4().hex[:6]}")
    await ensure_topics(bootstrap, names, partitions, 1)
    return names


async def delete_topics(bootstrap: str, names: TopicNames) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([names.configs, names.requests, names.true, names.failure, names.deadletter])
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, records: Sequence[tuple[bytes | None, bytes | None]]) -> None:
    """Send `records` as fast as the producer batches them, and wait for every acknowledgement."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=10, max_batch_size=256 * 1024)
    await producer.start()
    try:
        futures = [await producer.send(topic, key=k, value=v) for k, v in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


Send = Callable[[str, Sequence[tuple[bytes, bytes]]], Awaitable[None]]


@contextlib.asynccontextmanager
async def batch_producer(bootstrap: str) -> AsyncIterator[Send]:
    """`send(topic, records)` through the worker's own BatchSink (worker/stream/sink.py).

    Each record is appended to its key's partition's record batch (a plain
    call: a per-record `send` would cost the load generator a third of a core
    on the cores the workers need) and takes its timestamp then; the batches
    are handed over in the background. On the way out every record is
    acknowledged, or the first delivery error is raised.
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks=1)
    failures: list[BaseException] = []
    sink = BatchSink(lambda: producer, failures.append)

    async def send(topic: str, records: Sequence[tuple[bytes, bytes]]) -> None:
        await sink.send([(topic, key, value, ()) for key, value in records])

    await producer.start()
    try:
        yield send
        await sink.drain()
        await producer.flush()
    finally:
        await producer.stop()
    if failures:
        raise failures[0]


async def produce_burst(bootstrap: str, topic: str, records: Sequence[tuple[bytes, bytes]]) -> None:
    """Send `records` far faster than any worker answers: a backlog produced while the workers already run."""
    async with batch_producer(bootstrap) as send:
        await send(topic, records)


async def read_timestamps(bootstrap: str, topics: Sequence[str], n: int, timeout: float) -> dict[bytes | None, int]:
    """Key -> record timestamp (ms) of the first `n` records on `topics`, read from the start."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tps = []
        for topic in topics:
            for _ in range(100):
                await consumer._client.force_metadata_update()
                if consumer.partitions_for_topic(topic):
                    break
                await asyncio.sleep(0.1)
            tps += [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        stamps: dict[bytes | None, int] = {}
        seen = 0
        deadline = time.monotonic() + timeout
        while seen < n and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200, max_records=10000)
            for records in batches.values():
                seen += len(records)
                for record in records:
                    stamps[record.key] = record.timestamp
        if seen < n:
            raise TimeoutError(f"only {seen} of {n} records on {', '.join(topics)} within {timeout:.0f}s")
        return stamps
    finally:
        await consumer.stop()


def span_seconds(stamps: Mapping[Any, int]) -> float:
    """From the first timestamp to the last, in seconds."""
    return (max(stamps.values()) - min(stamps.values())) / 1000


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# --------------------------------------------------------------------------- processes under test


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def cpu_jiffies(cpus: set[int], stat: str | None = None) -> tuple[int, int]:
    """(busy, all) clock ticks of `cpus` since boot, from /proc/stat (`stat` is its text, read if not given).

    Busy is everything but idle and iowait; steal counts as busy, since those
    ticks were not the guest's to give.
    """
    if stat is None:
        with open("/proc/stat") as file:
            stat = file.read()
    busy = total = 0
    for line in stat.splitlines():
        name, _, rest = line.partition(" ")
        if not (name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus):
            continue
        ticks = [int(field) for field in rest.split()[:8]]  # user nice system idle iowait irq softirq steal
        total += sum(ticks)
        busy += sum(ticks) - ticks[3] - ticks[4]
    return busy, total


@dataclass
class CoresBusy:
    """How busy `cpus` were between `start()` and `stop()`, which returns it as a fraction of their time."""

    cpus: set[int]
    _start: tuple[int, int] = (0, 0)

    def start(self) -> CoresBusy:
        self._start = cpu_jiffies(self.cpus)
        return self

    def stop(self) -> float:
        busy, total = cpu_jiffies(self.cpus)
        elapsed = total - self._start[1]
        return (busy - self._start[0]) / elapsed if elapsed > 0 else 0.0


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE / 2**20


@dataclass
class CpuClock:
    """CPU time of a process sampled every 20 ms, to read it at any moment (an answer's timestamp)."""

    pid: int
    samples: list[tuple[float, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> CpuClock:
        def sample() -> None:
            while not self._stop.is_set():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    self.samples.append((time.time(), cpu_seconds(self.pid)))
                self._stop.wait(0.02)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def at(self, when: float) -> float:
        """CPU seconds used by `when` (epoch seconds), interpolated between samples."""
        before = self.samples[0]
        for sample in self.samples:
            if sample[0] >= when:
                if sample[0] == before[0]:
                    return sample[1]
                share = (when - before[0]) / (sample[0] - before[0])
                return before[1] + (sample[1] - before[1]) * share
            before = sample
        return self.samples[-1][1]

    def between(self, first: float, last: float) -> float:
        return self.at(last) - self.at(first)


def start_worker(bootstrap: str, prefix: str, log_dir: Path, env: dict[str, str] | None = None) -> WorkerProcess:
    """A `jwtgen worker` on `prefix`, returned once it serves (config table read, partitions assigned)."""
    log = log_dir / f"{prefix}-{uuid.uuid4().hex[:4]}.log"
    worker = WorkerProcess(prefix, bootstrap, free_port(), log, extra_env=env or {})
    return worker.start(timeout=180)


def metric_sum(worker: WorkerProcess, name: str, having: str = "") -> float:
    """The sum of the series of `name` in the worker's /metrics whose line holds `having` (0 when none)."""
    total = 0.0
    for line in worker.metrics().splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in ("{", " ") and having in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_for(condition: Any, timeout: float, what: str, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f}s")
        time.sleep(every)


def start_bare_loop(bootstrap: str, prefix: str, log_dir: Path, batch: int) -> subprocess.Popen[bytes]:
    """The bare aiokafka loop (bench/bareloop.py) in a process of its own, like the worker."""
    log = (log_dir / f"{prefix}-bare.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "bench.bareloop", "--bootstrap", bootstrap, "--prefix", prefix, "--batch", str(batch)],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


# --------------------------------------------------------------------------- CPUs


@dataclass(frozen=True)
class Cores:
    """A core for the measured process alone, the others for the rest (the load generator, the broker)."""

    measured: set[int]
    rest: set[int]

    @classmethod
    def split(cls) -> Cores | None:
        """The last CPU this process may run on for the measured process; None with a single CPU."""
        cpus = sorted(os.sched_getaffinity(0))
        return cls({cpus[-1]}, set(cpus[:-1])) if len(cpus) > 1 else None

    def describe(self) -> str:
        return f"CPU {_cpu_list(self.measured)} / {_cpu_list(self.rest)}"


def _cpu_list(cpus: set[int]) -> str:
    return ",".join(str(cpu) for cpu in sorted(cpus))


def _threads(pid: int) -> list[int]:
    try:
        return [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
    except FileNotFoundError:  # the process has ended
        return []


def run_on(pid: int, cpus: set[int]) -> dict[int, set[int]]:
    """Every thread of `pid` on `cpus` (the threads they start inherit it); returns where each thread ran."""
    before: dict[int, set[int]] = {}
    for tid in _threads(pid):
        with contextlib.suppress(ProcessLookupError):  # a thread that just ended
            before[tid] = os.sched_getaffinity(tid)
            os.sched_setaffinity(tid, cpus)
    return before


@contextlib.contextmanager
def running_on(pids: Sequence[int], cpus: set[int]) -> Iterator[None]:
    """Every thread of `pids` on `cpus` for the block, then back where it ran.

    Threads started within the block go back where their process's main thread ran.
    """
    before = {pid: run_on(pid, cpus) for pid in pids}
    try:
        yield
    finally:
        for pid, threads in before.items():
            as_process = threads.get(pid)  # for the threads started within the block
            for tid in _threads(pid):
                cpus_before = threads.get(tid, as_process)
                if cpus_before is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.sched_setaffinity(tid, cpus_before)


def broker_pid(data_dir: Path) -> int | None:
    """The pid of the local broker (`jwtgen broker start --data-dir`) of `data_dir`, if it runs."""
    return read_pid(BrokerPaths(data_dir))


@contextlib.contextmanager
def broker(bootstrap: str | None, data_dir: Path) -> Iterator[str]:
    """`bootstrap` when given; else a local broker started here and stopped on the way out."""
    if bootstrap is not None:
        yield bootstrap
        return
    port = free_port()
    subprocess.run([*JWTGEN, "broker", "start", "--port", str(port), "--data-dir", str(data_dir)], cwd=REPO, check=True)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([*JWTGEN, "broker", "stop", "--data-dir", str(data_dir)], cwd=REPO, check=False)


def machine() -> str:
    """Date, cores and load: the context every figure needs."""
    load = os.getloadavg()[0]
    python = sys.version.split()[0]
    return f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, load {load:.2f} at start, Python {python}"
