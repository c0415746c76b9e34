"""worker.core.keysets: the jwks_url cache the stream layer fills, and encryption to a key chosen per request.

No network here: the tests hand bodies to the cache as the fetcher would, on a fake clock.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.configs import IAT, STORE, base_config
from tests.support.jose_check import decrypt
from tests.support.keys import KeyForms
from tests.support.problems import assert_problem
from worker.core.configtable import ConfigTable
from worker.core.engine import compile_config, generate
from worker.core.errors import ErrorCode, NodeError
from worker.core.keysets import RETRY_SECONDS, KeySets, Wanted, check_url, shown

URL = "https://keys.example.com/jwks.json"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def body(*keys: dict[str, Any]) -> bytes:
    return json.dumps({"keys": list(keys)}).encode()


def remote_config(kid: str | None = None, **extra: Any) -> dict[str, Any]:
    encryption: dict[str, Any] = {"type": "asymmetric", "key_type": "RSA", "alg": "RSA-OAEP-256", "jwks_url": URL}
    if kid is not None:
        encryption["kid"] = kid
    encryption.update(extra)
    return base_config(id="remote", signature=None, encryption=encryption)


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("http://keys.example.com/jwks", "https://"),
        ("http://10.0.0.1/jwks", "loopback"),
        ("ftp://x/y", "https://"),
        ("https:///jwks", "no host"),
        ("https://user:pw@keys.example.com/", "credentials"),
        ("https://keys.example.com/#frag", "fragment"),
        ("https://keys.example.com:99999/", "not a URL"),
        (5, "https://"),
    ],
)
def test_url_rules(url: object, needle: str) -> None:
    problem = check_url(url)
    assert problem is not None and needle in problem
    assert_problem(remote_config(jwks_url=url), "encryption.jwks_url", needle)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:8443/.well-known/jwks.json?tenant=a",
        "https://keys.example.com/jwks",
        "http://127.0.0.1:8080/jwks",  # plain HTTP only to the loopback address
        "http://127.9.9.9/jwks",
        "http://localhost/jwks",
        "http://[::1]:81/jwks",
    ],
)
def test_good_urls(url: str) -> None:
    assert check_url(url) is None


def test_how_a_url_is_shown() -> None:
    assert shown("https://h/p?access_token=TOP-SECRET") == "https://h/p"


@pytest.mark.parametrize(
    ("fields", "field", "needle"),
    [
        ({"jwks_refresh_seconds": 1}, "encryption.jwks_refresh_seconds", "from 5 to 86400"),
        ({"public_key": "x"}, "encryption.jwks_url", "one key source"),
    ],
)
def test_config_rules(fields: dict[str, Any], field: str, needle: str) -> None:
    assert_problem(remote_config(**fields), field, needle)


def test_refresh_seconds_only_with_a_url(rsa2048: KeyForms) -> None:
    encryption = {
        "type": "asymmetric",
        "key_type": "RSA",
        "alg": "RSA-OAEP",
        "public_key": rsa2048.public_pem,
        "jwks_refresh_seconds": 60,
    }
    assert_problem(base_config(encryption=encryption), "encryption.jwks_refresh_seconds", "only used with")


def test_nothing_cached_is_a_retryable_key_unavailable(rsa2048: KeyForms) -> None:
    keysets = KeySets(Clock())
    compiled = compile_config(remote_config(), keysets=keysets)
    assert keysets.urls() == [URL] and keysets.due() == [URL]  # compiling asks for the URL at once
    with pytest.raises(NodeError) as info:
        generate(compiled, store=STORE, iat=IAT, execution_id="e")
    assert info.value.code is ErrorCode.KEY_UNAVAILABLE and info.value.retryable
    assert "has not been fetched yet" in info.value.message and "encryption.jwks_url" in info.value.message
    keysets.failed(URL, "Connection refused")
    with pytest.raises(NodeError, match="cannot be fetched \\(Connection refused\\) and none is cached"):
        generate(compiled, store=STORE, iat=IAT, execution_id="e")


def test_without_a_key_set_cache_the_config_validates_but_cannot_encrypt() -> None:
    compiled = compile_config(remote_config())
    assert compiled.kid is None and compiled.alg == "RSA-OAEP-256"
    with pytest.raises(NodeError) as info:
        generate(compiled, store=STORE, iat=IAT, execution_id="e")
    assert info.value.code is ErrorCode.KEY_UNAVAILABLE


def test_encrypts_to_the_cached_key_and_keeps_it_when_a_refresh_fails(
    rsa2048: KeyForms, rsa2048_other: KeyForms
) -> None:
    clock = Clock()
    keysets = KeySets(clock)
    compiled = compile_config(remote_config(jwks_refresh_seconds=60), keysets=keysets)
    keysets.fetched(URL, body({**rsa2048.public_jwk, "kid": "a", "use": "enc"}))
    assert keysets.due() == []
    out = generate(compiled, store=STORE, iat=IAT, execution_id="e")
    header, plaintext = decrypt(out.token, rsa2048.private, "RSA-OAEP-256")
    assert header["kid"] == "a" and out.token_info["kid"] == "a"
    assert json.loads(plaintext)["sub"] == "u-42"

    clock.now += 60
    assert keysets.due() == [URL]
    keysets.failed(URL, "HTTP 503")
    assert decrypt(generate(compiled, store=STORE, iat=IAT, execution_id="e").token, rsa2048.private, "RSA-OAEP-256")
    clock.now += RETRY_SECONDS
    assert keysets.due() == [URL]  # a failed fetch is retried soon

    # the set rotates: the next refresh brings another first key
    keysets.fetched(URL, body({**rsa2048_other.public_jwk, "kid": "b"}))
    header, _ = decrypt(
        generate(compiled, store=STORE, iat=IAT, execution_id="e").token, rsa2048_other.private, "RSA-OAEP-256"
    )
    assert header["kid"] == "b"


def test_a_missing_kid_asks_for_an_early_refresh(rsa2048: KeyForms) -> None:
    clock = Clock()
    keysets = KeySets(clock)
    compiled = compile_config(remote_config(kid="next"), keysets=keysets)
    keysets.fetched(URL, body({**rsa2048.public_jwk, "kid": "current"}))
    keysets.changed.clear()
    with pytest.raises(NodeError, match="has no key with kid 'next'") as info:
        generate(compiled, store=STORE, iat=IAT, execution_id="e")
    assert info.value.retryable
    assert keysets.changed.is_set()
    clock.now += RETRY_SECONDS
    assert keysets.due() == [URL]
    keysets.fetched(URL, body({**rsa2048.public_jwk, "kid": "next"}))
    header, _ = decrypt(
        generate(compiled, store=STORE, iat=IAT, execution_id="e").token, rsa2048.private, "RSA-OAEP-256"
    )
    assert header["kid"] == "next"


def test_a_body_that_is_no_jwks_is_a_failed_fetch(rsa2048: KeyForms) -> None:
    keysets = KeySets(Clock())
    keysets.track("c", URL)
    keysets.fetched(URL, b"<html>")
    assert keysets.error_of(URL) is not None and "not a JWKS" in str(keysets.error_of(URL))
    with pytest.raises(NodeError, match="not a JWKS"):
        keysets.resolve(URL, Wanted("RSA", "RSA-OAEP"))


def test_declared_key_size_applies_to_the_fetched_key(rsa2048: KeyForms) -> None:
    keysets = KeySets(Clock())
    compiled = compile_config(remote_config(key_size=3072), keysets=keysets)
    keysets.fetched(URL, body(rsa2048.public_jwk))
    with pytest.raises(NodeError, match="2048 bits, the config declares key_size 3072"):
        generate(compiled, store=STORE, iat=IAT, execution_id="e")


def test_the_config_table_asks_for_the_url_when_the_config_arrives() -> None:
    table = ConfigTable()
    raw = remote_config(jwks_refresh_seconds=30)
    table.apply(b"remote", json.dumps(raw).encode())
    assert table.keysets.urls() == [URL] and table.compilations == 0
    table.apply(b"remote", None)  # the tombstone: nobody reads the URL any more
    assert table.keysets.urls() == []
    table.apply(b"other", json.dumps({**raw, "id": "other", "encryption": {"jwks_url": "http://x/"}}).encode())
    assert table.keysets.urls() == []  # only https:// URLs are ever fetched
