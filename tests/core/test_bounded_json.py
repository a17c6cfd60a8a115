"""The one JSON loader for outside input: deep nesting is a ValueError, never a RecursionError."""

from __future__ import annotations

import json

import pytest

from fleetcore.core.bounded_json import MAX_JSON_DEPTH, JsonTooDeep, load_json


@pytest.mark.parametrize("body", [
    b"[" * 200_000 + b"]" * 200_000,
    b'{"a":' * 200_000 + b"1" + b"}" * 200_000,
    "[" * 5_000,  # not even closed: the depth is found before the syntax error
])
def test_nesting_beyond_the_interpreter_is_refused_as_too_deep(body: bytes | str) -> None:
    with pytest.raises(JsonTooDeep) as refused:
        load_json(body)
    assert isinstance(refused.value, ValueError)
    assert f"more than {MAX_JSON_DEPTH} levels" in str(refused.value)


def test_the_limit_counts_objects_and_arrays_and_nothing_else() -> None:
    at_limit = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert load_json(at_limit) == json.loads(at_limit)
    mixed = '{"a": [{"b": ["c", {"d": 1}]}]}'  # 5 levels
    assert load_json(mixed, max_depth=5) == json.loads(mixed)
    with pytest.raises(JsonTooDeep):
        load_json(mixed, max_depth=4)
    with pytest.raises(JsonTooDeep):
        load_json("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))
    assert load_json('"[[[["') == "[[[["  # brackets in strings are text
    assert load_json("12.5", parse_float=str) == "12.5"


def test_malformed_json_is_still_a_decode_error() -> None:
    with pytest.raises(json.JSONDecodeError):
        load_json(b"{not json")
