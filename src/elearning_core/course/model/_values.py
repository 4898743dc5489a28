"""Moved to ``elearning_core.course.values`` (light: no pydantic model is built there); kept as an alias."""

from elearning_core.course.values import *  # noqa: F403
