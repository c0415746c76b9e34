"""A one-line progress display on a terminal: counts, a bar and the rate, redrawn in place."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressLine:
    """Redraws one status line on `stream` (standard error) when it is a terminal; silent otherwise."""

    def __init__(
        self, unit: str = "records", stream: TextIO | None = None, enabled: bool | None = None, every: float = 0.1
    ) -> None:
        self.unit = unit
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.started = time.monotonic()
        self._every = every
        self._drawn = 0.0
        self._width = 0

    def update(self, done: int, total: int, what: str) -> None:
        now = time.monotonic()
        if not self.enabled or now - self._drawn < self._every:
            return
        self._drawn = now
        rate = done / max(now - self.started, 1e-6)
        filled = int(20 * done / total) if total else 20
        bar = "#" * filled + "." * (20 - filled)
        text = f"[{bar}] {done}/{total} {self.unit} · {rate:,.0f}/s" + (f" · {what}" if what else "")
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def close(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started
