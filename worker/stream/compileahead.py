"""Compiles configs that hold an RSA private key in a thread, as they arrive, ahead of their first request.

Compiling such a config (reading the PEM, checking the key with a signature,
building the signer) costs about a millisecond; done at the first request,
thousands of such configs read after a start add up on their partitions. Here a daemon thread compiles them in
arrival order while the worker reads the table and joins its group; a request
that comes first compiles its config itself (or waits for the compilation
under way) as before. Configs sharing a key check it once (keys.SHARED_RSA_KEYS).

cryptography keeps the GIL while it works, so the thread paces itself: after
a compilation that took long (an encrypted PEM's key derivation) it waits as
long again, leaving the event loop at least half the time. A config found
invalid here is logged by its first request, not here (ConfigTable.compile_ahead).
"""

from __future__ import annotations

import logging
import queue
import threading
import time

from worker.core.configtable import ConfigTable

log = logging.getLogger(__name__)

PACE_ABOVE_SECONDS = 0.005  # compilations quicker than this (a shared key) are not paced


class CompileAhead:
    def __init__(self, table: ConfigTable) -> None:
        self.table = table
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._queued: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="jwtgen-compile-ahead", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)

    def offer(self, config_id: str) -> None:
        """Compile `config_id` ahead if its first request would otherwise check an RSA key (event loop)."""
        if not self.table.worth_compiling_ahead(config_id):
            return
        with self._lock:
            if config_id in self._queued:
                return  # still queued: the newest record is what it compiles
            self._queued.add(config_id)
        self._queue.put(config_id)

    def pending(self) -> int:
        with self._lock:
            return len(self._queued)

    def _run(self) -> None:
        while not self._stop.is_set():
            config_id = self._queue.get()
            if config_id is None:
                return
            with self._lock:
                self._queued.discard(config_id)
            started = time.perf_counter()
            try:
                self.table.compile_ahead(config_id)
            except Exception as exc:  # its first request compiles it again and answers for it
                log.warning("config '%s' not compiled ahead (%s)", config_id, type(exc).__name__)
            took = time.perf_counter() - started
            if took > PACE_ABOVE_SECONDS:
                self._stop.wait(took)
