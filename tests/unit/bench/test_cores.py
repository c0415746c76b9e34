"""bench.latency's core placement: a process's threads moved onto CPUs for a while, then put back."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.common import Cores, broker_pid, run_on, running_on

# A child with a second thread, which starts a third one when told to (a line on stdin).
CHILD = """
import sys, threading, time
threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
print("ready", flush=True)
sys.stdin.readline()
threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
print("started", flush=True)
time.sleep(60)
"""


@pytest.fixture
def child() -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    yield proc
    proc.kill()
    proc.wait()


def affinities(pid: int) -> dict[int, set[int]]:
    return {int(tid): os.sched_getaffinity(int(tid)) for tid in os.listdir(f"/proc/{pid}/task")}


def test_every_thread_runs_on_the_cpus_within_the_block_and_where_it_ran_after(
    child: subprocess.Popen[str],
) -> None:
    everywhere = os.sched_getaffinity(0)
    one = {min(everywhere)}
    assert set(map(frozenset, affinities(child.pid).values())) == {frozenset(everywhere)}
    with running_on([child.pid], one):
        assert len(affinities(child.pid)) == 2
        assert all(cpus == one for cpus in affinities(child.pid).values())
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "started"
        # A thread started meanwhile inherits the placement...
        assert len(affinities(child.pid)) == 3
        assert all(cpus == one for cpus in affinities(child.pid).values())
    # ...and goes back, with the others, where the process ran.
    assert all(cpus == everywhere for cpus in affinities(child.pid).values())


def test_run_on_returns_where_each_thread_ran_and_ignores_an_ended_process(child: subprocess.Popen[str]) -> None:
    everywhere = os.sched_getaffinity(0)
    before = run_on(child.pid, {max(everywhere)})
    assert before == dict.fromkeys(affinities(child.pid), everywhere)
    child.kill()
    child.wait()
    deadline = time.monotonic() + 5
    while Path(f"/proc/{child.pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert run_on(child.pid, everywhere) == {}
    with running_on([child.pid], everywhere):
        pass


def test_the_measured_process_gets_the_last_cpu_and_the_rest_the_others() -> None:
    cpus = sorted(os.sched_getaffinity(0))
    cores = Cores.split()
    if len(cpus) == 1:
        assert cores is None
    else:
        assert cores == Cores({cpus[-1]}, set(cpus[:-1]))
        assert cores.describe() == f"CPU {cpus[-1]} / {','.join(map(str, cpus[:-1]))}"


def test_no_broker_pid_without_a_running_broker(tmp_path: Path) -> None:
    assert broker_pid(tmp_path) is None
    (tmp_path / "broker.pid").write_text(str(os.getpid()))  # alive, but not a Kafka broker
    assert broker_pid(tmp_path) is None
