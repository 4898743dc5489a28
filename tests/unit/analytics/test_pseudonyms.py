"""Pseudonyms of deleted accounts: keyed, stable, never a user id; the JSON rewrite touches the account only."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elearning_adapters.sql.analytics import accounts_of
from elearning_core.analytics.model import Statement
from elearning_core.analytics.pseudonyms import Pseudonyms, account_key, accounts_named, pseudonymise

HOME = "https://learn.example.org"
USER = uuid.UUID("01900000-0000-7000-8000-000000000abc")


def agent(account: str, home: str = HOME, **more: Any) -> dict[str, Any]:
    return {"objectType": "Agent", "account": {"homePage": home, "name": account}, **more}


@given(st.uuids(), st.uuids())
def test_a_pseudonym_is_a_stable_keyed_version_8_uuid(first: uuid.UUID, second: uuid.UUID) -> None:
    pseudonyms = Pseudonyms(b"secret")
    assert pseudonyms.of(first) == Pseudonyms(b"secret").of(first)  # stable across processes: no state
    assert pseudonyms.of(first).version == 8
    assert pseudonyms.of(first).variant == uuid.RFC_4122
    assert pseudonyms.of(first) != first
    assert (pseudonyms.of(first) == pseudonyms.of(second)) == (first == second)
    assert Pseudonyms(b"another secret").of(first) != pseudonyms.of(first)


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="non-empty secret"):
        Pseudonyms(b"")


def test_the_rewrite_renames_every_agent_of_the_account_and_drops_its_name() -> None:
    statement = {
        "id": "s-1",
        "actor": agent(str(USER), name="Ada Lovelace"),
        "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
        "object": agent(str(USER)),
        "context": {
            "instructor": agent(str(USER), name="Ada"),
            "extensions": {"https://x/ext": str(USER)},  # plain text: not an agent, kept
        },
        "authority": agent("platform"),
    }
    rewritten, changed = pseudonymise(statement, HOME, str(USER), "p-1")
    assert changed
    assert rewritten["actor"] == agent("p-1")
    assert rewritten["object"] == agent("p-1")
    assert rewritten["context"]["instructor"] == agent("p-1")
    assert rewritten["context"]["extensions"] == statement["context"]["extensions"]
    assert rewritten["authority"] == agent("platform")
    assert statement["actor"]["account"]["name"] == str(USER)  # the input is not modified


def test_another_home_page_or_user_is_left_alone() -> None:
    statement = {"actor": agent(str(USER), home="https://elsewhere.example"), "object": agent(str(uuid.uuid4()))}
    rewritten, changed = pseudonymise(statement, HOME, str(USER), "p-1")
    assert not changed
    assert rewritten == statement


def test_the_account_key_is_the_agent_column() -> None:
    assert account_key(HOME, "u") == f"account:{HOME}|u"


_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8), st.just(str(USER)))
_json = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(["a", "b", "name", "actor", "object"]), inner, max_size=4),
        st.builds(lambda name, extra: agent(str(USER), name=name, **extra), st.text(max_size=5), st.just({})),
    ),
    max_leaves=20,
)


@given(_json)
def test_after_the_rewrite_no_agent_names_the_account(data: Any) -> None:
    rewritten, changed = pseudonymise(data, HOME, str(USER), "pseudonym")
    text = json.dumps(data)
    again = json.dumps(rewritten)
    assert f'"homePage": "{HOME}", "name": "{USER}"' not in again
    assert changed == (f'"homePage": "{HOME}", "name": "{USER}"' in text)
    if not changed:
        assert rewritten == data
    assert pseudonymise(rewritten, HOME, str(USER), "pseudonym") == (rewritten, False)


def test_accounts_named_finds_every_agent_of_the_platform_anywhere() -> None:
    other, member = uuid.uuid4(), uuid.uuid4()
    statement = {
        "actor": {"objectType": "Group", "member": [agent(str(member)), agent("x", home="https://elsewhere")]},
        "object": agent(str(USER), name="Ada"),
        "context": {"instructor": agent(str(other)), "extensions": {"https://x/e": {"account": {"name": 7}}}},
    }
    assert accounts_named(statement, HOME) == {str(USER), str(other), str(member)}
    assert accounts_named(statement, "https://elsewhere") == {"x"}
    assert accounts_named({"actor": {"mbox": "mailto:a@example.org"}}, HOME) == set()


@given(_json)
def test_accounts_named_agrees_with_the_rewrite(data: Any) -> None:
    # The writers decide from accounts_named which accounts to rewrite: it must see every one pseudonymise does.
    _, changed = pseudonymise(data, HOME, str(USER), "pseudonym")
    assert (str(USER) in accounts_named(data, HOME)) == changed


def test_the_writers_find_every_account_a_statement_names_as_its_json_walk_does() -> None:
    # accounts_of(anywhere=True) reads the model, not the JSON (a dump per statement cost 7 ms per POST): it
    # must find what accounts_named finds in the JSON, wherever the model lets an account be.
    ids = [str(uuid.uuid4()) for _ in range(9)]

    def activity(n: int) -> dict[str, Any]:
        return {"id": f"{HOME}/a/{n}", "definition": {"extensions": {"https://x/who": agent(ids[n])}}}

    data = {
        "id": str(uuid.uuid4()),
        "actor": agent(ids[0]),
        "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
        "object": agent(ids[1]),
        "authority": agent(ids[2]),
        "result": {"extensions": {"https://x/r": [{"nested": agent(ids[3])}]}},
        "context": {
            "instructor": agent(ids[4]),
            "extensions": {"https://x/c": agent(ids[5])},
            "contextActivities": {"parent": [activity(6)], "other": [activity(7)]},
        },
        "timestamp": "2026-12-01T10:00:00Z",
    }
    about_an_activity = {**data, "id": str(uuid.uuid4()), "object": activity(8)}
    for each in (data, about_an_activity, {**data, "actor": agent("not-a-uuid")}, {**data, "context": None}):
        statement = Statement.from_json({k: v for k, v in each.items() if v is not None})
        expected = {n for n in accounts_named(statement.as_json(), HOME) if n in ids}
        assert accounts_of([statement], HOME, anywhere=True) == expected
    assert accounts_of([Statement.from_json(data)], HOME, anywhere=True) == set(ids) - {ids[8]}
    assert accounts_of([Statement.from_json(about_an_activity)], HOME, anywhere=True) == set(ids) - {ids[1]}
    assert accounts_of([Statement.from_json(data)], HOME) == {ids[0]}  # the projection's actors only
