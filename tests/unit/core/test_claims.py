"""worker.core.claims: default, optional (nbf, jti), audience and custom claims, in order and typed; on_missing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.configs import IAT, STORE, base_config
from tests.support.problems import assert_problem
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

    @given(st.text(), st.integers(min_value=1, max_value=2**53 - 1), st.text())
    def test_jti_is_the_uuid5_of_id_version_and_execution(self, config_id: str, version: int, execution: str) -> None:
        expected = uuid.uuid5(JTI_NAMESPACE, f"{config_id}:{version}:{execution}")
        assert make_jti(config_id, version, execution) == str(expected)
        assert uuid.UUID(make_jti(config_id, version, execution)).version == 5

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


def claims_for(claims: dict[str, Any], store: dict[str, Any] | None = None) -> dict[str, Any]:
    return build_claims(parse_config(base_config(claims=claims)), STORE if store is None else store, IAT, "e")


LEAN = {"issuer": "https://idp.example.com", "subject": "{{user.id}}"}


class TestAudience:
    def test_one_string_and_its_place_after_sub(self) -> None:
        claims = claims_for({**LEAN, "aud": "https://api.example.com"})
        assert list(claims) == ["iat", "iss", "sub", "aud", "exp"]
        assert claims["aud"] == "https://api.example.com"

    def test_a_list_with_templates(self) -> None:
        claims = claims_for({**LEAN, "aud": ["https://api.example.com", "urn:user:{{user.id}}"]})
        assert claims["aud"] == ["https://api.example.com", "urn:user:u-42"]

    def test_a_whole_template_may_bring_a_string_or_an_array(self) -> None:
        assert claims_for({**LEAN, "aud": "{{user.email}}"})["aud"] == "ada@example.com"
        assert claims_for({**LEAN, "aud": "{{user.roles}}"})["aud"] == ["admin", "ops"]
        # in a list, an array is flattened one level
        assert claims_for({**LEAN, "aud": ["a", "{{user.roles}}"]})["aud"] == ["a", "admin", "ops"]

    def test_an_array_of_non_strings_is_a_type_mismatch(self) -> None:
        with pytest.raises(NodeError) as info:
            claims_for({**LEAN, "aud": "{{x}}"}, {"user": {"id": "u"}, "x": [1, 2]})
        assert info.value.code is ErrorCode.CLAIM_TYPE_MISMATCH and "claims.aud" in info.value.message

    def test_missing_variable_fails_by_default(self) -> None:
        with pytest.raises(NodeError) as info:
            claims_for({**LEAN, "aud": ["a", "{{client.id}}"]})
        assert info.value.code is ErrorCode.VARIABLE_NOT_FOUND and "claims.aud" in info.value.message

    def test_an_empty_array_from_the_store_counts_as_missing(self) -> None:
        store = {"user": {"id": "u"}, "x": []}
        assert "aud" not in claims_for({**LEAN, "aud": "{{x}}", "aud_on_missing": "omit"}, store)
        assert claims_for({**LEAN, "aud": "{{x}}", "aud_on_missing": "default", "aud_default": ["d"]}, store)[
            "aud"
        ] == ["d"]

    @pytest.mark.parametrize(
        ("aud", "field", "needle"),
        [
            (5, "claims.aud", "non-empty string or a non-empty array"),
            ([], "claims.aud", "non-empty"),
            ("", "claims.aud", "non-empty"),
            (["a", 5], "claims.aud[1]", "non-empty string"),
            (["a", "a"], "claims.aud[1]", "listed twice"),
            (["{{}}"], "claims.aud[0]", "empty template"),
        ],
    )
    def test_validation(self, aud: Any, field: str, needle: str) -> None:
        assert_problem(base_config(claims={**LEAN, "aud": aud}), field, needle)

    def test_custom_claim_aud_collides_once_aud_is_set(self) -> None:
        custom = [{"key": "aud", "value": "x", "type": "String"}]
        assert_problem(base_config(claims={**LEAN, "aud": "a", "custom": custom}), "claims.custom[0].key", "collides")
        assert claims_for({**LEAN, "custom": custom})["aud"] == "x"  # without claims.aud it is a custom claim

    def test_policy_fields_without_aud(self) -> None:
        assert_problem(base_config(claims={**LEAN, "aud_on_missing": "omit"}), "claims.aud_on_missing", "without")


DEPT: dict[str, Any] = {"key": "dept", "value": "{{user.dept}}", "type": "String"}


class TestOnMissing:
    def test_fail_is_the_default(self) -> None:
        with pytest.raises(NodeError) as info:
            claims_for({**LEAN, "custom": [DEPT]})
        assert info.value.code is ErrorCode.VARIABLE_NOT_FOUND

    def test_explicit_fail(self) -> None:
        with pytest.raises(NodeError):
            claims_for({**LEAN, "custom": [{**DEPT, "on_missing": "fail"}]})

    def test_omit_leaves_the_claim_out(self) -> None:
        claims = claims_for({**LEAN, "custom": [{**DEPT, "on_missing": "omit"}]})
        assert "dept" not in claims and claims["sub"] == "u-42"

    def test_a_missing_part_of_a_mixed_template_counts(self) -> None:
        custom = {"key": "g", "value": "hi {{user.nick}}!", "type": "String", "on_missing": "omit"}
        assert "g" not in claims_for({**LEAN, "custom": [custom]})

    def test_null_counts_as_missing(self) -> None:
        store = {"user": {"id": "u", "dept": None}}
        assert "dept" not in claims_for({**LEAN, "custom": [{**DEPT, "on_missing": "omit"}]}, store)

    @pytest.mark.parametrize(
        ("claim_type", "default", "expected"),
        [
            ("String", "none", "none"),
            ("Number", 3, 3),
            ("Number", "3.5", 3.5),
            ("Boolean", False, False),
            ("Array", ["x"], ["x"]),
            ("Object", '{"a":1}', {"a": 1}),
        ],
    )
    def test_default_is_typed_like_the_claim(self, claim_type: str, default: Any, expected: Any) -> None:
        custom = {"key": "c", "value": "{{user.nothing}}", "type": claim_type, "on_missing": "default"}
        assert claims_for({**LEAN, "custom": [{**custom, "default": default}]})["c"] == expected

    def test_a_present_value_wins_over_the_default(self) -> None:
        custom = {**DEPT, "value": "{{user.email}}", "on_missing": "default", "default": "x"}
        assert claims_for({**LEAN, "custom": [custom]})["dept"] == "ada@example.com"

    def test_type_mismatch_is_not_missing(self) -> None:
        custom = {"key": "n", "value": "{{user.email}}", "type": "Number", "on_missing": "omit"}
        with pytest.raises(NodeError) as info:
            claims_for({**LEAN, "custom": [custom]})
        assert info.value.code is ErrorCode.CLAIM_TYPE_MISMATCH

    def test_issuer_and_subject(self) -> None:
        claims = {
            "issuer": "https://{{tenant.host}}/",
            "issuer_on_missing": "default",
            "issuer_default": "https://idp.example.com/",
            "subject": "{{user.nothing}}",
            "subject_on_missing": "omit",
        }
        out = claims_for(claims)
        assert out["iss"] == "https://idp.example.com/" and "sub" not in out
        assert claims_for(claims, {"tenant": {"host": "t.example"}})["iss"] == "https://t.example/"

    @pytest.mark.parametrize(
        ("fields", "field", "needle"),
        [
            ({"on_missing": "skip"}, "claims.custom[0].on_missing", "fail, omit, default"),
            ({"on_missing": "default"}, "claims.custom[0].default", "required"),
            ({"default": "x"}, "claims.custom[0].default", "only used when on_missing is 'default'"),
            ({"on_missing": "omit", "default": "x"}, "claims.custom[0].default", "only used"),
            ({"type": "Number", "on_missing": "default", "default": "many"}, "claims.custom[0].default", "Number"),
            ({"type": "Boolean", "on_missing": "default", "default": 1}, "claims.custom[0].default", "Boolean"),
            ({"value": "static", "on_missing": "omit"}, "claims.custom[0].on_missing", "templates"),
        ],
    )
    def test_custom_validation(self, fields: dict[str, Any], field: str, needle: str) -> None:
        assert_problem(base_config(claims={**LEAN, "custom": [{**DEPT, **fields}]}), field, needle)

    @pytest.mark.parametrize(
        ("fields", "field", "needle"),
        [
            ({"issuer_on_missing": "maybe"}, "claims.issuer_on_missing", "fail, omit, default"),
            ({"subject_on_missing": "default"}, "claims.subject_default", "required"),
            ({"subject_on_missing": "default", "subject_default": 7}, "claims.subject_default", "non-empty string"),
            ({"issuer_on_missing": "omit"}, "claims.issuer_on_missing", "templates"),  # the issuer is static
            ({"aud": "{{a.b}}", "aud_on_missing": "default", "aud_default": [1]}, "claims.aud_default", "array"),
        ],
    )
    def test_issuer_subject_audience_validation(self, fields: dict[str, Any], field: str, needle: str) -> None:
        assert_problem(base_config(claims={**LEAN, **fields}), field, needle)
