"""Reconnect backoff for aiokafka clients.

aiokafka 0.14 retries a broker it cannot reach every `retry_backoff_ms` (100 ms),
for as long as the broker is away, from every client (consumer, producer,
config feed). Like the Java client's reconnect.backoff.ms and
reconnect.backoff.max.ms, `add_reconnect_backoff` makes a client wait before
it tries a node again after a failed connection, doubling the wait (with
jitter) up to a maximum, and forgets the node's failures once it connects.
Requests to a node in backoff fail at once as "not ready", which every caller
already handles by retrying later.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from aiokafka.client import AIOKafkaClient, ConnectionGroup

FIRST_WAIT_SECONDS = 0.1  # the Java client's reconnect.backoff.ms is 50 ms

GetConn = Callable[..., Awaitable[Any]]


class ReconnectBackoff:
    """When a node may be tried again: pure bookkeeping, separate from any client."""

    def __init__(
        self, max_seconds: float, first_seconds: float = FIRST_WAIT_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_seconds = max_seconds
        self.first_seconds = min(first_seconds, max_seconds)
        self._clock = clock
        self._failures: dict[Hashable, tuple[float, float]] = {}  # node -> (not before, last wait)

    def may_try(self, node: Hashable) -> bool:
        failure = self._failures.get(node)
        return failure is None or self._clock() >= failure[0]

    def failed(self, node: Hashable) -> float:
        """Record a failed connection; returns the wait before the next attempt."""
        previous = self._failures.get(node)
        wait = self.first_seconds if previous is None else min(self.max_seconds, previous[1] * 2)
        self._failures[node] = (self._clock() + wait * random.uniform(0.8, 1.0), wait)
        return wait

    def connected(self, node: Hashable) -> None:
        self._failures.pop(node, None)


def add_reconnect_backoff(client: AIOKafkaClient, max_seconds: float) -> ReconnectBackoff:
    """Wrap `client`'s connection getter so that unreachable nodes are retried with backoff."""
    backoff = ReconnectBackoff(max_seconds)
    original: GetConn = client._get_conn
    conns: dict[Any, Any] = client._conns

    async def get_conn(node_id: Any, *, group: ConnectionGroup = ConnectionGroup.DEFAULT, no_hint: bool = False) -> Any:
        if not backoff.may_try(node_id) and (node_id, group) not in conns:
            return None
        conn = await original(node_id, group=group, no_hint=no_hint)
        if conn is None:
            backoff.failed(node_id)
        else:
            backoff.connected(node_id)
        return conn

    client._get_conn = get_conn  # type: ignore[method-assign]
    return backoff
