"""worker.core.claims: default, optional (nbf, jti) and custom claims, in order and typed."""

from __future__ import annotations

import uuid

import pytest

from tests.support.configs import IAT, STORE, base_config
from worker.core.claims import JTI_NAMESPACE, build_claims, make_jti
from worker.core.config import parse_config
from worker.core.errors import ErrorCode, NodeError


class TestClaims:
    def test_order_and_values(self) -> None:
        config = parse_config(base_config(claims={**base_config()["claims"], "nbf": True, "jti": True}))
        claims = build_claims(config, STORE, IAT, "exec-1")
        assert list(claims) == ["iat", "iss", "sub", "exp", "nbf", "jti", "email", "roles", "level"]
        assert claims["nbf"] == IAT and claims["exp"] == IAT + 3600
        assert claims["jti"] == str(uuid.uuid5(JTI_NAMESPACE, "login-token:3:exec-1"))

    def test_namespace_is_fixed(self) -> None:
        assert uuid.uuid5(uuid.NAMESPACE_URL, "urn:jwt-generator:jti") == JTI_NAMESPACE

    def test_jti_deterministic_and_distinct(self) -> None:
        assert make_jti("a", 1, "x") == make_jti("a", 1, "x")
        assert len({make_jti("a", 1, "x"), make_jti("a", 2, "x"), make_jti("b", 1, "x"), make_jti("a", 1, "y")}) == 4

    def test_flags_off(self) -> None:
        raw = base_config(claims={"iat": False, "iss": False, "sub": False, "exp": False})
        assert build_claims(parse_config(raw), STORE, IAT, "e") == {}

    def test_templated_issuer_is_string(self) -> None:
        raw = base_config(claims={"issuer": "https://{{tenant.host}}/", "subject": "{{user.n}}"})
        claims = build_claims(parse_config(raw), {"tenant": {"host": "a.example"}, "user": {"n": 42}}, IAT, "e")
        assert claims["iss"] == "https://a.example/" and claims["sub"] == "42"

    def test_missing_subject_names_field(self) -> None:
        raw = base_config(claims={"issuer": "i", "subject": "{{user.id}}"})
        with pytest.raises(NodeError) as info:
            build_claims(parse_config(raw), {}, IAT, "e")
        assert info.value.code is ErrorCode.VARIABLE_NOT_FOUND and "subject" in info.value.message

    def test_custom_conversion(self) -> None:
        custom = [
            {"key": "n", "value": "{{v.s}}", "type": "Number"},
            {"key": "b", "value": "{{v.b}}", "type": "Boolean"},
            {"key": "o", "value": "{{v.o}}", "type": "Object"},
            {"key": "t", "value": "x-{{v.o}}", "type": "String"},
            {"key": "static", "value": [1, "{{v.s}}"], "type": "Array"},
        ]
        raw = base_config(claims={"iss": False, "sub": False, "custom": custom})
        store = {"v": {"s": "12", "b": "TRUE", "o": '{"a":1}'}}
        claims = build_claims(parse_config(raw), store, IAT, "e")
        assert claims == {
            "iat": IAT,
            "exp": IAT + 3600,
            "n": 12,
            "b": True,
            "o": {"a": 1},
            "t": 'x-{"a":1}',
            "static": [1, "{{v.s}}"],
        }
