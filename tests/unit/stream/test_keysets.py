"""worker.stream.keysets: the jwks_url fetcher, against a JWKS served over HTTPS on 127.0.0.1 (no Kafka)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.jwks_server import JwksServer
from tests.support.keys import KeyForms
from tests.support.pki import CA
from worker.core.keysets import KeySets, Wanted
from worker.stream.keysets import KeySetFetcher


@pytest.fixture(scope="module")
def ca() -> CA:
    return CA.create()


@pytest.fixture(scope="module")
def ca_file(ca: CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ca.write(tmp_path_factory.mktemp("ca") / "ca.pem")


@pytest.fixture
def server(ca: CA, tmp_path: Path) -> Iterator[JwksServer]:
    running = JwksServer(ca, tmp_path).start()
    try:
        yield running
    finally:
        running.stop()


def test_fetch_fills_the_cache(server: JwksServer, ca_file: Path, rsa2048: KeyForms) -> None:
    url = server.serve("/jwks.json", [{**rsa2048.public_jwk, "kid": "r"}])
    keysets = KeySets()
    keysets.track("c", url)
    assert KeySetFetcher(keysets, str(ca_file)).fetch(url)
    resolved = keysets.resolve(url, Wanted("RSA", "RSA-OAEP"))
    assert resolved.kid == "r" and resolved.key.thumbprint() == rsa2048.thumbprint()


def test_plain_http_to_the_loopback_address(ca: CA, tmp_path: Path, rsa2048: KeyForms) -> None:
    server = JwksServer(ca, tmp_path, tls=False).start()
    try:
        url = server.serve("/jwks.json", [rsa2048.public_jwk])
        assert url.startswith("http://127.0.0.1:")
        keysets = KeySets()
        keysets.track("c", url)
        assert KeySetFetcher(keysets).fetch(url)
        assert keysets.resolve(url, Wanted("RSA", "RSA-OAEP")).key.thumbprint() == rsa2048.thumbprint()
    finally:
        server.stop()


def test_an_untrusted_certificate_is_a_failed_fetch(server: JwksServer, rsa2048: KeyForms) -> None:
    url = server.serve("/jwks.json", [rsa2048.public_jwk])
    keysets = KeySets()
    keysets.track("c", url)
    assert not KeySetFetcher(keysets, None).fetch(url)  # the system's CAs do not know the test CA
    assert "TLS" in str(keysets.error_of(url)) or "certificate" in str(keysets.error_of(url))


def test_http_errors_and_unreachable_hosts(server: JwksServer, ca_file: Path) -> None:
    keysets = KeySets()
    fetcher = KeySetFetcher(keysets, str(ca_file), timeout=2)
    missing = server.url("/nothing-here")
    keysets.track("a", missing)
    assert not fetcher.fetch(missing) and keysets.error_of(missing) == "HTTP 404"
    server.stop()
    gone = server.url("/jwks.json")
    keysets.track("b", gone)
    assert not fetcher.fetch(gone) and keysets.error_of(gone)


def test_redirects_never_leave_https(server: JwksServer, ca_file: Path, rsa2048: KeyForms) -> None:
    keysets = KeySets()
    fetcher = KeySetFetcher(keysets, str(ca_file))
    url = server.url("/moved")
    keysets.track("c", url)
    server.redirect_to = "http://keys.example.com/jwks.json"  # plain HTTP off the host
    assert not fetcher.fetch(url)
    assert "HTTP 302" in str(keysets.error_of(url))


def test_the_thread_fetches_new_urls_at_once(server: JwksServer, ca_file: Path, rsa2048: KeyForms) -> None:
    url = server.serve("/jwks.json", [rsa2048.public_jwk])
    keysets = KeySets()
    fetcher = KeySetFetcher(keysets, str(ca_file))
    fetcher.start()
    try:
        keysets.track("c", url, 5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and server.hits.get("/jwks.json", 0) == 0:
            time.sleep(0.05)
        assert server.hits.get("/jwks.json") == 1
        time.sleep(0.5)
        assert keysets.resolve(url, Wanted("RSA", "RSA-OAEP")).key.thumbprint() == rsa2048.thumbprint()
        assert server.hits["/jwks.json"] == 1  # not again before the refresh period
    finally:
        fetcher.stop()
