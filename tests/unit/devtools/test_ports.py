"""worker/devtools/ports.py: free ports below the ephemeral range, checked the way Kafka binds."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import processes
from worker.devtools import ports


@pytest.fixture
def bound_only() -> Iterator[int]:
    """A port bound (no SO_REUSEADDR) but not listening: a connect is refused, yet nobody else can listen."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_ephemeral_range_comes_from_the_kernel_file(tmp_path: Path) -> None:
    source = tmp_path / "ip_local_port_range"
    source.write_text("40000\t50000\n")
    assert ports.ephemeral_range(source) == (40000, 50000)
    assert ports.ephemeral_range(tmp_path / "missing") == ports.LINUX_EPHEMERAL_DEFAULT


def test_free_ports_lie_below_the_ephemeral_range_and_can_be_bound() -> None:
    low = ports.ephemeral_range()[0]
    chosen = {ports.free_port() for _ in range(20)} | {processes.free_port() for _ in range(20)}
    assert all(ports.LOWEST_PORT <= port < low for port in chosen), sorted(chosen)
    assert all(ports.can_bind(port) for port in chosen)


def test_a_bound_socket_makes_a_port_unusable_even_without_listen(bound_only: int) -> None:
    assert not ports.can_bind(bound_only)


def test_a_listening_socket_makes_a_port_unusable_until_it_closes() -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        assert not ports.can_bind(port)
    assert ports.can_bind(port)


def test_connections_in_time_wait_do_not_block_the_port() -> None:
    # Kafka binds with SO_REUSEADDR, so a restarted broker may reuse a port whose
    # old connections linger in TIME_WAIT: the check must agree.
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # the server side closes first: its end enters TIME_WAIT
    server.close()
    client.close()
    assert ports.can_bind(port)


def test_a_taken_or_excluded_candidate_is_skipped(bound_only: int, monkeypatch: pytest.MonkeyPatch) -> None:
    first = ports.free_port()
    second = ports.free_port(exclude={first})
    candidates = iter([bound_only, first, first, second])
    monkeypatch.setattr(ports.random, "randint", lambda low, high: next(candidates))
    assert ports.free_port(low=1024, high=65535) == first
    assert ports.free_port(low=1024, high=65535, exclude={first}) == second


def test_no_room_below_the_range_is_an_error() -> None:
    with pytest.raises(ValueError, match="no ports between"):
        ports.free_port(low=20000, high=1023)
