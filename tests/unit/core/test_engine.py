"""worker.core.engine, the facade: compile_config / validate_config / generate, token_info and store_delta."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from jwcrypto import jwk as cjwk
from jwcrypto import jws as cjws

from tests.support.configs import IAT, STORE, base_config
from tests.support.keys import KeyForms
from worker.core.claims import make_jti
from worker.core.config import ConfigInvalid
from worker.core.engine import CompiledConfig, Generated, compile_config, generate, validate_config
from worker.core.errors import ErrorCode, NodeError
from worker.core.tokens import compact_header


def run(raw: dict[str, Any], store: dict[str, Any] | None = None, execution_id: str = "exec-1") -> Generated:
    return generate(compile_config(raw), store=STORE if store is None else store, iat=IAT, execution_id=execution_id)


class TestGenerate:
    def test_contract_example(self) -> None:
        out = run(base_config())
        assert out.token_info == {"alg": "HS256", "enc": None, "kid": "hs-1", "iat": IAT, "exp": IAT + 3600}
        assert out.store_delta == [
            {"variable": "jwt", "values": {"token": out.token, "exp": IAT + 3600}, "frontend": False}
        ]

    def test_no_store_gives_empty_delta(self) -> None:
        assert run(base_config(store=None)).store_delta == []

    def test_jti_in_token_info_only_when_on(self) -> None:
        assert "jti" not in run(base_config()).token_info
        raw = base_config(claims={**base_config()["claims"], "jti": True})
        assert run(raw).token_info["jti"] == make_jti("login-token", 3, "exec-1")

    def test_exp_null_when_exp_claim_off(self) -> None:
        raw = base_config(claims={**base_config()["claims"], "exp": False})
        assert run(raw).token_info["exp"] is None

    def test_all_attributes_signed(self, rsa2048: KeyForms) -> None:
        attrs = ["token", "header", "claims", "kid", "alg", "enc", "iat", "exp", "jti", "public_jwk"]
        sig = {"type": "asymmetric", "key_type": "RSA", "alg": "RS256", "kid": "r1", "private_key": rsa2048.pkcs8}
        out = run(base_config(signature=sig, store={"variable": "jwt", "attributes": attrs, "frontend": True}))
        (delta,) = out.store_delta
        values = delta["values"]
        assert list(values) == attrs and delta["frontend"] is True
        assert values["token"] == out.token
        assert values["header"] == {"alg": "RS256", "typ": "JWT", "kid": "r1"} == compact_header(out.token)
        assert values["claims"]["sub"] == "u-42"
        assert (values["kid"], values["alg"], values["enc"]) == ("r1", "RS256", None)
        assert (values["iat"], values["exp"], values["jti"]) == (IAT, IAT + 3600, None)
        public = values["public_jwk"]
        assert public["kid"] == "r1" and "d" not in public
        verifier = cjws.JWS()
        verifier.deserialize(out.token)
        verifier.verify(cjwk.JWK(**public), alg="RS256")

    def test_header_attribute_encrypted(self) -> None:
        enc = {"type": "symmetric", "alg": "A128GCMKW", "password": "k" * 16}
        out = run(base_config(encryption=enc, store={"variable": "j", "attributes": ["header", "alg", "enc", "kid"]}))
        values = out.store_delta[0]["values"]
        header = values["header"]
        assert header["cty"] == "JWT" and header["alg"] == "A128GCMKW" and header["enc"] == "A256GCM"
        assert "iv" in header and "tag" in header
        assert (values["alg"], values["enc"], values["kid"]) == ("HS256", "A256GCM", "hs-1")

    def test_encryption_only_token_info(self) -> None:
        enc = {"type": "symmetric", "alg": "dir", "enc": "A128GCM", "kid": "e1", "password": "k" * 16}
        out = run(base_config(signature=None, encryption=enc))
        assert out.token_info == {"alg": "dir", "enc": "A128GCM", "kid": "e1", "iat": IAT, "exp": IAT + 3600}

    def test_variable_not_found(self) -> None:
        with pytest.raises(NodeError) as info:
            run(base_config(), store={"user": {"id": "u"}})
        assert info.value.code is ErrorCode.VARIABLE_NOT_FOUND
        assert info.value.message == "custom claim 'email': flow store has no 'user.email'"
        assert info.value.retryable is False

    def test_claim_type_mismatch(self) -> None:
        store = {"user": {"id": "u", "email": "e", "roles": "not-json"}}
        with pytest.raises(NodeError) as info:
            run(base_config(), store=store)
        assert info.value.code is ErrorCode.CLAIM_TYPE_MISMATCH and "custom claim 'roles'" in info.value.message
        assert "not-json" not in info.value.message

    def test_integers_beyond_64_bits_stay_exact(self) -> None:
        custom = [{"key": "big", "value": "{{v.n}}", "type": "Number"}, {"key": "s", "value": 2**70, "type": "Number"}]
        raw = base_config(
            claims={"iss": False, "sub": False, "custom": custom}, store={"variable": "j", "attributes": ["claims"]}
        )
        out = run(raw, store={"v": {"n": str(-(2**65))}})
        assert out.store_delta[0]["values"]["claims"]["big"] == -(2**65)
        payload = out.token.split(".")[1]
        decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        assert decoded["big"] == -(2**65) and decoded["s"] == 2**70

    def test_same_inputs_same_token(self) -> None:
        compiled = compile_config(base_config())
        a = generate(compiled, store=STORE, iat=IAT, execution_id="x")
        b = generate(compiled, store=STORE, iat=IAT, execution_id="x")
        assert a == b

    def test_compiled_is_frozen_and_hides_keys(self) -> None:
        compiled = compile_config(base_config())
        assert isinstance(compiled, CompiledConfig)
        with pytest.raises(AttributeError):
            compiled.id = "x"  # type: ignore[misc]
        assert "0123456789abcdef" not in repr(compiled)


class TestValidate:
    def test_valid(self) -> None:
        assert validate_config(base_config()) == []

    def test_lists_every_problem(self) -> None:
        found = validate_config(base_config(id="", version=0, signature=None))
        assert [p.split(":")[0] for p in found] == ["id", "version", "signature"]

    def test_compile_raises_config_invalid(self) -> None:
        with pytest.raises(ConfigInvalid) as info:
            compile_config(base_config(version=0))
        assert info.value.problems == ["version: must be an integer from 1 to 2^53 - 1, got 0"]


class TestTokenSizeBudget:
    def test_under_or_at_the_budget_passes(self) -> None:
        size = len(run(base_config()).token)
        assert len(run(base_config(max_token_bytes=size)).token) == size

    def test_over_the_budget_says_by_how_much(self) -> None:
        size = len(run(base_config()).token)
        with pytest.raises(NodeError) as info:
            run(base_config(max_token_bytes=size - 5))
        error = info.value
        assert error.code is ErrorCode.TOKEN_TOO_LARGE and error.retryable is False
        assert f"{size} bytes, 5 over the limit of {size - 5}" in error.message
        assert error.message.startswith("max_token_bytes:")

    def test_the_budget_counts_the_outer_jwe(self) -> None:
        encryption = {"type": "symmetric", "alg": "A256KW", "password": "0123456789abcdef0123456789abcdef"}
        signed = len(run(base_config()).token)
        with pytest.raises(NodeError) as info:
            run(base_config(encryption=encryption, max_token_bytes=signed + 10))
        assert info.value.code is ErrorCode.TOKEN_TOO_LARGE

    @pytest.mark.parametrize("bad", [0, -1, 1.5, "100", True])
    def test_must_be_a_positive_integer(self, bad: object) -> None:
        found = validate_config(base_config(max_token_bytes=bad))
        assert any(p.startswith("max_token_bytes:") for p in found), found
