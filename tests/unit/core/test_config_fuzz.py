"""Arbitrary JSON never crashes validation: it is valid or yields ConfigInvalid with field-named problems."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.configs import base_config
from worker.core.config import ConfigInvalid
from worker.core.engine import compile_config

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)

SECTIONS = ["id", "version", "ttl", "claims", "signature", "encryption", "store"]
SUBFIELDS = {
    "claims": ["iat", "iss", "sub", "exp", "nbf", "jti", "issuer", "subject", "custom"],
    "signature": [
        "type",
        "kid",
        "alg",
        "password",
        "jwk",
        "private_key",
        "public_key",
        "key_type",
        "key_size",
        "curve",
    ],
    "store": ["variable", "attributes", "frontend"],
    "encryption": ["type", "kid", "alg", "enc", "password", "jwk", "public_key", "public_jwk", "key_type", "curve"],
}


def check(raw: Any) -> None:
    try:
        compile_config(raw)
    except ConfigInvalid as exc:
        assert exc.problems
        assert all(isinstance(p, str) and ": " in p for p in exc.problems)


@settings(max_examples=150)
@given(json_values)
def test_arbitrary_json(raw: Any) -> None:
    check(raw)


@settings(max_examples=150)
@given(st.sampled_from(SECTIONS), json_values)
def test_one_section_replaced(section: str, value: Any) -> None:
    check(base_config(**{section: value}))


@settings(max_examples=200)
@given(st.sampled_from(sorted(SUBFIELDS)), st.data(), json_values)
def test_one_field_replaced(section: str, data: st.DataObject, value: Any) -> None:
    raw = base_config(encryption={"type": "symmetric", "alg": "A256KW", "password": "k" * 32})
    name = data.draw(st.sampled_from(SUBFIELDS[section]))
    raw[section][name] = value
    check(raw)


@settings(max_examples=200)
@given(st.lists(st.dictionaries(st.sampled_from(["key", "value", "type", "x"]), json_values, max_size=4), max_size=3))
def test_custom_claims(custom: list[Any]) -> None:
    raw = base_config()
    raw["claims"]["custom"] = custom
    check(raw)
