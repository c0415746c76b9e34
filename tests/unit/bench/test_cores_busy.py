"""bench.latency's "other cores N% busy": clock ticks of chosen CPUs from /proc/stat, idle and iowait not counted."""

from __future__ import annotations

import os
import time

from bench.common import CoresBusy, cpu_jiffies
from bench.latency import Latency, median_of

# The shape of /proc/stat: the machine's line, one per CPU, then other counters.
STAT = """cpu  300 0 100 900 50 0 10 5 0 0
cpu0 100 0 50 400 20 0 5 5 0 0
cpu1 200 0 50 500 30 0 5 0 0 0
intr 12345 0 0
ctxt 999
"""


def test_busy_is_all_but_idle_and_iowait_of_the_cpus_asked_for() -> None:
    # cpu0: 100 user + 50 system + 5 softirq + 5 steal busy, 400 idle + 20 iowait not.
    assert cpu_jiffies({0}, STAT) == (160, 580)
    assert cpu_jiffies({1}, STAT) == (255, 785)
    assert cpu_jiffies({0, 1}, STAT) == (415, 1365)


def test_the_machine_line_and_cpus_not_asked_for_are_left_out() -> None:
    assert cpu_jiffies({7}, STAT) == (0, 0)
    assert cpu_jiffies(set(), STAT) == (0, 0)


def test_a_core_kept_busy_shows_as_busy() -> None:
    cpu = min(os.sched_getaffinity(0))
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        busy = CoresBusy({cpu}).start()
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            pass
        assert busy.stop() > 0.8
    finally:
        os.sched_setaffinity(0, before)


def test_the_row_says_how_busy_the_other_cores_were_and_runs_take_the_median() -> None:
    runs = [Latency(1000, 1000, 0.005, 0.01, 0.02, 0.03, 0.06, busy) for busy in (0.9, 0.5, 0.7)]
    assert runs[0].row().endswith("0.060 CPU s/1000, other cores 90% busy")
    assert median_of(runs).others_busy == 0.7
    unpinned = Latency(1000, 1000, 0.005, 0.01, 0.02, 0.03, 0.06, 0.42, "cores")
    assert unpinned.row().endswith("cores 42% busy") and "other" not in unpinned.row()
