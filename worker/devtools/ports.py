"""Local TCP ports for brokers and test servers: free, and outside the kernel's ephemeral range.

A server port inside the ephemeral range can be taken by any outgoing
connection. Worse, a client that keeps reconnecting to a stopped broker on
127.0.0.1 may be given that very port as its source port and connect to
itself (TCP simultaneous open), holding the port so that the broker's
restart fails with "address in use". Ports below the range never collide
with outgoing connections.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Collection
from pathlib import Path

EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LINUX_EPHEMERAL_DEFAULT = (32768, 60999)
LOWEST_PORT = 20000


def ephemeral_range(source: Path = EPHEMERAL_RANGE_FILE) -> tuple[int, int]:
    """The kernel's range of source ports for outgoing connections (first, last)."""
    try:
        low, high = (int(part) for part in source.read_text().split())
    except (OSError, ValueError):
        return LINUX_EPHEMERAL_DEFAULT
    return low, high


def can_bind(port: int, host: str = "127.0.0.1") -> bool:
    """True if a server could listen on host:port now.

    Binds and listens with SO_REUSEADDR, as Java's ServerSocketChannel (and so
    Kafka) does: a port whose old connections linger in TIME_WAIT counts as
    free, one that another socket holds (bound, listening or connected) does not.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen(1)
        except OSError:
            return False
    return True


def free_port(
    low: int = LOWEST_PORT,
    high: int | None = None,
    host: str = "127.0.0.1",
    exclude: Collection[int] = (),
    attempts: int = 200,
) -> int:
    """A random port in [low, high] that can be bound now; high defaults to just below the ephemeral range.

    Random rather than sequential, so that processes choosing at the same time
    rarely pick the same port.
    """
    if high is None:
        high = ephemeral_range()[0] - 1
    if high < low:
        raise ValueError(f"no ports between {low} and {high}: the ephemeral range starts too low")
    for _ in range(attempts):
        port = random.randint(low, high)
        if port not in exclude and can_bind(port, host):
            return port
    raise OSError(f"no free port between {low} and {high} after {attempts} tries")
