"""Validation errors name fields by their JSON path, never by the union members pydantic inserts."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel


def json_path(annotation: Any, keys: list[str]) -> list[str]:
    """``keys`` as pydantic names them, without the union members it inserts (class names, tags).

    ``slots.0.FixedSlotInput.question_id`` -> ``slots.0.question_id``;
    ``body.single_choice.options.0.text`` -> ``body.options.0.text``.
    """
    path: list[str] = []
    current: Any = annotation
    for key in keys:
        members = _union_members(current)
        if members:
            chosen = next((m for m in members if _names_member(m, key)), None)
            if chosen is not None:
                current = chosen
                continue
        path.append(key)
        current = _child(current, key)
    return path


def _unwrap(annotation: Any) -> Any:
    while get_origin(annotation) is typing.Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _union_members(annotation: Any) -> list[Any]:
    annotation = _unwrap(annotation)
    if get_origin(annotation) in (Union, types.UnionType):
        members = [_unwrap(a) for a in get_args(annotation) if a is not type(None)]
        return members if len(members) > 1 else []
    return []


def _names_member(member: Any, key: str) -> bool:
    if getattr(member, "__name__", None) == key or repr(member) == key:
        return True
    if isinstance(member, type) and issubclass(member, BaseModel):
        for field in member.model_fields.values():
            if get_origin(field.annotation) is typing.Literal and key in map(str, get_args(field.annotation)):
                return True
    origin = get_origin(member)
    return origin is not None and getattr(origin, "__name__", None) == key


def _child(annotation: Any, key: str) -> Any:
    annotation = _unwrap(annotation)
    if get_origin(annotation) in (Union, types.UnionType):
        members = [_unwrap(a) for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            annotation = members[0]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(key)
        return field.annotation if field is not None else Any
    if dataclasses.is_dataclass(annotation):
        hints = typing.get_type_hints(annotation)
        return hints.get(key, Any)
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (list, tuple, set, frozenset) and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    return Any
