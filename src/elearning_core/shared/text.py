"""The text rule alone, without pydantic: what a database can store as text.

``elearning_core.shared.inputs`` applies it to every input model and re-exports these names; value checks
that need only the rule (the course's, which the CLI's options use) import it from here, so building a
command's options does not import the input models.
"""

from __future__ import annotations

NUL_MESSAGE = "contains a NUL character"


def text_problem(value: str) -> str | None:
    """Why a database cannot store ``value`` as text, or None when it can.

    NUL is the one character of Unicode text that PostgreSQL ``text`` and ``jsonb``
    refuse. (A lone surrogate is not text at all: pydantic's own string
    validation and the JSON decoder refuse it already.) One C-level scan.
    """
    return NUL_MESSAGE if "\x00" in value else None
