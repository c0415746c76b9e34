"""worker/core/jwks.py: which keys a config publishes, the JWK sets and their ETags, checked with jwcrypto."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from tests.support.configs import STORE, asymmetric_signature, base_config
from tests.support.jose_check import assert_public_key_set, verify_by_kid
from tests.support.keys import KeyForms
from worker.core import engine, jwks
from worker.core.configtable import ConfigTable

T0 = 1_800_000_000  # "now" of these tests


def rsa_config(rsa2048: KeyForms, **signature: Any) -> dict[str, Any]:
    return base_config(
        id="rsa", version=1, ttl=600, signature=asymmetric_signature(rsa2048.pkcs8, "RS256", "RSA", "r1") | signature
    )


def table_of(*configs: dict[str, Any], published_at: float | None = T0) -> ConfigTable:
    table = ConfigTable()
    for config in configs:
        table.apply(config["id"].encode(), orjson.dumps(config), published_at)
    return table


def token(config: dict[str, Any]) -> str:
    return engine.generate(engine.compile_config(config), store=STORE, iat=T0, execution_id="e-1").token


class TestPublicJwk:
    def test_only_public_members_with_kid_alg_use(
        self, rsa2048: KeyForms, ec_keys: dict[str, KeyForms], ed25519_key: KeyForms
    ) -> None:
        for forms, alg, members in (
            (rsa2048, "PS256", {"kty", "n", "e"}),
            (ec_keys["P-384"], "ES384", {"kty", "crv", "x", "y"}),
            (ed25519_key, "EdDSA", {"kty", "crv", "x"}),
        ):
            published = jwks.public_jwk(forms.joserfc, "k", alg)  # a private key in, its public half out
            assert set(published) == members | {"kid", "alg", "use"}
            assert published["kid"] == "k" and published["alg"] == alg and published["use"] == "sig"
            assert_public_key_set({"keys": [published]})

    def test_members_of_an_imported_jwk_are_not_carried(self, rsa2048: KeyForms) -> None:
        from joserfc.jwk import RSAKey

        key = RSAKey.import_key(rsa2048.jwk | {"x5c": ["MIIB"], "key_ops": ["sign"]})
        assert set(jwks.public_jwk(key, "k", "RS256")) == {"kty", "n", "e", "kid", "alg", "use"}

    def test_symmetric_key_is_never_published(self) -> None:
        from joserfc.jwk import OctKey

        with pytest.raises(ValueError, match="no public half"):
            jwks.public_jwk(OctKey.import_key(b"0" * 32), "k", "HS256")


class TestConfigKeys:
    def test_symmetric_and_encryption_only_configs_publish_nothing(self) -> None:
        assert jwks.config_keys(engine.compile_config(base_config()).config, "hs-1", T0) == ()

    def test_current_next_and_retired_keys(
        self, rsa2048: KeyForms, rsa2048_other: KeyForms, ec_keys: dict[str, KeyForms]
    ) -> None:
        config = rsa_config(
            rsa2048,
            next_key={"kid": "r2", "private_key": rsa2048_other.pkcs8},
            retired_keys=[
                {"kid": "e0", "alg": "ES256", "public_key": ec_keys["P-256"].public_pem, "retired_at": T0 - 100}
            ],
        )
        keys = jwks.config_keys(engine.compile_config(config).config, "r1", published_at=T0)
        assert [(k.jwk["kid"], k.jwk["alg"], k.until) for k in keys] == [
            ("r1", "RS256", None),
            ("r2", "RS256", None),
            # last use: the record's timestamp, later than retired_at; then ttl and the skew
            ("e0", "ES256", T0 + 600 + jwks.RETIRE_SKEW_SECONDS),
        ]

    def test_retired_key_counts_from_retired_at_when_later_than_the_record(
        self, rsa2048: KeyForms, rsa2048_other: KeyForms
    ) -> None:
        retired = {"kid": "r0", "public_key": rsa2048_other.public_pem, "retired_at": T0 + 50}
        keys = jwks.config_keys(engine.compile_config(rsa_config(rsa2048, retired_keys=[retired])).config, "r1", T0)
        assert keys[1].until == T0 + 50 + 600 + jwks.RETIRE_SKEW_SECONDS


class TestDocument:
    def test_expired_keys_drop_out_and_changes_at_says_when(self, rsa2048: KeyForms, rsa2048_other: KeyForms) -> None:
        current = jwks.PublishedJwk(jwks.public_jwk(rsa2048.joserfc, "r1", "RS256"))
        retired = jwks.PublishedJwk(jwks.public_jwk(rsa2048_other.joserfc, "r0", "RS256"), until=T0 + 10)
        before = jwks.document([current, retired], T0)
        after = jwks.document([current, retired], T0 + 10)
        assert [k["kid"] for k in json.loads(before.body)["keys"]] == ["r1", "r0"] and before.changes_at == T0 + 10
        assert [k["kid"] for k in json.loads(after.body)["keys"]] == ["r1"] and after.changes_at is None
        assert before.etag != after.etag

    def test_same_keys_same_bytes_and_etag_and_duplicates_once(self, rsa2048: KeyForms) -> None:
        key = jwks.PublishedJwk(jwks.public_jwk(rsa2048.joserfc, "r1", "RS256"))
        one, two = jwks.document([key], T0), jwks.document([key, key], T0 + 999)
        assert one.body == two.body and one.etag == two.etag and two.keys == 1
        assert one.etag.startswith('"') and one.etag.endswith('"')

    @pytest.mark.parametrize(
        ("header", "matches"),
        [
            (None, False),
            ("", False),
            ('"abc"', True),
            ('W/"abc"', True),
            ('"x", "abc"', True),
            ("*", True),
            ('"abcd"', False),
        ],
    )
    def test_if_none_match(self, header: str | None, matches: bool) -> None:
        assert jwks.not_modified(header, '"abc"') is matches


class TestKeySets:
    def test_every_asymmetric_config_and_tokens_verify_by_kid(
        self, rsa2048: KeyForms, ec_keys: dict[str, KeyForms], ed25519_key: KeyForms
    ) -> None:
        configs = [
            rsa_config(rsa2048),
            base_config(id="ec", version=1, signature=asymmetric_signature(ec_keys["P-256"].jwk, "ES256", "EC")),
            base_config(
                id="ed", version=1, signature=asymmetric_signature(ed25519_key.pkcs8, "Ed25519", "OKP", "ed-1")
            ),
            base_config(id="hmac", version=1),
        ]
        doc = jwks.KeySets(table_of(*configs)).all(T0)
        key_set = json.loads(doc.body)
        published = assert_public_key_set(key_set)
        assert [k["kid"] for k in published] == [ec_keys["P-256"].thumbprint(), "ed-1", "r1"]  # by config id
        for config in configs[:3]:
            kid, claims = verify_by_kid(token(config), key_set)
            assert kid in {k["kid"] for k in published} and claims["email"] == STORE["user"]["email"]

    def test_one_config(self, rsa2048: KeyForms) -> None:
        key_sets = jwks.KeySets(table_of(rsa_config(rsa2048), base_config(id="hmac", version=1)))
        found = key_sets.of("rsa", T0)
        assert found is not None and [k["kid"] for k in json.loads(found.body)["keys"]] == ["r1"]
        assert key_sets.of("hmac", T0) is None  # nothing to publish
        assert key_sets.of("unknown", T0) is None

    def test_invalid_config_publishes_nothing(self, rsa2048: KeyForms) -> None:
        bad = rsa_config(rsa2048, alg="ES256")
        key_sets = jwks.KeySets(table_of(bad))
        assert key_sets.of("rsa", T0) is None and json.loads(key_sets.all(T0).body) == {"keys": []}

    def test_recomputed_when_the_table_or_the_clock_changes_it(
        self, rsa2048: KeyForms, rsa2048_other: KeyForms
    ) -> None:
        retired = {"kid": "r0", "public_key": rsa2048_other.public_pem, "retired_at": T0}
        table = table_of(rsa_config(rsa2048, retired_keys=[retired]), published_at=T0)
        key_sets = jwks.KeySets(table)
        first = key_sets.all(T0)
        assert key_sets.all(T0 + 1) is first  # cached
        assert first.keys == 2
        expiry = T0 + 600 + jwks.RETIRE_SKEW_SECONDS
        assert key_sets.all(expiry).keys == 1  # the retired key's tokens have all expired
        table.apply(b"rsa", None)  # tombstone
        assert key_sets.all(expiry).keys == 0 and key_sets.of("rsa", expiry) is None

    def test_two_tables_from_the_same_records_serve_the_same_bytes(
        self, rsa2048: KeyForms, rsa2048_other: KeyForms
    ) -> None:
        configs = [rsa_config(rsa2048, next_key={"kid": "r2", "private_key": rsa2048_other.pkcs8})]
        one, two = jwks.KeySets(table_of(*configs)).all(T0), jwks.KeySets(table_of(*configs)).all(T0 + 5)
        assert one.body == two.body and one.etag == two.etag
