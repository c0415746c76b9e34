"""bench.latency --settle: each paced stream's first seconds are sent at its rate and left out of its figures."""

from __future__ import annotations

from bench import latency
from bench.latency import SETTLE_SECONDS, Latency, stream_values


def test_the_settling_requests_come_first_and_are_apart_from_the_counted_ones() -> None:
    settling, counted = stream_values(rate=1000, settle=2.0, seconds=10.0, start=200)
    assert (len(settling), len(counted)) == (2000, 10000)
    settling_keys = [key for key, _ in settling]
    counted_keys = [key for key, _ in counted]
    assert not set(settling_keys) & set(counted_keys)
    assert len(set(settling_keys + counted_keys)) == 12000


def test_no_settling_counts_every_request() -> None:
    settling, counted = stream_values(rate=500, settle=0.0, seconds=4.0, start=0)
    assert (settling, len(counted)) == ([], 2000)


def test_the_row_gives_the_settling_seconds_p99_beside_the_counted_figures() -> None:
    run = Latency(13000, 12998, 0.005, 0.010, 0.016, 0.024, 0.066, 0.79, settle_seconds=2.0, settle_p99=0.0412)
    assert run.row().endswith("other cores 79% busy, first 2 s p99 41.2 ms")
    assert "p50/p95/p99/max 5.0 / 10.0 / 16.0 / 24.0 ms" in run.row()


def test_without_settling_the_row_says_nothing_of_it() -> None:
    run = Latency(13000, 12998, 0.005, 0.010, 0.016, 0.024, 0.066, 0.79)
    assert run.row().endswith("other cores 79% busy")


def test_the_default_is_the_one_the_help_and_the_row_describe() -> None:
    # The module's help says "2 by default" and the rows print "first 2 s": the constant must agree.
    assert SETTLE_SECONDS == 2.0
    assert latency.__doc__ is not None
    assert f"`--settle` seconds ({SETTLE_SECONDS:g} by default)" in latency.__doc__
