"""RSA private keys checked once per key and shared by every config (version) holding it, never pinned.

worker.core.keys.SharedKeys / SHARED_RSA_KEYS and ConfigTable.compile_ahead.
"""

from __future__ import annotations

import gc
import logging
import threading
import weakref
from math import gcd
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.configs import asymmetric_signature, base_config
from tests.support.keys import KeyForms
from worker.core import keys, tokens
from worker.core.configtable import ConfigTable
from worker.core.errors import NodeError


@pytest.fixture(scope="module")
def key_a() -> KeyForms:
    return KeyForms(rsa.generate_private_key(65537, 2048))


@pytest.fixture(scope="module")
def key_b() -> KeyForms:
    return KeyForms(rsa.generate_private_key(65537, 2048))


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Every PEM read by keys.load_private: True for a read that runs cryptography's RSA check."""
    gc.collect()  # keys of earlier tests are gone: every key is checked once here
    seen: list[bool] = []
    read = keys._load_pem_private

    def counting(*args: Any, check: bool) -> Any:
        seen.append(check)
        return read(*args, check=check)

    monkeypatch.setattr(keys, "_load_pem_private", counting)
    return seen


def rsa_config(config_id: str, private_key: Any, version: int = 1) -> bytes:
    signature = asymmetric_signature(private_key, "RS256", "RSA", kid="k")
    return orjson.dumps(base_config(id=config_id, version=version, signature=signature))


def test_shared_keys_load_once_and_forget_what_nothing_holds() -> None:
    shared = keys.SharedKeys()
    loads: list[int] = []

    def load() -> Any:
        loads.append(1)
        return keys.oct_from_password("x" * 32)

    first = shared.get(b"fp", load)
    assert shared.get(b"fp", load) is first and len(loads) == 1
    held = weakref.ref(first)
    del first
    gc.collect()
    assert held() is None and len(shared) == 0
    shared.get(b"fp", load)
    assert len(loads) == 2


def test_a_failed_load_is_not_remembered() -> None:
    shared = keys.SharedKeys()

    def broken() -> Any:
        raise keys.KeyProblem("cannot be read")

    with pytest.raises(keys.KeyProblem):
        shared.get(b"fp", broken)
    assert len(shared) == 0


def test_one_rsa_key_in_two_pem_encodings_is_checked_once(key_a: KeyForms, checks: list[bool]) -> None:
    pkcs8 = keys.load_private(key_a.pkcs8)
    pkcs1 = keys.load_private(key_a.traditional)
    assert pkcs1 is pkcs8
    assert checks.count(True) == 1


def test_an_encrypted_pem_of_a_known_key_is_not_checked_again(key_a: KeyForms, checks: list[bool]) -> None:
    plain = keys.load_private(key_a.pkcs8)
    encrypted = key_a.native.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pass-phrase"),
    ).decode()
    checks.clear()
    assert keys.load_private(encrypted, "pass-phrase") is plain
    assert checks == [False]
    with pytest.raises(keys.PasswordProblem):
        keys.load_private(encrypted, "wrong")


def test_identical_jwks_share_a_key_but_other_members_do_not(key_a: KeyForms) -> None:
    jwk = dict(key_a.jwk)
    assert keys.load_private(dict(jwk)) is keys.load_private(orjson.dumps(jwk).decode())
    # `use` is checked per config (a key meant for encryption does not sign): not the same key object.
    assert keys.load_private({**jwk, "use": "enc"}) is not keys.load_private(dict(jwk))


def test_a_broken_rsa_key_is_refused_even_when_a_sound_one_shares_its_public_half(key_a: KeyForms) -> None:
    sound = key_a.native.private_numbers()
    keys.load_private(key_a.pkcs8)  # the sound key is cached
    tampered = rsa.RSAPrivateNumbers(
        p=sound.p,
        q=sound.q,
        d=sound.d,
        dmp1=sound.dmp1 ^ 2,  # a CRT exponent that does not fit: signatures would leak the key
        dmq1=sound.dmq1,
        iqmp=sound.iqmp,
        public_numbers=sound.public_numbers,
    ).private_key(unsafe_skip_rsa_key_validation=True)
    pem = tampered.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(keys.KeyProblem, match=r"numbers .* do not fit together"):
        keys.load_private(pem)


def test_an_rsa_key_with_a_factor_that_is_not_prime_is_refused(key_a: KeyForms) -> None:
    # Every number fits (n = p.q, the CRT values) but p is composite: only the pairwise signature shows it.
    sound = key_a.native.private_numbers()
    e = sound.public_numbers.e
    p = sound.p * 3 * 5 * 7 * 11
    q = sound.q
    while gcd(e, p - 1) != 1:  # e must have an inverse: keep p composite and try another
        p *= 13
    lam = (p - 1) * (q - 1) // gcd(p - 1, q - 1)
    d = pow(e, -1, lam)
    broken = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=d % (p - 1),
        dmq1=d % (q - 1),
        iqmp=pow(q, -1, p),
        public_numbers=rsa.RSAPublicNumbers(e, p * q),
    ).private_key(unsafe_skip_rsa_key_validation=True)
    pem = broken.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(keys.KeyProblem, match="signature it makes does not verify"):
        keys.load_private(pem)


def test_openssls_costly_rsa_check_never_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    # OpenSSL's check (primality tests, ~36 ms per key) is what stalled thousands of configs after a start.
    skipped: list[bool] = []
    load = keys.load_pem_private_key

    def recording(pem: bytes, password: bytes | None, *, unsafe_skip_rsa_key_validation: bool) -> Any:
        skipped.append(unsafe_skip_rsa_key_validation)
        return load(pem, password, unsafe_skip_rsa_key_validation=unsafe_skip_rsa_key_validation)

    monkeypatch.setattr(keys, "load_pem_private_key", recording)
    keys.load_private(KeyForms(rsa.generate_private_key(65537, 2048)).pkcs8)
    assert skipped and all(skipped)


def test_configs_holding_one_key_share_it_and_a_replaced_version_does_not_pin_it(
    key_a: KeyForms, key_b: KeyForms, checks: list[bool]
) -> None:
    table = ConfigTable()
    table.apply(b"one", rsa_config("one", key_a.pkcs8))
    table.apply(b"two", rsa_config("two", key_a.traditional))
    one, two = table.resolve("one", None), table.resolve("two", None)
    assert one.signer is not None and two.signer is not None and one.signer.key is two.signer.key
    assert checks.count(True) == 1
    held = weakref.ref(one.signer.key)
    del one, two
    table.apply(b"one", rsa_config("one", key_b.pkcs8, version=2))
    table.apply(b"two", None)  # deleted
    assert table.resolve("one", None).version == 2
    gc.collect()
    assert held() is None


def test_compile_ahead_is_only_for_rsa_keys_and_compiles_once(key_a: KeyForms) -> None:
    table = ConfigTable()
    table.apply(b"rsa", rsa_config("rsa", key_a.pkcs8))
    table.apply(b"hs", orjson.dumps(base_config(id="hs", version=1)))
    assert table.worth_compiling_ahead("rsa") and not table.worth_compiling_ahead("hs")
    assert not table.worth_compiling_ahead("unknown")
    table.compile_ahead("rsa")
    assert not table.worth_compiling_ahead("rsa") and table.compilations == 1
    table.resolve("rsa", None)
    assert table.compilations == 1


def test_compiling_ahead_and_a_request_at_once_compile_once(key_b: KeyForms) -> None:
    table = ConfigTable()
    table.apply(b"rsa", rsa_config("rsa", key_b.traditional))
    ahead = threading.Thread(target=table.compile_ahead, args=("rsa",))
    ahead.start()
    compiled = table.resolve("rsa", None)
    ahead.join()
    assert table.resolve("rsa", None) is compiled and table.compilations == 1


def test_an_invalid_rsa_config_compiled_ahead_fails_its_requests_and_is_logged_by_the_first(
    caplog: pytest.LogCaptureFixture,
) -> None:
    table = ConfigTable()
    short = KeyForms(rsa.generate_private_key(65537, 1024))  # found when compiling: the key is too short
    table.apply(b"bad", rsa_config("bad", short.pkcs8))
    assert table.problems_of("bad") == []
    with caplog.at_level(logging.WARNING, logger="worker.core.configtable"):
        table.compile_ahead("bad")
        assert not caplog.records  # a worker that never serves it says nothing of it
        for _ in range(2):
            with pytest.raises(NodeError, match="2048"):
                table.resolve("bad", None)
    [logged] = caplog.records  # once, by the first request
    assert "config 'bad' version 1 is invalid" in logged.getMessage() and "2048" in logged.getMessage()
    assert table.compilations == 1


def test_signers_of_one_algorithm_share_their_registry() -> None:
    key = keys.oct_from_password("s" * 32)
    first = tokens.Signer.build("HS256", "a", key, {"x-tenant": "t1"})
    second = tokens.Signer.build("HS256", "b", key, {"x-tenant": "t2"})
    other = tokens.Signer.build("HS384", "c", key, None)
    assert first.registry is second.registry and first.registry is not other.registry
    assert first.sign(b"{}").count(".") == 2 and other.sign(b"{}").count(".") == 2
