"""Key rotation in the config: `signature.next_key` / `signature.retired_keys` validation, and `keyrotation.rotate`."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from joserfc.jwk import RSAKey
from jsonschema import Draft202012Validator

from tests.support.configs import STORE, asymmetric_signature, base_config
from tests.support.jose_check import assert_public_key_set, verify_by_kid
from tests.support.kafkaio import load_schemas
from tests.support.keys import KeyForms
from worker.core import engine, jwks
from worker.core.config import ConfigInvalid, parse_config
from worker.core.configtable import ConfigTable
from worker.core.keyrotation import RotationError, rotate
from worker.core.sealed import seal

T0 = 1_800_000_000


def config(signature: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return base_config(id="login", version=1, ttl=600, signature=signature, **overrides)


def rsa_signature(rsa2048: KeyForms, **extra: Any) -> dict[str, Any]:
    return asymmetric_signature(rsa2048.pkcs8, "RS256", "RSA", "r1") | extra


def problems(raw: dict[str, Any]) -> list[str]:
    try:
        parse_config(raw)
    except ConfigInvalid as exc:
        return exc.problems
    return []


def key_set(raw: dict[str, Any], now: float = T0) -> dict[str, Any]:
    table = ConfigTable()
    table.apply(raw["id"].encode(), orjson.dumps(raw), T0)
    found = jwks.KeySets(table).of(raw["id"], now)
    assert found is not None
    parsed: dict[str, Any] = json.loads(found.body)
    return parsed


def token(raw: dict[str, Any]) -> str:
    return engine.generate(engine.compile_config(raw), store=STORE, iat=T0, execution_id="e-1").token


class TestNextKey:
    def test_private_key_public_key_or_both(self, rsa2048: KeyForms, rsa2048_other: KeyForms) -> None:
        for next_key in (
            {"kid": "r2", "private_key": rsa2048_other.jwk},
            {"kid": "r2", "public_key": rsa2048_other.public_pem},
            {"kid": "r2", "private_key": rsa2048_other.pkcs8, "public_key": rsa2048_other.public_jwk},
        ):
            parsed = parse_config(config(rsa_signature(rsa2048, next_key=next_key)))
            assert parsed.signature is not None and parsed.signature.next_key is not None
            assert parsed.signature.next_key.kid == "r2" and parsed.signature.next_key.alg == "RS256"
            assert not parsed.signature.next_key.public_key.is_private

    def test_kid_defaults_to_the_thumbprint_and_alg_to_the_signature(
        self, rsa2048: KeyForms, rsa2048_other: KeyForms
    ) -> None:
        parsed = parse_config(config(rsa_signature(rsa2048, next_key={"public_key": rsa2048_other.public_pem})))
        assert parsed.signature is not None and parsed.signature.next_key is not None
        assert parsed.signature.next_key.kid == rsa2048_other.thumbprint()

    def test_rules(
        self, rsa2048: KeyForms, rsa2048_other: KeyForms, rsa1024: KeyForms, ec_keys: dict[str, KeyForms]
    ) -> None:
        path = "signature.next_key"
        cases = {
            "no key": ({"kid": "r2"}, f"{path}: give 'private_key'"),
            "pair": (
                {"private_key": rsa2048_other.pkcs8, "public_key": rsa2048.public_pem},
                f"{path}.public_key: is not the public half",
            ),
            "current key": (
                {"kid": "r2", "public_key": rsa2048.public_pem},
                f"{path}.public_key: is the current signing key",
            ),
            "kid taken": (
                {"kid": "r1", "public_key": rsa2048_other.public_pem},
                f"{path}.kid: 'r1' is already the kid of signature.kid",
            ),
            "weak": ({"public_key": rsa1024.public_pem}, f"{path}.public_key: RSA key is 1024 bits"),
            "symmetric alg": (
                {"alg": "HS256", "public_key": rsa2048_other.public_pem},
                f"{path}.alg: must be an asymmetric signing algorithm",
            ),
            "alg and key": (
                {"alg": "ES256", "public_key": rsa2048_other.public_pem},
                f"{path}.public_key: is an RSA key, ES256 needs EC",
            ),
            "curve": (
                {"alg": "ES384", "public_key": ec_keys["P-256"].public_pem},
                f"{path}.public_key: ES384 needs a P-384 key",
            ),
            "private as public": ({"public_key": rsa2048_other.pkcs8}, f"{path}.public_key: is a private key"),
            "private jwk as public": ({"public_key": rsa2048_other.jwk}, f"{path}.public_key: JWK has private members"),
            "announced_at": (
                {"public_key": rsa2048_other.public_pem, "announced_at": "soon"},
                f"{path}.announced_at: must be epoch seconds",
            ),
            "unknown field": ({"public_key": rsa2048_other.public_pem, "secret": 1}, f"{path}.secret: unknown field"),
            "not an object": ("r2", f"{path}: must be a JSON object"),
        }
        for name, (next_key, expected) in cases.items():
            found = problems(config(rsa_signature(rsa2048, next_key=next_key)))
            assert any(p.startswith(expected) for p in found), (name, found)
            assert not any(line in str(found) for line in rsa2048_other.pkcs8.splitlines()[1:-1]), "no key material"

    def test_sealed_private_key(self, rsa2048: KeyForms, rsa2048_other: KeyForms, ec_keys: dict[str, KeyForms]) -> None:
        kek = ec_keys["P-256"].joserfc
        sealed = seal(rsa2048_other.pkcs8, kek)
        parsed = parse_config(config(rsa_signature(rsa2048, next_key={"private_key": sealed})), kek)
        assert parsed.signature is not None and parsed.signature.next_key is not None
        assert parsed.signature.next_key.private_key is not None
        assert any(
            "sealed secret cannot be opened" in p
            for p in problems(config(rsa_signature(rsa2048, next_key={"private_key": sealed})))
        )

    def test_only_on_asymmetric_signatures(self, rsa2048_other: KeyForms) -> None:
        hmac = base_config(
            signature={
                "type": "symmetric",
                "alg": "HS256",
                "password": "0" * 32,
                "next_key": {"public_key": rsa2048_other.public_pem},
            }
        )
        assert "signature.next_key: not used by symmetric signatures" in problems(hmac)


class TestRetiredKeys:
    def test_valid(self, rsa2048: KeyForms, rsa2048_other: KeyForms, ec_keys: dict[str, KeyForms]) -> None:
        retired = [
            {"kid": "r0", "public_key": rsa2048_other.public_jwk, "retired_at": T0},
            {"kid": "e0", "alg": "ES256", "public_key": ec_keys["P-256"].public_pem, "retired_at": T0 - 10},
        ]
        parsed = parse_config(config(rsa_signature(rsa2048, retired_keys=retired)))
        assert parsed.signature is not None
        assert [(k.kid, k.alg, k.retired_at) for k in parsed.signature.retired_keys] == [
            ("r0", "RS256", T0),
            ("e0", "ES256", T0 - 10),
        ]

    def test_rules(self, rsa2048: KeyForms, rsa2048_other: KeyForms, ec_keys: dict[str, KeyForms]) -> None:
        good = {"kid": "r0", "public_key": rsa2048_other.public_pem, "retired_at": T0}
        path = "signature.retired_keys"
        cases = {
            "not an array": (good, f"{path}: must be an array"),
            "retired_at": ([good | {"retired_at": None}], f"{path}[0].retired_at: required"),
            "negative": ([good | {"retired_at": -1}], f"{path}[0].retired_at: must be epoch seconds"),
            "public key": ([{"kid": "r0", "retired_at": T0}], f"{path}[0].public_key: required"),
            "private key": ([good | {"public_key": rsa2048_other.pkcs8}], f"{path}[0].public_key: is a private key"),
            "duplicate kid": (
                [good, good | {"public_key": ec_keys["P-256"].public_pem, "alg": "ES256"}],
                f"{path}[1].kid: 'r0' is already the kid of {path}[0].kid",
            ),
            "unknown field": ([good | {"private_key": rsa2048_other.pkcs8}], f"{path}[0].private_key: unknown field"),
        }
        for name, (retired, expected) in cases.items():
            found = problems(config(rsa_signature(rsa2048, retired_keys=retired)))
            assert any(p.startswith(expected) for p in found), (name, found)


class TestRotate:
    def test_announce_then_switch(self, rsa2048: KeyForms) -> None:
        v1 = config(rsa_signature(rsa2048, key_size=2048))
        old_token = token(v1)
        announced = rotate(v1, now=T0)
        v2 = announced.config
        assert (
            announced.step == "announce"
            and v2["version"] == 2
            and announced.switch_after == T0 + jwks.PREPUBLISH_SECONDS
        )
        assert v2["signature"]["private_key"] == v1["signature"]["private_key"], "still signs with the current key"
        assert v2["signature"]["next_key"]["announced_at"] == T0
        published = assert_public_key_set(key_set(v2))
        assert [k["kid"] for k in published] == ["r1", announced.kid]
        assert verify_by_kid(token(v2), key_set(v2))[0] == "r1"

        with pytest.raises(RotationError, match="verifiers may not have it until"):
            rotate(v2, now=T0 + 60)
        switched = rotate(v2, now=T0 + jwks.PREPUBLISH_SECONDS)
        v3 = switched.config
        assert switched.step == "switch" and switched.kid == announced.kid and v3["version"] == 3
        assert "next_key" not in v3["signature"] and v3["signature"]["kid"] == announced.kid
        assert v3["signature"]["key_size"] == 2048
        [retired] = v3["signature"]["retired_keys"]
        assert retired["kid"] == "r1" and retired["retired_at"] == T0 + jwks.PREPUBLISH_SECONDS
        assert not set(retired["public_key"]) & {"d", "p", "q", "dp", "dq", "qi"}
        # Tokens of both keys verify against the new version's set: the old ones until they expire.
        keys = key_set(v3, now=T0 + jwks.PREPUBLISH_SECONDS)
        assert verify_by_kid(token(v3), keys)[0] == announced.kid
        assert verify_by_kid(old_token, keys)[0] == "r1"
        expiry = retired["retired_at"] + v3["ttl"] + jwks.RETIRE_SKEW_SECONDS
        assert [k["kid"] for k in key_set(v3, now=expiry)["keys"]] == [announced.kid]

        # The next rotation drops the retired key once its tokens have expired.
        again = rotate(v3, now=expiry)
        assert again.pruned == ("r1",) and "retired_keys" not in again.config["signature"]

    def test_same_key_shape(self, ec_keys: dict[str, KeyForms], ed25519_key: KeyForms) -> None:
        for forms, alg, kty in ((ec_keys["P-521"], "ES512", "EC"), (ed25519_key, "EdDSA", "OKP")):
            v1 = config(asymmetric_signature(forms.pkcs8, alg, kty))
            v2 = rotate(v1, now=T0, kid="next").config
            assert v2["signature"]["next_key"]["kid"] == "next"
            assert parse_config(v2).signature is not None
            v3 = rotate(v2, now=T0, force=True).config
            assert v3["signature"]["alg"] == alg and v3["signature"]["kid"] == "next"

    def test_symmetric_signatures_do_not_rotate(self) -> None:
        with pytest.raises(RotationError, match="only asymmetric signing keys"):
            rotate(base_config(), now=T0)

    def test_invalid_config_is_refused(self, rsa2048: KeyForms) -> None:
        with pytest.raises(RotationError, match=r"the config is invalid: signature\.alg"):
            rotate(config(rsa_signature(rsa2048, alg="ES256")), now=T0)

    def test_sealed_key_stays_sealed(self, rsa2048: KeyForms, ec_keys: dict[str, KeyForms]) -> None:
        kek = ec_keys["P-256"].joserfc
        v1 = config(rsa_signature(rsa2048, private_key=seal(rsa2048.pkcs8, kek)))
        with pytest.raises(RotationError, match="pass --kek"):
            rotate(v1, now=T0, kek=kek)
        v2 = rotate(v1, now=T0, kek=kek, seal_to=kek).config
        assert set(v2["signature"]["next_key"]["private_key"]) == {"sealed"}
        v3 = rotate(v2, now=T0 + jwks.PREPUBLISH_SECONDS, kek=kek).config
        assert set(v3["signature"]["private_key"]) == {"sealed"}
        assert v3["signature"]["retired_keys"][0]["kid"] == "r1"

    def test_next_key_held_elsewhere(self, rsa2048: KeyForms, rsa2048_other: KeyForms) -> None:
        v2 = config(
            rsa_signature(rsa2048, next_key={"kid": "r2", "public_key": rsa2048_other.public_pem, "announced_at": T0})
        )
        later = T0 + jwks.PREPUBLISH_SECONDS
        with pytest.raises(RotationError, match="--next-private-key"):
            rotate(v2, now=later)
        with pytest.raises(RotationError, match="not the private half"):
            rotate(v2, now=later, next_private_key=rsa2048.pkcs8)
        v3 = rotate(v2, now=later, next_private_key=rsa2048_other.pkcs8).config
        assert v3["signature"]["private_key"] == rsa2048_other.pkcs8 and v3["signature"]["kid"] == "r2"

    def test_without_announced_at_only_with_force(self, rsa2048: KeyForms, rsa2048_other: KeyForms) -> None:
        v2 = config(rsa_signature(rsa2048, next_key={"kid": "r2", "private_key": rsa2048_other.pkcs8}))
        with pytest.raises(RotationError, match="no announced_at"):
            rotate(v2, now=T0)
        assert rotate(v2, now=T0, force=True).config["signature"]["kid"] == "r2"

    def test_rotated_configs_match_the_config_schema(self, rsa2048: KeyForms) -> None:
        validator = Draft202012Validator(load_schemas()["config"])
        v1 = config(rsa_signature(rsa2048))
        v2 = rotate(v1, now=T0).config
        v3 = rotate(v2, now=T0, force=True).config
        for raw in (v1, v2, v3):
            validator.validate(raw)
        bad = v3 | {"signature": v3["signature"] | {"retired_keys": [{"kid": "x"}]}}
        assert list(validator.iter_errors(bad)), "retired_at and public_key are required by the schema too"
        assert isinstance(RSAKey.import_key(v2["signature"]["next_key"]["private_key"]), RSAKey)
