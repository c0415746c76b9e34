"""signature.headers (worker/core/config/headers.py): extra protected header members, checked once.

The tokens are verified by jwcrypto; thumbprints and certificates are made
here with `cryptography`, independently of the worker's own computation.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwcrypto import jws

from tests.support.configs import HS256_SECRET, IAT, STORE, base_config, hs256
from tests.support.keys import KeyForms, oct_jwk
from tests.support.pki import CA, KEY_ENCIPHERMENT, SIGNING, der_b64, thumbprints
from tests.support.problems import assert_problem
from worker.core.config.headers import RESERVED
from worker.core.engine import compile_config, generate


@pytest.fixture(scope="module")
def ca() -> CA:
    return CA.create()


def rsa_signature(forms: KeyForms, headers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "asymmetric",
        "key_type": "RSA",
        "alg": "RS256",
        "kid": "r1",
        "private_key": forms.pkcs8,
        "headers": headers,
        **extra,
    }


def header_and_claims(token: str, key: Any, alg: str) -> tuple[dict[str, Any], dict[str, Any]]:
    obj = jws.JWS()
    obj.allowed_algs = [alg]
    obj.deserialize(token)
    obj.verify(key, alg=alg)
    return dict(obj.jose_header), json.loads(obj.payload)


def test_typ_override_cty_and_custom_members_verified_by_jwcrypto() -> None:
    headers = {"typ": "at+jwt", "cty": "application/example", "tenant": "t-7", "ext": {"n": [1, 2]}}
    config = base_config(signature={**hs256(HS256_SECRET), "headers": headers})
    out = generate(compile_config(config), store=STORE, iat=IAT, execution_id="e")
    header, claims = header_and_claims(out.token, oct_jwk(HS256_SECRET), "HS256")
    assert header == {
        "alg": "HS256",
        "typ": "at+jwt",
        "kid": "hs-1",
        **{k: v for k, v in headers.items() if k != "typ"},
    }
    assert out.header == header
    assert claims["sub"] == "u-42"


def test_x5c_chain_and_thumbprints_of_the_signing_key(rsa2048: KeyForms, ca: CA) -> None:
    leaf = ca.issue(rsa2048.native.public_key(), "signer", usage=SIGNING)
    headers = {"x5c": [der_b64(leaf), der_b64(ca.cert)], **thumbprints(leaf)}
    out = generate(
        compile_config(base_config(signature=rsa_signature(rsa2048, headers))), store=STORE, iat=IAT, execution_id="e"
    )
    header, _ = header_and_claims(out.token, rsa2048.public, "RS256")
    assert header["x5c"] == headers["x5c"]
    assert header["x5t"] == thumbprints(leaf)["x5t"] and header["x5t#S256"] == thumbprints(leaf)["x5t#S256"]
    assert header["typ"] == "JWT"


@pytest.mark.parametrize("name", sorted(RESERVED))
def test_members_the_node_sets_or_never_sets_are_refused(name: str) -> None:
    config = base_config(signature={**hs256(HS256_SECRET), "headers": {name: "x"}})
    assert_problem(config, f"signature.headers.{name}", "cannot be set here")


def test_the_issue_s_list_is_reserved() -> None:
    assert {"alg", "kid", "crit", "enc", "zip", "jku", "jwk"} <= set(RESERVED)


@pytest.mark.parametrize(
    ("headers", "field", "needle"),
    [
        ({"typ": ""}, "signature.headers.typ", "non-empty string"),
        ({"cty": 5}, "signature.headers.cty", "non-empty string"),
        ({"x5t": ["a"]}, "signature.headers.x5t", "non-empty string"),
        ({"extra": None}, "signature.headers.extra", "null"),
        ({"": "v"}, "signature.headers", "empty"),
    ],
)
def test_member_values(headers: dict[str, Any], field: str, needle: str) -> None:
    assert_problem(base_config(signature={**hs256(HS256_SECRET), "headers": headers}), field, needle)


def test_headers_must_be_an_object() -> None:
    assert_problem(base_config(signature={**hs256(HS256_SECRET), "headers": ["typ"]}), "signature.headers", "object")


def test_x5c_needs_an_asymmetric_signature(rsa2048: KeyForms, ca: CA) -> None:
    leaf = ca.issue(rsa2048.native.public_key(), "signer")
    config = base_config(signature={**hs256(HS256_SECRET), "headers": {"x5c": [der_b64(leaf)]}})
    assert_problem(config, "signature.headers.x5c", "asymmetric")


def test_x5c_leaf_must_hold_the_signing_key(rsa2048: KeyForms, rsa2048_other: KeyForms, ca: CA) -> None:
    other = ca.issue(rsa2048_other.native.public_key(), "someone else")
    assert_problem(
        base_config(signature=rsa_signature(rsa2048, {"x5c": [der_b64(other)]})),
        "signature.headers.x5c[0]",
        "not a certificate of the signing key",
    )


def test_x5c_entries_are_base64_der_not_pem(rsa2048: KeyForms, ca: CA) -> None:
    from tests.support.pki import pem

    leaf = ca.issue(rsa2048.native.public_key(), "signer")
    config = base_config(signature=rsa_signature(rsa2048, {"x5c": [pem(leaf)]}))
    assert_problem(config, "signature.headers.x5c[0]", "base64 DER")
    assert_problem(base_config(signature=rsa_signature(rsa2048, {"x5c": []})), "signature.headers.x5c", "non-empty")


def test_x5c_chain_goes_leaf_first(rsa2048: KeyForms, ca: CA) -> None:
    leaf = ca.issue(rsa2048.native.public_key(), "signer")
    unrelated = CA.create("another CA")
    config = base_config(signature=rsa_signature(rsa2048, {"x5c": [der_b64(leaf), der_b64(unrelated.cert)]}))
    assert_problem(config, "signature.headers.x5c[1]", "did not issue x5c[0]")


def test_thumbprints_must_be_those_of_the_leaf(rsa2048: KeyForms, ca: CA) -> None:
    leaf = ca.issue(rsa2048.native.public_key(), "signer")
    wrong = thumbprints(ca.cert)
    for name in ("x5t", "x5t#S256"):
        headers = {"x5c": [der_b64(leaf)], name: wrong[name]}
        assert_problem(
            base_config(signature=rsa_signature(rsa2048, headers)),
            f"signature.headers.{name}",
            "not the thumbprint of the x5c[0]",
        )


def test_thumbprints_need_the_certificate(rsa2048: KeyForms) -> None:
    assert_problem(
        base_config(signature=rsa_signature(rsa2048, {"x5t#S256": "abc"})),
        "signature.headers.x5t#S256",
        "needs signature.headers.x5c",
    )


def test_ec_leaf_with_any_key_usage_is_fine_for_signing(ca: CA) -> None:
    native = ec.generate_private_key(ec.SECP256R1())
    forms = KeyForms(native)
    leaf = ca.issue(native.public_key(), "ec signer", usage=KEY_ENCIPHERMENT)
    sig = {
        "type": "asymmetric",
        "key_type": "EC",
        "alg": "ES256",
        "private_key": forms.pkcs8,
        "headers": {"x5c": [der_b64(leaf)], **thumbprints(leaf)},
    }
    out = generate(compile_config(base_config(signature=sig)), store=STORE, iat=IAT, execution_id="e")
    header, _ = header_and_claims(out.token, forms.public, "ES256")
    assert header["x5t#S256"] == thumbprints(leaf)["x5t#S256"]
