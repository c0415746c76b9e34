"""The worker process around the Faust app: repeated log lines bounded, every stop bounded in time.

A stop (SIGTERM, Ctrl-C) normally finishes in a few seconds: the batch in
flight is answered, what was answered is committed, the group is left. With
Kafka unreachable, Faust's commit retries forever and its consumer waits on
aiokafka, so a deadline, armed when the stop begins, ends the process after
`shutdown_seconds` whatever it is waiting for. Nothing is lost by that: an
offset is committed only after the producer delivered the answers it covers,
so whatever was not committed is answered again by the partition's next owner.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from typing import Any

from faust.worker import Worker as FaustWorker

from worker.stream.repeats import UNLIMITED, RepeatLimiter, install

log = logging.getLogger(__name__)

EXIT_STOP_CUT_SHORT = 75  # EX_TEMPFAIL: stopped, but some answered requests may be answered again


class Worker(FaustWorker):
    def __init__(self, app: Any, *, shutdown_seconds: float, repeat_seconds: float, **kwargs: Any) -> None:
        self.limiter = RepeatLimiter(repeat_seconds)
        self.shutdown_seconds = shutdown_seconds
        self._deadline: threading.Timer | None = None
        super().__init__(app, **kwargs)

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        install(self.limiter, logger.handlers)

    def _schedule_shutdown(self, sig: signal.Signals) -> None:
        self.stop_within()
        super()._schedule_shutdown(sig)

    def on_worker_shutdown(self) -> None:
        self.stop_within()  # a stop that did not come from a signal (a crash)
        super().on_worker_shutdown()

    def stop_within(self) -> None:
        """Arm the deadline of the stop that begins now (once)."""
        if self._deadline is None:
            # A thread, not a loop callback: the event loop may be the thing stuck.
            self._deadline = threading.Timer(self.shutdown_seconds, self._cut_short)
            self._deadline.daemon = True
            self._deadline.start()

    def _cut_short(self) -> None:
        log.error(
            "stop did not finish within %.0fs (JWTGEN_SHUTDOWN_TIMEOUT_SECONDS), Kafka unreachable?: exiting now; "
            "requests answered but not committed are answered again by the next owner",
            self.shutdown_seconds,
            extra=UNLIMITED,
        )
        for handler in logging.getLogger().handlers:
            with contextlib.suppress(Exception):  # exiting anyway
                handler.flush()
        os._exit(EXIT_STOP_CUT_SHORT)
