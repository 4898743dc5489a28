"""Statements as an LRS client sends them, into the core's model (xAPI 1.0.3, Data and Communication 2.1).

What the store sets is set here: an ``id`` when the client sent none (POST), ``timestamp`` = now when
absent, ``version`` 1.0.0 when absent (as the specification says), ``authority`` = the credential (any
sent one is overwritten). ``stored`` is the store's. What the core's model does not cover is refused by
name with a 400 rather than dropped: Groups (as actor, object or team), SubStatements, attachments.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from elearning_core.analytics.model import Agent, Statement
from elearning_core.shared.errors import FieldError, ValidationFailed

MAX_STATEMENTS = 1000
"""Statements per POST (the body's byte size is bounded at the HTTP edge too)."""


class NotSupported(ValidationFailed):
    """A part of xAPI this LRS does not store (the 400 names it)."""


def _refuse_unsupported(data: dict[str, Any], where: str) -> None:
    actor = data.get("actor")
    if isinstance(actor, dict) and actor.get("objectType") == "Group":
        raise NotSupported(
            f"{where}: Groups are not supported as actor by this LRS", [FieldError(f"{where}.actor", "Group")]
        )
    obj = data.get("object")
    if isinstance(obj, dict) and obj.get("objectType") in ("SubStatement", "Group"):
        kind = obj["objectType"]
        raise NotSupported(
            f"{where}: {kind} objects are not supported by this LRS", [FieldError(f"{where}.object", kind)]
        )
    if "attachments" in data:
        raise NotSupported(
            f"{where}: attachments are not supported by this LRS", [FieldError(f"{where}.attachments", "not supported")]
        )
    context = data.get("context")
    if isinstance(context, dict):
        if "team" in context:
            raise NotSupported(
                f"{where}: context.team (a Group) is not supported by this LRS",
                [FieldError(f"{where}.context.team", "")],
            )
        instructor = context.get("instructor")
        if isinstance(instructor, dict) and instructor.get("objectType") == "Group":
            raise NotSupported(
                f"{where}: a Group as context.instructor is not supported by this LRS",
                [FieldError(f"{where}.context.instructor", "Group")],
            )


def _field_errors(exc: ValidationError, where: str) -> list[FieldError]:
    out = []
    for error in exc.errors()[:20]:
        path = ".".join(str(p) for p in error["loc"] if not str(p).startswith("function-"))
        out.append(FieldError(f"{where}.{path}" if path else where, error["msg"]))
    return out


def parse_statement(
    data: Any, *, where: str, now: datetime, authority: Agent, statement_id: uuid.UUID | None = None
) -> Statement:
    if not isinstance(data, dict):
        raise ValidationFailed(f"{where}: a statement is a JSON object", [FieldError(where, "not an object")])
    _refuse_unsupported(data, where)
    body = dict(data)
    sent_id = body.get("id")
    if statement_id is not None:
        if sent_id is not None and str(sent_id).lower() != str(statement_id):
            raise ValidationFailed(
                f"{where}: the statement's id {sent_id} differs from statementId {statement_id}",
                [FieldError(f"{where}.id", "differs from statementId")],
            )
        body["id"] = str(statement_id)
    elif sent_id is None:
        body["id"] = str(uuid.uuid4())
    version = body.get("version", "1.0.0")
    if not isinstance(version, str) or not version.startswith("1.0."):
        raise ValidationFailed(
            f"{where}: version {version!r} is not 1.0.x", [FieldError(f"{where}.version", "must be 1.0.x")]
        )
    body["version"] = version
    body.setdefault("timestamp", now.isoformat())
    body.pop("stored", None)
    body["authority"] = authority.model_dump(mode="json", by_alias=True, exclude_none=True)
    try:
        statement = Statement.model_validate(body)
    except ValidationError as exc:
        raise ValidationFailed(f"{where}: not a valid xAPI statement", _field_errors(exc, where)) from None
    try:
        statement.actor.key()
        if isinstance(statement.object, Agent):
            statement.object.key()
    except ValueError as exc:
        raise ValidationFailed(f"{where}: {exc}", [FieldError(f"{where}.actor", str(exc))]) from None
    if statement.timestamp.tzinfo is None:
        raise ValidationFailed(
            f"{where}: the timestamp needs a time zone", [FieldError(f"{where}.timestamp", "no time zone")]
        )
    return statement


def parse_statements(data: Any, *, now: datetime, authority: Agent) -> list[Statement]:
    """A POST body: one statement or an array of them."""
    if isinstance(data, list):
        if not data:
            raise ValidationFailed("the array holds no statement", [FieldError("body", "empty")])
        if len(data) > MAX_STATEMENTS:
            raise ValidationFailed(
                f"at most {MAX_STATEMENTS} statements per request, got {len(data)}", [FieldError("body", "too many")]
            )
        return [parse_statement(item, where=f"[{i}]", now=now, authority=authority) for i, item in enumerate(data)]
    return [parse_statement(data, where="statement", now=now, authority=authority)]


def parse_agent(text: str) -> Agent:
    """The ``agent`` query parameter (JSON), as the actor it matches; Groups are refused."""
    try:
        data = json.loads(text)
    except ValueError:
        raise ValidationFailed("agent is not JSON", [FieldError("agent", "not JSON")]) from None
    if isinstance(data, dict) and data.get("objectType") == "Group":
        raise NotSupported("agent: Groups are not supported by this LRS", [FieldError("agent", "Group")])
    try:
        agent = Agent.model_validate(data)
        agent.key()
    except (ValidationError, ValueError) as exc:
        detail = str(exc).splitlines()[0]
        raise ValidationFailed(f"agent is not an xAPI Agent: {detail}", [FieldError("agent", "not an Agent")]) from None
    return agent
