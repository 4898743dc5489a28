"""xAPI 1.0.3 statements: the platform's model of the Statement resource and its parts.

Frozen pydantic models whose JSON (``Statement.as_json()``, by alias, without empty fields) is the
statement as the xAPI specification writes it. Only the parts the platform produces or stores need
a shape here; what an external tool may add inside ``extensions`` stays free-form JSON.

Two statements are "the same" when their content is equal apart from what the store sets
(``stored``, ``authority``, ``version``): ``content_digest`` is that comparison, so a re-sent
statement is a no-op and a reused id with other content is a conflict (xAPI 1.0.3, 2.2.1).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Discriminator, Field, Tag
from pydantic.alias_generators import to_camel

from elearning_core.analytics.vocabulary import VOIDED, XAPI_VERSION, VerbTerm
from elearning_core.shared.inputs import InputModel


class XapiModel(InputModel):
    """An xAPI object as LRS clients send it: an input like any other (frozen, unknown fields refused, every
    string storable text, so a NUL sent in a statement is a 400, not a failed JSON column write)."""

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)


class Account(XapiModel):
    home_page: str
    name: str


class Agent(XapiModel):
    """An actor identified by an account on the platform (the only identifier the platform writes)."""

    object_type: Literal["Agent"] = "Agent"
    name: str | None = None
    account: Account | None = None
    mbox: str | None = None
    mbox_sha1sum: str | None = Field(default=None, alias="mbox_sha1sum")
    openid: str | None = None

    def key(self) -> str:
        """The inverse functional identifier as one string: what ``agent`` queries match."""
        if self.account is not None:
            return f"account:{self.account.home_page}|{self.account.name}"
        if self.mbox is not None:
            return f"mbox:{self.mbox}"
        if self.mbox_sha1sum is not None:
            return f"mbox_sha1sum:{self.mbox_sha1sum}"
        if self.openid is not None:
            return f"openid:{self.openid}"
        raise ValueError("an agent needs an identifier (account, mbox, mbox_sha1sum or openid)")


class Verb(XapiModel):
    id: str
    display: dict[str, str] | None = None

    @classmethod
    def of(cls, term: VerbTerm) -> Verb:
        return cls(id=term.id, display={"en-US": term.display})


class InteractionComponent(XapiModel):
    id: str
    description: dict[str, str] | None = None


class ActivityDefinition(XapiModel):
    type: str | None = None
    name: dict[str, str] | None = None
    description: dict[str, str] | None = None
    more_info: str | None = None
    interaction_type: str | None = None
    correct_responses_pattern: list[str] | None = None
    choices: list[InteractionComponent] | None = None
    scale: list[InteractionComponent] | None = None
    source: list[InteractionComponent] | None = None
    target: list[InteractionComponent] | None = None
    steps: list[InteractionComponent] | None = None
    extensions: dict[str, Any] | None = None


class Activity(XapiModel):
    object_type: Literal["Activity"] = "Activity"
    id: str
    definition: ActivityDefinition | None = None


class StatementRef(XapiModel):
    object_type: Literal["StatementRef"] = "StatementRef"
    id: uuid.UUID


class Score(XapiModel):
    scaled: float | None = Field(default=None, ge=-1, le=1)
    raw: float | None = None
    min: float | None = None
    max: float | None = None


class Result(XapiModel):
    score: Score | None = None
    success: bool | None = None
    completion: bool | None = None
    response: str | None = None
    duration: str | None = None
    extensions: dict[str, Any] | None = None


class ContextActivities(XapiModel):
    parent: list[Activity] | None = None
    grouping: list[Activity] | None = None
    category: list[Activity] | None = None
    other: list[Activity] | None = None


class Context(XapiModel):
    registration: uuid.UUID | None = None
    instructor: Agent | None = None
    context_activities: ContextActivities | None = None
    revision: str | None = None
    platform: str | None = None
    language: str | None = None
    statement: StatementRef | None = None
    extensions: dict[str, Any] | None = None


def _object_type(value: Any) -> str:
    """An object without ``objectType`` is an Activity (xAPI 1.0.3, 2.4.4)."""
    if isinstance(value, dict):
        return str(value.get("objectType", value.get("object_type", "Activity")))
    return str(getattr(value, "object_type", "Activity"))


StatementObject = Annotated[
    Annotated[Activity, Tag("Activity")]
    | Annotated[StatementRef, Tag("StatementRef")]
    | Annotated[Agent, Tag("Agent")],
    Discriminator(_object_type),
]


class Statement(XapiModel):
    id: uuid.UUID
    actor: Agent
    verb: Verb
    object: StatementObject
    result: Result | None = None
    context: Context | None = None
    timestamp: datetime
    stored: datetime | None = None
    authority: Agent | None = None
    version: str = XAPI_VERSION

    def as_json(self) -> dict[str, Any]:
        """The statement as xAPI JSON (camelCase, empty parts left out)."""
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Statement:
        return cls.model_validate(data)

    @property
    def voided_target(self) -> uuid.UUID | None:
        """The id of the statement this one voids, when it is a voiding statement."""
        if self.verb.id == VOIDED.id and isinstance(self.object, StatementRef):
            return self.object.id
        return None

    @property
    def activity_id(self) -> str | None:
        return self.object.id if isinstance(self.object, Activity) else None

    def content_digest(self) -> str:
        """A digest of what the statement says, without what a store sets (``stored``, ``authority``,
        ``version``): equal digests are the same statement."""
        return digest_of(self.as_json())


_SET_BY_THE_STORE = ("stored", "authority", "version")


def digest_of(data: dict[str, Any]) -> str:
    """``Statement.content_digest`` of a statement's JSON (``as_json()``), for a caller that has it already."""
    return encoded(data)[1]


def encoded(data: dict[str, Any]) -> tuple[str, str]:
    """A statement's JSON (``as_json()``, with ``stored`` or not) as one JSON text, and its content digest, from
    one encoding: the digest is of the canonical text of what the statement says (sorted keys, without what a
    store sets), and the text is that canonical text with the store's parts appended (a store writes it as is)."""
    said = {key: value for key, value in data.items() if key not in _SET_BY_THE_STORE}
    canonical = json.dumps(said, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    rest = {key: data[key] for key in _SET_BY_THE_STORE if key in data}
    if not rest:
        return canonical, digest
    tail = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return (f"{canonical[:-1]},{tail[1:]}" if said else tail), digest


@dataclass(frozen=True, slots=True)
class StoredStatement:
    """A statement as the store keeps it: its position in stored order, and whether it is voided (what the
    store gives back, not an input: a dataclass, as the core's other read results)."""

    seq: int
    statement: Statement
    voided: bool = False
