"""Faust's Monitor sensor without its per-event bookkeeping.

Faust calls its Monitor four times for every record (in, stream in, stream
out, out) and once more per fetched record for the end offset: counters,
timings and per-stream lookups that only Faust's own statistics pages read,
which this worker does not serve (its metrics are worker/stream/metrics.py).
Kept: the time each partition's stream last took an event, which Faust's
livelock detector reads to warn about a stream that stopped, and the
per-commit bookkeeping (once per commit, not per event).
"""

from __future__ import annotations

from time import monotonic
from typing import Any

from faust.sensors import Monitor
from faust.types import TP


class LeanMonitor(Monitor):
    def on_message_in(self, tp: TP, offset: int, message: Any) -> None:
        pass

    def on_stream_event_in(self, tp: TP, offset: int, stream: Any, event: Any) -> None:
        self.stream_inbound_time[tp] = monotonic()

    def on_stream_event_out(self, tp: TP, offset: int, stream: Any, event: Any, state: Any = None) -> None:
        pass

    def on_message_out(self, tp: TP, offset: int, message: Any) -> None:
        pass

    def track_tp_end_offset(self, tp: TP, offset: int) -> None:
        pass
