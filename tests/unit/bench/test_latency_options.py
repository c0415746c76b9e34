"""bench.latency's warm-up run: 10 s when the peak is given (nothing drained the broker before), as asked otherwise."""

from bench.latency import WARM_UP_SECONDS, warm_up_seconds


def test_a_given_peak_gets_a_warm_up_run() -> None:
    assert warm_up_seconds(None, peak_given=True) == WARM_UP_SECONDS == 10.0


def test_a_measured_peak_has_warmed_the_broker() -> None:
    assert warm_up_seconds(None, peak_given=False) == 0.0


def test_an_asked_length_wins_either_way() -> None:
    assert warm_up_seconds(0.0, peak_given=True) == 0.0
    assert warm_up_seconds(3.5, peak_given=False) == 3.5
