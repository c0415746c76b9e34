"""bench.latency --per-second: the p99 of each second of a paced run, to tell a stretch from a spread tail."""

from __future__ import annotations

from bench.latency import Latency, p99_by_second


def test_each_whole_second_from_the_first_request_gets_its_own_p99() -> None:
    # 100 requests a second for three seconds; the middle second has a stretch of slow answers.
    stamps = [(1_000_000 + ms * 10, 0.005) for ms in range(300)]
    stamps[100:110] = [(1_000_000 + ms * 10, 0.080) for ms in range(100, 110)]
    assert p99_by_second(stamps) == (0.005, 0.080, 0.005)


def test_seconds_are_counted_from_the_first_request_whatever_the_order() -> None:
    stamps = [(5_999, 0.030), (5_000, 0.001), (4_500, 0.002), (4_999, 0.004)]
    assert p99_by_second(stamps) == (0.004, 0.030)


def test_no_requests_no_seconds() -> None:
    assert p99_by_second([]) == ()


def test_the_row_prints_milliseconds_second_by_second() -> None:
    run = Latency(1000, 1000, 0.004, 0.008, 0.012, 0.020, 0.05, 0.8, p99_by_second=(0.0121, 0.0449, 0.009))
    assert run.by_second_row() == "p99 by second 12 45 9 ms"


def test_the_settling_seconds_come_before_a_bar() -> None:
    run = Latency(
        1000,
        1000,
        0.004,
        0.008,
        0.012,
        0.020,
        0.05,
        0.8,
        p99_by_second=(0.040, 0.023, 0.012, 0.009),
        settle_seconds=2.0,
    )
    assert run.by_second_row() == "p99 by second 40 23 | 12 9 ms"


def test_a_part_second_of_settling_marks_the_second_it_ends_in() -> None:
    run = Latency(
        1000, 1000, 0.004, 0.008, 0.012, 0.020, 0.05, 0.8, p99_by_second=(0.040, 0.023, 0.012), settle_seconds=1.5
    )
    assert run.by_second_row() == "p99 by second 40 23 | 12 ms"
