"""A learner's response to a question in xAPI's ``result.response`` format for its interaction type
(``[,]`` between items, ``[.]`` inside a matching pair); None when there is nothing to write."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _items(value: Any) -> list[str]:
    return [str(x) for x in value] if isinstance(value, list | tuple) else []


def _pairs(value: Any) -> list[str]:
    return [f"{k}[.]{x}" for k, x in sorted(value.items())] if isinstance(value, Mapping) else []


def response_text(kind: str, response: Mapping[str, Any] | None) -> str | None:
    if response is None:
        return None
    text: str | None = None
    match kind:
        case "single_choice":
            choice = response.get("choice")
            text = str(choice) if choice is not None else None
        case "multiple_response":
            text = "[,]".join(_items(response.get("choices")))
        case "true_false":
            value = response.get("value")
            text = ("true" if value else "false") if isinstance(value, bool) else None
        case "numeric":
            value = response.get("value")
            text = str(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
        case "short_text":
            value = response.get("text")
            text = value if isinstance(value, str) else None
        case "ordering":
            text = "[,]".join(_items(response.get("order")))
        case "matching":
            text = "[,]".join(_pairs(response.get("pairs")))
        case "fill_blanks":
            blanks = response.get("blanks")
            text = "[,]".join(str(x) for _, x in sorted(blanks.items())) if isinstance(blanks, Mapping) else None
    return text or None
