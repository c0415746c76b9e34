"""A bound on repeated log lines, whoever writes them.

While Kafka is unreachable aiokafka logs the same few errors about ten times a
second (connect, metadata, fetch, coordinator), from several loggers, and a
request can make the handler log an internal error: either can fill a disk.
`RepeatLimiter` sits on the log *handlers* (a filter on a logger would miss its
child loggers) and lets one warning or error per template through per interval, keyed on
(logger name, unformatted message); the next one that passes says how many
were held back. A record may carry its own key (`extra=keyed(...)`) or opt out
(`extra=UNLIMITED`), for lines that differ by meaning, not by template.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable

UNLIMITED = {"ratelimit": False}
_DECIDED = "_ratelimit_passed"  # the decision, kept on the record: one filter instance serves every handler
_MAX_KEYS = 10_000  # a bound on memory; the oldest keys are forgotten first


def keyed(key: Hashable) -> dict[str, object]:
    """`extra=` for a line limited under its own key (say, per config id) instead of its template."""
    return {"ratelimit_key": key}


class RepeatLimiter(logging.Filter):
    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()  # aiokafka's consumer thread logs too
        # key -> (when a line last passed, lines held back since)
        self._seen: OrderedDict[Hashable, tuple[float, int]] = OrderedDict()
        self.suppressed = 0  # in all, for tests and reminders

    def filter(self, record: logging.LogRecord) -> bool:
        decided = record.__dict__.get(_DECIDED)
        if decided is not None:
            return bool(decided)
        passed = self._decide(record)
        record.__dict__[_DECIDED] = passed
        return passed

    def _decide(self, record: logging.LogRecord) -> bool:
        # Only problems repeat in floods; progress lines (rebalances, starts)
        # are few and each one tells something.
        if record.levelno < logging.WARNING or getattr(record, "ratelimit", True) is False:
            return True
        key = getattr(record, "ratelimit_key", None)
        if key is None:
            template = record.msg if isinstance(record.msg, str) else type(record.msg).__name__
            key = (record.name, record.levelno, template)
        now = self._clock()
        with self._lock:
            last = self._seen.get(key)
            if last is not None and now - last[0] < self.interval:
                self._seen[key] = (last[0], last[1] + 1)
                self.suppressed += 1
                return False
            self._seen[key] = (now, 0)
            self._seen.move_to_end(key)
            if len(self._seen) > _MAX_KEYS:
                self._seen.popitem(last=False)
        if last is not None and last[1] and isinstance(record.msg, str):
            record.msg = f"{record.msg} [{last[1]} more like this in the last {now - last[0]:.0f}s not shown]"
        return True


def install(limiter: RepeatLimiter, handlers: Iterable[logging.Handler] | None = None) -> RepeatLimiter:
    """Put `limiter` on the given handlers (the root logger's by default)."""
    for handler in logging.getLogger().handlers if handlers is None else handlers:
        if limiter not in handler.filters:
            handler.addFilter(limiter)
    return limiter
