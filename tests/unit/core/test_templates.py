"""Templates (`{{variable.attribute}}`) and claim type conversion."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.core.errors import ErrorCode, NodeError
from worker.core.templates import Path, TemplateSyntaxError, compile_template, convert, to_text

STORE: dict[str, Any] = {
    "user": {
        "id": "u-42",
        "age": 37,
        "score": 1.5,
        "admin": True,
        "roles": ["admin", "ops"],
        "address": {"city": "Paris", "zip": "75001"},
        "nothing": None,
        "0": "zero-key",
    }
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
present_values = json_values.filter(lambda v: v is not None)


def render(template: str, store: dict[str, Any] | None = None) -> Any:
    return compile_template(template).render(STORE if store is None else store, "custom claim 'x'")


class TestRendering:
    def test_whole_template_keeps_type(self) -> None:
        assert render("{{user.roles}}") == ["admin", "ops"]
        assert render("{{user.age}}") == 37
        assert render("{{user.admin}}") is True
        assert render("{{user.address}}") == {"city": "Paris", "zip": "75001"}

    def test_deep_path_and_index(self) -> None:
        assert render("{{user.address.city}}") == "Paris"
        assert render("{{user.roles.0}}") == "admin"
        assert render("{{user.roles.1}}") == "ops"

    def test_numeric_segment_on_object_is_a_key(self) -> None:
        assert render("{{user.0}}") == "zero-key"

    def test_whitespace_inside_braces(self) -> None:
        assert render("{{ user.id }}") == "u-42"
        assert render("{{  user . id  }}") == "u-42"

    def test_mixed_text_renders_string(self) -> None:
        assert render("id={{user.id}}") == "id=u-42"
        assert render("{{user.age}}/{{user.score}}/{{user.admin}}") == "37/1.5/true"
        assert render("r={{user.roles}}") == 'r=["admin","ops"]'
        assert render("a={{user.address}}") == 'a={"city":"Paris","zip":"75001"}'

    def test_two_adjacent_templates_are_mixed(self) -> None:
        assert render("{{user.id}}{{user.age}}") == "u-4237"

    def test_surrounding_whitespace_is_text(self) -> None:
        assert render(" {{user.age}} ") == " 37 "

    def test_no_template_is_static(self) -> None:
        template = compile_template("plain text")
        assert template.is_static and template.render({}, "x") == "plain text"

    @pytest.mark.parametrize("value", [42, 1.5, True, ["{{user.id}}"], {"a": "{{user.id}}"}])
    def test_static_non_strings_pass_through_untemplated(self, value: Any) -> None:
        template = compile_template(value)
        assert template.is_static
        assert template.render(STORE, "x") == value

    @pytest.mark.parametrize(
        "path", ["user.email", "user.roles.5", "user.id.x", "nobody", "user.nothing", "user.roles.-1"]
    )
    def test_missing_or_null_is_variable_not_found(self, path: str) -> None:
        with pytest.raises(NodeError) as info:
            compile_template("{{" + path + "}}").render(STORE, "custom claim 'email'")
        assert info.value.code is ErrorCode.VARIABLE_NOT_FOUND
        assert info.value.message == f"custom claim 'email': flow store has no '{path}'"

    def test_missing_in_mixed_text(self) -> None:
        with pytest.raises(NodeError) as info:
            render("hello {{user.email}}")
        assert "user.email" in info.value.message

    @pytest.mark.parametrize("bad", ["{{}}", "{{ }}", "{{a..b}}", "{{.a}}", "{{a.}}"])
    def test_syntax_errors(self, bad: str) -> None:
        with pytest.raises(TemplateSyntaxError):
            compile_template(bad)

    def test_compiled_once_into_parts(self) -> None:
        template = compile_template("x{{ a.b }}y")
        assert template.parts == ("x", Path(("a", "b")), "y")
        assert template.paths == (Path(("a", "b")),)

    @given(present_values)
    def test_whole_template_returns_stored_value(self, value: Any) -> None:
        assert render("{{v.x}}", {"v": {"x": value}}) == value

    @given(present_values, st.text(alphabet=st.characters(blacklist_characters="{}"), min_size=1, max_size=10))
    def test_mixed_rendering_never_raises_for_present_values(self, value: Any, text: str) -> None:
        out = render(text + "{{v.x}}" + text, {"v": {"x": value}})
        assert isinstance(out, str)


class TestConvert:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("s", "s"),
            (42, "42"),
            (1.5, "1.5"),
            (True, "true"),
            (False, "false"),
            ([1, "a"], '[1,"a"]'),
            ({"a": 1}, '{"a":1}'),
        ],
    )
    def test_string(self, value: Any, expected: str) -> None:
        assert convert(value, "String", "w") == expected

    @given(st.integers())
    def test_string_of_any_int_is_str(self, n: int) -> None:
        assert convert(n, "String", "w") == str(n)

    @pytest.mark.parametrize(
        ("value", "expected"), [(2, 2), (1.5, 1.5), ("2", 2), ("-1.25", -1.25), (" 7 ", 7), ("1e3", 1000.0)]
    )
    def test_number(self, value: Any, expected: Any) -> None:
        assert convert(value, "Number", "w") == expected

    @given(st.integers())
    def test_number_string_roundtrip(self, n: int) -> None:
        assert convert(str(n), "Number", "w") == n

    @pytest.mark.parametrize("value", [True, False, "abc", "", "true", "NaN", "Infinity", "[1]", [1], {"a": 1}])
    def test_number_mismatch(self, value: Any) -> None:
        with pytest.raises(NodeError) as info:
            convert(value, "Number", "custom claim 'level'")
        assert info.value.code is ErrorCode.CLAIM_TYPE_MISMATCH
        assert info.value.message.startswith("custom claim 'level': expected Number")

    @given(st.sampled_from(["true", "false"]), st.lists(st.booleans(), min_size=5, max_size=5))
    def test_boolean_any_case(self, word: str, upper: list[bool]) -> None:
        spelled = "".join(c.upper() if u else c for c, u in zip(word, upper, strict=False))
        assert convert(spelled, "Boolean", "w") is (word == "true")

    @pytest.mark.parametrize("value", [1, 0, "yes", "1", "", [True], None])
    def test_boolean_mismatch(self, value: Any) -> None:
        with pytest.raises(NodeError) as info:
            convert(value, "Boolean", "w")
        assert info.value.code is ErrorCode.CLAIM_TYPE_MISMATCH

    def test_boolean_passthrough(self) -> None:
        assert convert(True, "Boolean", "w") is True

    def test_array_and_object(self) -> None:
        assert convert([1], "Array", "w") == [1]
        assert convert('["a", 2]', "Array", "w") == ["a", 2]
        assert convert({"a": 1}, "Object", "w") == {"a": 1}
        assert convert('{"a": [1]}', "Object", "w") == {"a": [1]}

    @pytest.mark.parametrize(
        ("value", "kind"),
        [("{}", "Array"), ("[]", "Object"), ({"a": 1}, "Array"), ([1], "Object"), (3, "Array"), ("nope", "Object")],
    )
    def test_array_object_mismatch(self, value: Any, kind: str) -> None:
        with pytest.raises(NodeError) as info:
            convert(value, kind, "w")
        assert info.value.code is ErrorCode.CLAIM_TYPE_MISMATCH

    def test_mismatch_message_hides_the_value(self) -> None:
        with pytest.raises(NodeError) as info:
            convert("hunter2-super-secret", "Number", "custom claim 'pin'")
        assert "hunter2" not in info.value.message
        assert "custom claim 'pin'" in info.value.message and "Number" in info.value.message

    @given(present_values)
    def test_to_text_is_json_for_non_strings(self, value: Any) -> None:
        text = to_text(value)
        if not isinstance(value, str):
            assert orjson.loads(text) == value
