"""The HTTP edge's checks that run before decoding: JSON depth and media type."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elearning_http.inputs import MAX_JSON_DEPTH, json_depth_exceeds, json_media_type_problem


def depth(value: Any) -> int:
    """The reference: how many arrays and objects deep ``value`` nests (a scalar is 0)."""
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


# Strings full of brackets, quotes and backslashes: the check must not count what is inside a string.
tricky_text = st.text(st.sampled_from('[]{}"\\ab\x00é\n'), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | tricky_text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(tricky_text, children, max_size=3),
    max_leaves=60,
)


@settings(max_examples=300)
@given(value=json_values, limit=st.integers(min_value=0, max_value=8))
def test_the_depth_check_agrees_with_the_decoded_value(value: Any, limit: int) -> None:
    for body in (json.dumps(value), json.dumps(value, indent=1, ensure_ascii=False)):
        assert json_depth_exceeds(body.encode(), limit) == (depth(value) > limit), body


@pytest.mark.parametrize("n", [MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 5000])
def test_the_limit_is_exact_for_arrays_and_objects(n: int) -> None:
    arrays = ("[" * n + "]" * n).encode()
    objects = ('{"a":' * n + "1" + "}" * n).encode()
    assert json_depth_exceeds(arrays) == (n > MAX_JSON_DEPTH)
    assert json_depth_exceeds(objects) == (n > MAX_JSON_DEPTH)


def test_brackets_in_strings_and_escaped_quotes_do_not_nest() -> None:
    body = json.dumps({"text": "[" * 10_000 + '\\"' + "{" * 10_000, "list": [[1]]}).encode()
    assert not json_depth_exceeds(body)


def test_a_wide_body_with_many_brackets_is_not_deep() -> None:
    body = json.dumps({"items": [{"a": [1, 2], "b": {"c": "d"}} for _ in range(20_000)]}).encode()
    assert not json_depth_exceeds(body)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        'Application/JSON;CHARSET="UTF-8"',
        "application/json;charset=utf8",
        "application/problem+json",
        "application/merge-patch+json",
    ],
)
def test_json_media_types_are_accepted(content_type: str) -> None:
    assert json_media_type_problem(content_type) is None


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "text/plain",
        "application/x-www-form-urlencoded",
        "text/json",
        "application/jsonx",
        "application/json; charset=latin-1",
    ],
)
def test_other_media_types_are_refused(content_type: str | None) -> None:
    problem = json_media_type_problem(content_type)
    assert problem is not None
    assert problem
