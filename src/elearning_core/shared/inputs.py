"""The bounds every input keeps, whatever module it belongs to: text a database can store, integers a column can hold.

Every input model of the platform (a module's commands, the HTTP request bodies)
derives from :class:`InputModel`. It refuses unknown fields, and it applies the
text rule to every string it validates, at any depth (list items, dict keys and
values, nested models, free-form JSON values) without a field having to ask for
it: PostgreSQL ``text`` and ``jsonb`` cannot hold a NUL character, so a string with
one used to reach the database and fail there (a 500), while SQLite stored it.
Refused here, it is the same 422 naming the field on every backend, for every
caller (HTTP, CLI, embedding code).

Integer fields take one of the bounded types below, whose range matches the
column that stores them (``Integer`` is 32-bit on PostgreSQL, ``BigInteger`` and
every SQLite integer 64-bit), so a value beyond it is a validation error rather
than an overflow in the driver.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

from elearning_core.shared.text import NUL_MESSAGE, text_problem

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
"""The range of an ``Integer`` column (PostgreSQL int4)."""
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
"""The range of a ``BigInteger`` column, and of any SQLite integer."""

Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]
NonNegativeInt32 = Annotated[int, Field(ge=0, le=INT32_MAX)]
PositiveInt32 = Annotated[int, Field(ge=1, le=INT32_MAX)]
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
NonNegativeInt64 = Annotated[int, Field(ge=0, le=INT64_MAX)]


def storable_text(value: str) -> str:
    """A pydantic validator: ``value`` unchanged, or a validation error saying why it cannot be stored."""
    problem = text_problem(value)
    if problem is not None:
        raise PydanticCustomError("unstorable_text", problem)
    return value


def json_text_problem(value: Any) -> str | None:
    """:func:`text_problem` of the first string (key or value) anywhere in a decoded JSON value."""
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, dict):
        for key, item in value.items():
            problem = json_text_problem(key) or json_text_problem(item)
            if problem is not None:
                return problem
    elif isinstance(value, list | tuple):
        for item in value:
            problem = json_text_problem(item)
            if problem is not None:
                return problem
    return None


def storable_json(value: Any) -> Any:
    """A pydantic validator for free-form (``Any``) values: every string inside must be storable text."""
    problem = json_text_problem(value)
    if problem is not None:
        raise PydanticCustomError("unstorable_text", problem)
    return value


_GUARDS = (storable_text, storable_json)
# Keys whose values are not schemas to guard: references, functions, and data (a default, a literal's values).
_OPAQUE_KEYS = frozenset(
    {
        "metadata",
        "serialization",
        "ref",
        "schema_ref",
        "cls",
        "function",
        "json_schema_input_schema",
        "default",
        "expected",
        "members",
        "config",
    }
)


def _guarded(schema: Any) -> Any:
    """``schema`` (a pydantic core schema) with every ``str`` and ``any`` checked by the text rule.

    Returns new dictionaries where it changes something; the input is not mutated.
    """
    if isinstance(schema, dict):
        kind = schema.get("type")
        if kind == "str":
            return core_schema.no_info_after_validator_function(storable_text, schema)
        if kind == "any":
            return core_schema.no_info_after_validator_function(storable_json, schema)
        if kind == "function-after" and schema.get("function", {}).get("function") in _GUARDS:
            return schema  # a nested model that guarded itself already
        return {key: value if key in _OPAQUE_KEYS else _guarded(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_guarded(item) for item in schema]
    return schema


class InputModel(BaseModel):
    """The base of every input model: frozen, unknown fields refused, every string storable text.

    The text rule is added to the model's core schema when the class is built,
    so it costs one C-level scan per string at validation time and nothing in
    the JSON schema (the OpenAPI document is unchanged).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def __get_pydantic_core_schema__(cls, source: type[BaseModel], handler: GetCoreSchemaHandler) -> Any:
        return _guarded(handler(source))


__all__ = [
    "INT32_MAX",
    "INT32_MIN",
    "INT64_MAX",
    "INT64_MIN",
    "NUL_MESSAGE",
    "InputModel",
    "Int32",
    "Int64",
    "NonNegativeInt32",
    "NonNegativeInt64",
    "PositiveInt32",
    "json_text_problem",
    "storable_json",
    "storable_text",
    "text_problem",
]
