"""Test-side tools for outages, restarts and rebalances: a broker of one's own, a steady load, answer audits.

Shared by tests/integration/test_outages.py, test_membership.py and bench/chaos.py.
Builds on tests/support/kafkaio.py.
"""

from __future__ import annotations

import itertools
import os
import random
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from tests.support.kafkaio import KafkaIO, WorkerProcess
from tests.support.processes import JWTGEN, REPO, free_port


def broker_port() -> int:
    """A free port for a broker of one's own: 20000-32000, outside the ephemeral range."""
    for _ in range(200):
        port = random.randint(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port in 20000-32000")


@dataclass
class OwnBroker:
    """A broker this test may stop and start at will, through `jwtgen broker start|stop`."""

    data_dir: Path
    port: int = 0

    def __post_init__(self) -> None:
        self.port = self.port or broker_port()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> OwnBroker:
        done = subprocess.run(
            [*JWTGEN, "broker", "start", "--port", str(self.port), "--data-dir", str(self.data_dir)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if done.returncode != 0:
            raise RuntimeError(f"jwtgen broker start failed:\n{done.stdout}\n{done.stderr}")
        return self

    def stop(self) -> None:
        subprocess.run(
            [*JWTGEN, "broker", "stop", "--data-dir", str(self.data_dir)],
            cwd=REPO,
            capture_output=True,
            timeout=120,
        )


def worker(
    prefix: str, bootstrap: str, log: Path, **env: str | int | float
) -> WorkerProcess:  # not started: call .start()
    return WorkerProcess(prefix, bootstrap, free_port(), log, extra_env={k: str(v) for k, v in env.items()})


def spawn(proc: WorkerProcess) -> WorkerProcess:
    """Start a worker process without waiting for it to be healthy."""
    environment = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": proc.bootstrap,
        "JWTGEN_TOPIC_PREFIX": proc.prefix,
        "PYTHONUNBUFFERED": "1",
        **proc.extra_env,
    }
    proc.proc = subprocess.Popen(
        [*JWTGEN, "worker", "--web-port", str(proc.web_port), "--web-host", "127.0.0.1"],
        cwd=REPO,
        env=environment,
        stdout=proc.log_path.open("ab"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    return proc


def kill(proc: WorkerProcess) -> None:
    assert proc.proc is not None
    proc.proc.send_signal(signal.SIGKILL)
    proc.proc.wait(10)


def stop_timed(proc: WorkerProcess, timeout: float = 90.0) -> tuple[float, int]:
    """SIGTERM; (seconds until the process ended, its exit code)."""
    assert proc.proc is not None
    started = time.monotonic()
    proc.proc.send_signal(signal.SIGTERM)
    code = proc.proc.wait(timeout)
    return time.monotonic() - started, code


def wait_until(condition: Callable[[], bool], timeout: float, what: str, poll: float = 0.3) -> float:
    """Seconds it took for `condition` to hold; fails the test after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(poll)
    raise AssertionError(f"not within {timeout}s: {what}")


def health(proc: WorkerProcess) -> tuple[int, dict[str, Any]]:
    status, body = proc.health()
    try:
        return status, orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        return status, {}


_LOG_LINE = re.compile(r"^\[\d{4}-\d\d-\d\d [\d:,]+\] \[\d+\] \[(\w+)\]")


def log_lines(text: str) -> list[str]:
    """The log records in a worker's output (one per line that starts with a timestamp)."""
    return [line for line in text.splitlines() if _LOG_LINE.match(line)]


def problem_lines(text: str) -> list[str]:
    return [line for line in log_lines(text) if _LOG_LINE.match(line).group(1) in ("WARNING", "ERROR", "CRITICAL")]  # type: ignore[union-attr]


class Audit:
    """Every request's answers, as collected by a KafkaIO: lost, duplicated, and duplicates that differ."""

    def __init__(self, io: KafkaIO, keys: list[str]) -> None:
        answers = {key: io.answers.get(key, []) for key in keys}
        self.requests = len(keys)
        self.lost = [key for key, found in answers.items() if not found]
        self.duplicated = {key: found for key, found in answers.items() if len(found) > 1}
        self.differing = [key for key, found in self.duplicated.items() if len({_stable(a) for a in found}) > 1]
        self.extra_answers = sum(len(found) - 1 for found in self.duplicated.values())

    def __str__(self) -> str:
        return (
            f"requests {self.requests}, lost {len(self.lost)}, duplicated {len(self.duplicated)} "
            f"({self.extra_answers} extra answers), non-identical duplicates {len(self.differing)}"
        )


def _stable(answer: tuple[str, dict[str, Any], list[tuple[str, bytes]]]) -> bytes:
    kind, body, _ = answer
    return orjson.dumps({"kind": kind, **{k: v for k, v in body.items() if k not in ("processed_at", "at")}})


class SteadyLoad:
    """Sends requests at a steady rate from the calling thread while answers are collected."""

    def __init__(self, io: KafkaIO, make: Callable[[], dict[str, Any]], rate: float) -> None:
        self.io = io
        self.make = make
        self.rate = rate
        self.keys: list[str] = []
        self._owed = 0.0
        self._last = time.monotonic()

    def run_for(self, seconds: float) -> None:
        """Keep sending (and collecting answers) for `seconds`."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.tick()

    def skip(self) -> None:
        """Forget the time since the last send (a pause in which nothing could be sent), so no burst follows."""
        self._last = time.monotonic()

    def tick(self) -> None:
        now = time.monotonic()
        self._owed += (now - self._last) * self.rate
        self._last = now
        count = int(self._owed)
        if count:
            self._owed -= count
            batch = [self.make() for _ in range(count)]
            self.keys += [r["execution_id"] for r in batch]
            self.io.send_requests(batch)
        self.io._poll(50)

    def drain(self, timeout: float) -> None:
        """Wait until every request sent has an answer (or `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(k in self.io.answers for k in self.keys):
            self.io._poll(200)


def stand_still(io: KafkaIO, keys: list[str], after: float) -> tuple[float, float]:
    """(longest time with no answer at all, longest time one partition had none), after `after` (epoch seconds).

    From the answers' own `processed_at`; an answer lands on the partition
    of its request (same key, same partition count).
    """
    by_partition: dict[int, list[float]] = {}
    every: list[float] = []
    for key in keys:
        found = io.answers.get(key)
        if not found:
            continue
        at = found[0][1].get("processed_at", 0) / 1000
        if at < after:
            continue
        every.append(at)
        by_partition.setdefault(io.partitions[key][0][0], []).append(at)

    def longest_gap(times: list[float]) -> float:
        times = sorted(times)
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)

    return longest_gap(every), max((longest_gap(t) for t in by_partition.values()), default=0.0)
