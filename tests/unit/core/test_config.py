"""Config validation: one test per rule; every problem names its field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.configs import HS256_SECRET, base_config
from tests.support.keys import KeyForms
from tests.support.problems import problems
from worker.core.config import DEFAULT_TTL, ConfigInvalid, NodeConfig, parse_config


def assert_problem(raw: object, field: str, *needles: str) -> None:
    found = problems(raw)
    matching = [p for p in found if p.startswith(field + ":")]
    assert matching, f"no problem for {field!r} in {found}"
    for needle in needles:
        assert any(needle in p for p in matching), f"{needle!r} not in {matching}"


def with_claims(**claims: Any) -> dict[str, Any]:
    config = base_config()
    config["claims"].update(claims)
    return config


def with_signature(**signature: Any) -> dict[str, Any]:
    return base_config(signature=signature)


def rsa_sig(key: str, alg: str = "RS256", **extra: Any) -> dict[str, Any]:
    return {"type": "asymmetric", "key_type": "RSA", "alg": alg, "private_key": key, **extra}


def ec_sig(key: Any, alg: str = "ES256", **extra: Any) -> dict[str, Any]:
    return {"type": "asymmetric", "key_type": "EC", "alg": alg, "private_key": key, **extra}


def sym_enc(alg: str = "A256KW", **extra: Any) -> dict[str, Any]:
    return {"type": "symmetric", "alg": alg, **extra}


class TestValid:
    def test_contract_example_parses(self) -> None:
        config = parse_config(base_config())
        assert isinstance(config, NodeConfig)
        assert config.id == "login-token" and config.version == 3 and config.ttl == 3600
        assert [c.key for c in config.claims.custom] == ["email", "roles", "level"]

    def test_json_text_accepted(self) -> None:
        assert parse_config(json.dumps(base_config())).id == "login-token"

    def test_defaults(self) -> None:
        raw = base_config()
        del raw["ttl"]
        del raw["store"]
        config = parse_config(raw)
        assert config.ttl == DEFAULT_TTL == 3600
        c = config.claims
        assert (c.iat, c.iss, c.sub, c.exp, c.nbf, c.jti) == (True, True, True, True, False, False)
        assert config.store is None

    def test_store_frontend_default_false(self) -> None:
        config = parse_config(base_config(store={"variable": "jwt", "attributes": ["token"]}))
        assert config.store is not None and config.store.frontend is False

    def test_encryption_only_allows_null_signature(self) -> None:
        config = parse_config(base_config(signature=None, encryption=sym_enc(password="k" * 32)))
        assert config.signature is None and config.encryption is not None
        assert config.encryption.enc == "A256GCM"

    def test_repr_hides_secrets(self, rsa2048: KeyForms) -> None:
        config = parse_config(base_config(signature=rsa_sig(rsa2048.pkcs8)))
        text = repr(config)
        assert "BEGIN" not in text and "private_key" not in text
        assert HS256_SECRET not in repr(parse_config(base_config()))


class TestTopLevel:
    def test_not_an_object(self) -> None:
        assert_problem([1, 2], "config", "JSON object")

    def test_not_json(self) -> None:
        assert_problem("{nope", "config", "not valid JSON")

    @pytest.mark.parametrize("value", ["", None, 5])
    def test_id_non_empty_string(self, value: Any) -> None:
        assert_problem(base_config(id=value), "id")

    @pytest.mark.parametrize("value", [0, -1, "3", 1.0, True, None])
    def test_version_int_at_least_one(self, value: Any) -> None:
        assert_problem(base_config(version=value), "version")

    @pytest.mark.parametrize("value", [0, -5, "60", 1.5, False])
    def test_ttl_int_at_least_one(self, value: Any) -> None:
        assert_problem(base_config(ttl=value), "ttl")

    def test_unknown_top_level_field(self) -> None:
        assert_problem(base_config(colour="red"), "colour", "unknown field")

    def test_all_problems_collected(self) -> None:
        found = problems(base_config(id="", version=0, ttl=0, extra=1))
        assert {p.split(":")[0] for p in found} >= {"id", "version", "ttl", "extra"}


class TestClaims:
    def test_unknown_claims_field(self) -> None:
        assert_problem(with_claims(audience="x"), "claims.audience", "unknown field")

    @pytest.mark.parametrize("flag", ["iat", "iss", "sub", "exp", "nbf", "jti"])
    def test_flags_are_booleans(self, flag: str) -> None:
        assert_problem(with_claims(**{flag: "yes"}), f"claims.{flag}", "boolean")

    def test_issuer_required_when_iss_on(self) -> None:
        raw = base_config()
        del raw["claims"]["issuer"]
        assert_problem(raw, "claims.issuer", "required")

    def test_issuer_not_required_when_iss_off(self) -> None:
        raw = with_claims(iss=False)
        del raw["claims"]["issuer"]
        assert problems(raw) == []

    def test_subject_required_when_sub_on(self) -> None:
        raw = base_config()
        del raw["claims"]["subject"]
        assert_problem(raw, "claims.subject", "required")

    def test_subject_not_required_when_sub_off(self) -> None:
        raw = with_claims(sub=False)
        del raw["claims"]["subject"]
        assert problems(raw) == []

    def test_issuer_must_be_string(self) -> None:
        assert_problem(with_claims(issuer=5), "claims.issuer", "string")

    def test_bad_template_in_subject(self) -> None:
        assert_problem(with_claims(subject="{{ }}"), "claims.subject", "empty template")

    def test_custom_must_be_array(self) -> None:
        assert_problem(with_claims(custom={"a": 1}), "claims.custom", "array")

    def test_unknown_custom_item_field(self) -> None:
        assert_problem(with_claims(custom=[{"key": "a", "value": 1, "type": "Number", "x": 1}]), "claims.custom[0].x")

    def test_custom_key_non_empty(self) -> None:
        assert_problem(with_claims(custom=[{"key": "", "value": "v", "type": "String"}]), "claims.custom[0].key")

    def test_custom_key_unique(self) -> None:
        custom = [{"key": "a", "value": "1", "type": "String"}, {"key": "a", "value": "2", "type": "String"}]
        assert_problem(with_claims(custom=custom), "claims.custom[1].key", "already used")

    @pytest.mark.parametrize("name", ["iat", "iss", "sub", "exp"])
    def test_custom_key_collides_with_enabled_default(self, name: str) -> None:
        custom = [{"key": name, "value": "1", "type": "String"}]
        assert_problem(with_claims(custom=custom), "claims.custom[0].key", "collides")

    @pytest.mark.parametrize("name", ["nbf", "jti"])
    def test_custom_key_collides_with_enabled_optional_default(self, name: str) -> None:
        custom = [{"key": name, "value": "1", "type": "String"}]
        assert problems(with_claims(custom=custom)) == []
        assert_problem(with_claims(custom=custom, **{name: True}), "claims.custom[0].key", "collides")

    def test_custom_key_may_reuse_disabled_default(self) -> None:
        custom = [{"key": "exp", "value": 5, "type": "Number"}]
        assert problems(with_claims(custom=custom, exp=False)) == []

    @pytest.mark.parametrize("kind", ["string", "Integer", "", None, 3])
    def test_custom_type(self, kind: Any) -> None:
        assert_problem(with_claims(custom=[{"key": "a", "value": "1", "type": kind}]), "claims.custom[0].type")

    def test_custom_value_required(self) -> None:
        assert_problem(with_claims(custom=[{"key": "a", "type": "String"}]), "claims.custom[0].value", "required")

    def test_static_value_must_convert(self) -> None:
        custom = [{"key": "a", "value": "abc", "type": "Number"}]
        assert_problem(with_claims(custom=custom), "claims.custom[0].value", "Number")

    def test_static_value_converted_once(self) -> None:
        config = parse_config(base_config())
        level = config.claims.custom[2]
        assert level.template.is_static and level.template.static == 2


class TestSymmetricSignature:
    def test_signature_required_without_encryption(self) -> None:
        assert_problem(base_config(signature=None), "signature", "required")

    @pytest.mark.parametrize("alg", ["none", "None", "NONE"])
    def test_alg_none_rejected(self, alg: str) -> None:
        assert_problem(with_signature(type="symmetric", alg=alg, password=HS256_SECRET), "signature.alg", "'none'")

    def test_unknown_signature_field(self) -> None:
        assert_problem(with_signature(type="symmetric", alg="HS256", password=HS256_SECRET, salt="x"), "signature.salt")

    def test_type(self) -> None:
        assert_problem(with_signature(type="magic", alg="HS256", password=HS256_SECRET), "signature.type")

    def test_symmetric_alg(self) -> None:
        assert_problem(with_signature(type="symmetric", alg="RS256", password=HS256_SECRET), "signature.alg")

    @pytest.mark.parametrize(("alg", "need"), [("HS256", 32), ("HS384", 48), ("HS512", 64)])
    def test_hmac_secret_shorter_than_hash(self, alg: str, need: int) -> None:
        short = "s" * (need - 1)
        assert_problem(
            with_signature(type="symmetric", alg=alg, password=short),
            "signature.password",
            f"HMAC secret is {need - 1} bytes, {alg} needs at least {need} (RFC 7518 §3.2)",
        )
        assert problems(with_signature(type="symmetric", alg=alg, password="s" * need)) == []

    def test_password_length_counts_utf8_bytes(self) -> None:
        assert problems(with_signature(type="symmetric", alg="HS256", password="é" * 16)) == []

    def test_jwk_object_and_string(self) -> None:
        jwk = {"kty": "oct", "k": "hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg"}
        assert problems(with_signature(type="symmetric", alg="HS256", jwk=jwk)) == []
        assert problems(with_signature(type="symmetric", alg="HS256", jwk=json.dumps(jwk))) == []

    def test_jwk_short(self) -> None:
        jwk = {"kty": "oct", "k": "AAAA"}
        assert_problem(
            with_signature(type="symmetric", alg="HS256", jwk=jwk), "signature.jwk", "HMAC secret is 3 bytes"
        )

    def test_jwk_must_be_oct(self, rsa2048: KeyForms) -> None:
        assert_problem(with_signature(type="symmetric", alg="HS256", jwk=rsa2048.jwk), "signature.jwk", "oct")

    def test_jwk_not_json(self) -> None:
        assert_problem(with_signature(type="symmetric", alg="HS256", jwk="{not json"), "signature.jwk", "JWK")

    def test_jwk_alg_member_must_match(self) -> None:
        jwk = {"kty": "oct", "k": "hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg", "alg": "HS512"}
        assert_problem(with_signature(type="symmetric", alg="HS256", jwk=jwk), "signature.jwk", "HS512")

    def test_jwk_use_enc_rejected_for_signing(self) -> None:
        jwk = {"kty": "oct", "k": "hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg", "use": "enc"}
        assert_problem(with_signature(type="symmetric", alg="HS256", jwk=jwk), "signature.jwk", "use")

    def test_exactly_one_of_password_and_jwk(self) -> None:
        assert_problem(with_signature(type="symmetric", alg="HS256"), "signature", "exactly one")
        jwk = {"kty": "oct", "k": "hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg"}
        assert_problem(with_signature(type="symmetric", alg="HS256", password=HS256_SECRET, jwk=jwk), "signature")

    def test_asymmetric_fields_rejected_on_symmetric(self, rsa2048: KeyForms) -> None:
        raw = with_signature(type="symmetric", alg="HS256", password=HS256_SECRET, private_key=rsa2048.pkcs8)
        assert_problem(raw, "signature.private_key", "not used")

    def test_kid_must_be_string(self) -> None:
        assert_problem(with_signature(type="symmetric", alg="HS256", password=HS256_SECRET, kid=7), "signature.kid")


class TestAsymmetricSignature:
    @pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"])
    def test_rsa_algs(self, rsa2048: KeyForms, alg: str) -> None:
        assert problems(base_config(signature=rsa_sig(rsa2048.pkcs8, alg))) == []

    @pytest.mark.parametrize("form", ["pkcs8", "traditional", "jwk", "jwk_string"])
    def test_rsa_key_forms(self, rsa2048: KeyForms, form: str) -> None:
        key = json.dumps(rsa2048.jwk) if form == "jwk_string" else getattr(rsa2048, form)
        assert "BEGIN RSA PRIVATE KEY" in (rsa2048.traditional or "")
        assert problems(base_config(signature=rsa_sig(key))) == []

    @pytest.mark.parametrize(("alg", "curve"), [("ES256", "P-256"), ("ES384", "P-384"), ("ES512", "P-521")])
    def test_ec_algs_and_forms(self, ec_keys: dict[str, KeyForms], alg: str, curve: str) -> None:
        forms = ec_keys[curve]
        assert "BEGIN EC PRIVATE KEY" in (forms.traditional or "")
        for key in (forms.pkcs8, forms.traditional, forms.jwk, json.dumps(forms.jwk)):
            assert problems(base_config(signature=ec_sig(key, alg, curve=curve))) == []

    def test_key_type_required(self, rsa2048: KeyForms) -> None:
        sig = rsa_sig(rsa2048.pkcs8)
        sig["key_type"] = "DSA"
        assert_problem(base_config(signature=sig), "signature.key_type")

    def test_alg_must_fit_key_type(self, rsa2048: KeyForms) -> None:
        assert_problem(base_config(signature=rsa_sig(rsa2048.pkcs8, "ES256")), "signature.alg", "needs key_type EC")
        assert_problem(base_config(signature=rsa_sig(rsa2048.pkcs8, "HS256")), "signature.alg")

    def test_key_must_fit_key_type(self, ec_keys: dict[str, KeyForms]) -> None:
        assert_problem(base_config(signature=rsa_sig(ec_keys["P-256"].pkcs8)), "signature.private_key", "EC key")

    def test_rsa_under_2048_rejected(self, rsa1024: KeyForms) -> None:
        assert_problem(base_config(signature=rsa_sig(rsa1024.pkcs8)), "signature.private_key", "1024 bits")

    def test_declared_key_size_must_match(self, rsa2048: KeyForms) -> None:
        assert problems(base_config(signature=rsa_sig(rsa2048.pkcs8, key_size=2048))) == []
        assert_problem(base_config(signature=rsa_sig(rsa2048.pkcs8, key_size=4096)), "signature.key_size", "4096")
        assert_problem(base_config(signature=rsa_sig(rsa2048.pkcs8, key_size=1024)), "signature.key_size")
        assert_problem(base_config(signature=rsa_sig(rsa2048.pkcs8, key_size="2048")), "signature.key_size")

    def test_curve_must_match_alg(self, ec_keys: dict[str, KeyForms]) -> None:
        assert_problem(
            base_config(signature=ec_sig(ec_keys["P-384"].pkcs8, "ES256")),
            "signature.private_key",
            "ES256 needs a P-256",
        )

    def test_declared_curve_must_match_key(self, ec_keys: dict[str, KeyForms]) -> None:
        assert_problem(base_config(signature=ec_sig(ec_keys["P-256"].pkcs8, curve="P-384")), "signature.curve")
        assert_problem(base_config(signature=ec_sig(ec_keys["P-256"].pkcs8, curve="secp256k1")), "signature.curve")

    def test_unsupported_curve_rejected(self, secp256k1_pem: str) -> None:
        assert_problem(base_config(signature=ec_sig(secp256k1_pem)), "signature.private_key")

    def test_private_key_required(self) -> None:
        assert_problem(
            base_config(signature={"type": "asymmetric", "key_type": "RSA", "alg": "RS256"}), "signature.private_key"
        )

    def test_private_key_garbage(self) -> None:
        assert_problem(
            base_config(signature=rsa_sig("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")),
            "signature.private_key",
        )

    def test_public_jwk_as_private_key_rejected(self, rsa2048: KeyForms) -> None:
        assert_problem(base_config(signature=rsa_sig(rsa2048.public_jwk)), "signature.private_key", "public key")

    @pytest.mark.parametrize("form", ["public_pem", "public_pkcs1", "public_jwk"])
    def test_public_key_pair(self, rsa2048: KeyForms, form: str) -> None:
        sig = rsa_sig(rsa2048.pkcs8, public_key=getattr(rsa2048, form))
        assert problems(base_config(signature=sig)) == []

    def test_public_key_not_a_pair(self, rsa2048: KeyForms, rsa2048_other: KeyForms) -> None:
        sig = rsa_sig(rsa2048.pkcs8, public_key=rsa2048_other.public_pem)
        assert_problem(base_config(signature=sig), "signature.public_key", "not the public half")

    def test_ed25519(self, ed25519_key: KeyForms) -> None:
        for alg in ("Ed25519", "EdDSA"):
            sig = {"type": "asymmetric", "key_type": "OKP", "alg": alg, "private_key": ed25519_key.pkcs8}
            assert problems(base_config(signature=sig)) == []

    def test_symmetric_fields_rejected_on_asymmetric(self, rsa2048: KeyForms) -> None:
        assert_problem(base_config(signature=rsa_sig(rsa2048.pkcs8, password="x")), "signature.password", "not used")


class TestEncryption:
    @pytest.mark.parametrize(
        ("alg", "size"),
        [("A128KW", 16), ("A192KW", 24), ("A256KW", 32), ("A128GCMKW", 16), ("A192GCMKW", 24), ("A256GCMKW", 32)],
    )
    def test_key_wrap_length_exact(self, alg: str, size: int) -> None:
        assert problems(base_config(encryption=sym_enc(alg, password="k" * size))) == []
        for wrong in (size - 1, size + 1):
            assert_problem(
                base_config(encryption=sym_enc(alg, password="k" * wrong)),
                "encryption.password",
                f"exactly {size} bytes, got {wrong}",
            )

    @pytest.mark.parametrize(
        ("enc", "size"),
        [
            ("A128GCM", 16),
            ("A192GCM", 24),
            ("A256GCM", 32),
            ("A128CBC-HS256", 32),
            ("A192CBC-HS384", 48),
            ("A256CBC-HS512", 64),
        ],
    )
    def test_dir_length_follows_enc(self, enc: str, size: int) -> None:
        assert problems(base_config(encryption=sym_enc("dir", enc=enc, password="k" * size))) == []
        assert_problem(
            base_config(encryption=sym_enc("dir", enc=enc, password="k" * (size + 8))), "encryption.password"
        )

    def test_symmetric_jwk(self) -> None:
        jwk = {"kty": "oct", "k": "GawgguFyGrWKav7AX4VKUg"}  # 16 bytes (RFC 7520 §5.8)
        assert problems(base_config(encryption=sym_enc("A128KW", jwk=jwk))) == []
        assert_problem(base_config(encryption=sym_enc("A256KW", jwk=json.dumps(jwk))), "encryption.jwk", "exactly 32")

    def test_enc_values(self) -> None:
        assert_problem(base_config(encryption=sym_enc(enc="A512GCM", password="k" * 32)), "encryption.enc")

    def test_alg_values(self) -> None:
        assert_problem(base_config(encryption=sym_enc("RSA-OAEP", password="k" * 32)), "encryption.alg")
        assert_problem(base_config(encryption={"type": "symmetric", "password": "k" * 32}), "encryption.alg")

    def test_type(self) -> None:
        assert_problem(base_config(encryption={"type": "x", "alg": "A256KW", "password": "k" * 32}), "encryption.type")

    def test_unknown_encryption_field(self) -> None:
        assert_problem(base_config(encryption=sym_enc(password="k" * 32, zip="DEF")), "encryption.zip")

    @pytest.mark.parametrize("alg", ["RSA-OAEP", "RSA-OAEP-256"])
    def test_rsa(self, rsa2048: KeyForms, alg: str) -> None:
        for name, value in (("public_key", rsa2048.public_pem), ("public_jwk", rsa2048.public_jwk)):
            enc = {"type": "asymmetric", "key_type": "RSA", "alg": alg, name: value}
            assert problems(base_config(encryption=enc)) == []

    def test_rsa_small(self, rsa1024: KeyForms) -> None:
        enc = {"type": "asymmetric", "key_type": "RSA", "alg": "RSA-OAEP", "public_key": rsa1024.public_pem}
        assert_problem(base_config(encryption=enc), "encryption.public_key", "1024 bits")

    @pytest.mark.parametrize("alg", ["ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A192KW", "ECDH-ES+A256KW"])
    @pytest.mark.parametrize("curve", ["P-256", "P-384", "P-521"])
    def test_ec(self, ec_keys: dict[str, KeyForms], alg: str, curve: str) -> None:
        enc = {
            "type": "asymmetric",
            "key_type": "EC",
            "alg": alg,
            "public_key": ec_keys[curve].public_pem,
            "curve": curve,
        }
        assert problems(base_config(encryption=enc)) == []

    def test_ec_declared_curve_mismatch(self, ec_keys: dict[str, KeyForms]) -> None:
        enc = {
            "type": "asymmetric",
            "key_type": "EC",
            "alg": "ECDH-ES",
            "public_jwk": ec_keys["P-256"].public_jwk,
            "curve": "P-521",
        }
        assert_problem(base_config(encryption=enc), "encryption.curve")

    def test_alg_must_fit_key_type(self, rsa2048: KeyForms) -> None:
        enc = {"type": "asymmetric", "key_type": "RSA", "alg": "ECDH-ES", "public_key": rsa2048.public_pem}
        assert_problem(base_config(encryption=enc), "encryption.alg")

    def test_key_must_fit_key_type(self, rsa2048: KeyForms) -> None:
        enc = {"type": "asymmetric", "key_type": "EC", "alg": "ECDH-ES", "public_key": rsa2048.public_pem}
        assert_problem(base_config(encryption=enc), "encryption.public_key", "RSA key")

    def test_public_key_required(self) -> None:
        assert_problem(
            base_config(encryption={"type": "asymmetric", "key_type": "RSA", "alg": "RSA-OAEP"}),
            "encryption.public_key",
        )

    def test_public_key_and_jwk_must_agree(self, rsa2048: KeyForms, rsa2048_other: KeyForms) -> None:
        enc = {
            "type": "asymmetric",
            "key_type": "RSA",
            "alg": "RSA-OAEP",
            "public_key": rsa2048.public_pem,
            "public_jwk": rsa2048_other.public_jwk,
        }
        assert_problem(base_config(encryption=enc), "encryption.public_jwk")


class TestStore:
    def test_unknown_store_field(self) -> None:
        assert_problem(base_config(store={"variable": "jwt", "attributes": ["token"], "ttl": 1}), "store.ttl")

    @pytest.mark.parametrize("value", ["", None, 3])
    def test_variable(self, value: Any) -> None:
        assert_problem(base_config(store={"variable": value, "attributes": ["token"]}), "store.variable")

    @pytest.mark.parametrize("value", [[], None, "token"])
    def test_attributes_non_empty_list(self, value: Any) -> None:
        assert_problem(base_config(store={"variable": "jwt", "attributes": value}), "store.attributes")

    def test_unknown_attribute(self) -> None:
        assert_problem(base_config(store={"variable": "jwt", "attributes": ["token", "secret"]}), "store.attributes[1]")

    def test_duplicate_attribute(self) -> None:
        assert_problem(
            base_config(store={"variable": "jwt", "attributes": ["exp", "exp"]}), "store.attributes[1]", "twice"
        )

    def test_frontend_boolean(self) -> None:
        assert_problem(
            base_config(store={"variable": "jwt", "attributes": ["token"], "frontend": "yes"}), "store.frontend"
        )

    def test_public_jwk_needs_asymmetric_signature(self, rsa2048: KeyForms) -> None:
        store = {"variable": "jwt", "attributes": ["public_jwk"]}
        assert_problem(base_config(store=store), "store.attributes", "asymmetric")
        assert problems(base_config(store=store, signature=rsa_sig(rsa2048.pkcs8))) == []

    def test_all_attributes(self, rsa2048: KeyForms) -> None:
        attrs = ["token", "header", "claims", "kid", "alg", "enc", "iat", "exp", "jti", "public_jwk"]
        config = parse_config(
            base_config(store={"variable": "v", "attributes": attrs}, signature=rsa_sig(rsa2048.pkcs8))
        )
        assert config.store is not None and config.store.attributes == tuple(attrs)


class TestNoSecretsInProblems:
    def test_bad_material_never_echoed(self, rsa1024: KeyForms, rsa2048: KeyForms) -> None:
        body = rsa1024.pkcs8.splitlines()[3]
        pem_broken = rsa2048.pkcs8.replace(rsa2048.pkcs8.splitlines()[2], "!!!!")
        secrets = [HS256_SECRET[:20], body, "hJtXIZ2uSN5kbQfbt", rsa2048.jwk["d"][:20]]
        configs = [
            with_signature(type="symmetric", alg="HS256", password=HS256_SECRET[:20]),
            base_config(signature=rsa_sig(rsa1024.pkcs8)),
            base_config(signature=rsa_sig(pem_broken)),
            with_signature(
                type="symmetric", alg="HS512", jwk={"kty": "oct", "k": "hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg"}
            ),
            base_config(signature=rsa_sig({**rsa2048.jwk, "n": "bad"})),
            base_config(signature=rsa_sig(rsa2048.pkcs8, alg="ES256")),
            base_config(encryption=sym_enc("A128KW", password=HS256_SECRET[:20])),
        ]
        for raw in configs:
            found = problems(raw)
            assert found
            for problem in found:
                for secret in secrets:
                    assert secret not in problem
                assert "BEGIN" not in problem
            try:
                parse_config(raw)
            except ConfigInvalid as exc:
                assert all(secret not in str(exc) and secret not in repr(exc) for secret in secrets)
