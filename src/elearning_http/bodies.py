"""Request bodies are validated as the JSON they are, strictly: ``false`` is not a number, ``"3"`` is not one.

Litestar hands pydantic the body already decoded to Python objects and validates in pydantic's lax
Python mode, where ``true`` passes for ``1``, ``"42"`` for ``42`` and ``1`` for ``true``: the schema
says integer, boolean, and the server took something else. Here each body model validates the JSON
text in pydantic's strict JSON mode instead, in which exactly what the schema says is accepted
(dates, UUIDs and enum values still arrive as the strings JSON has for them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from litestar._signature.types import ExtendedMsgSpecValidationError  # what Litestar turns into field errors
from litestar.plugins.pydantic import PydanticInitPlugin
from pydantic import BaseModel, ValidationError


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _strict_json(model_type: type[BaseModel], value: Any) -> BaseModel:
    if isinstance(value, model_type):
        return value
    try:
        return model_type.model_validate_json(msgspec.json.encode(value), strict=True)
    except ValidationError as exc:
        raise ExtendedMsgSpecValidationError(errors=[dict(e) for e in exc.errors(include_input=False)]) from exc


class StrictJsonBodies(PydanticInitPlugin):
    """Litestar's pydantic plugin, but body models validate in strict JSON mode."""

    @classmethod
    def decoders(cls, validate_strict: bool = False) -> list[tuple[Callable[[Any], bool], Callable[[Any, Any], Any]]]:
        return [(_is_model, _strict_json), *super().decoders(validate_strict)]
