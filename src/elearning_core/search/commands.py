"""The search module's inputs."""

from __future__ import annotations

from pydantic import Field

from elearning_core.shared.inputs import InputModel


class SynonymsSpec(InputModel):
    """The words or phrases a term also finds; replaces the term's previous list."""

    synonyms: list[str] = Field(min_length=1, max_length=20, description="Words or phrases (1 to 20)")
