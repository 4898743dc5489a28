"""The course's value rules: limits, enums, and the checks for titles, slugs, languages, tags, URLs and storage keys."""

from __future__ import annotations

import re
import unicodedata
import urllib.parse
import uuid
from collections.abc import Collection, Sequence
from enum import StrEnum

from elearning_core.shared.errors import FieldError, ValidationFailed
from elearning_core.shared.text import text_problem

TITLE_MAX = 200
SUMMARY_MAX = 500
DESCRIPTION_MAX = 20_000
SLUG_MIN, SLUG_MAX = 3, 80
TAG_MAX, TAGS_MAX = 40, 20
SECTIONS_MAX, LESSONS_MAX = 200, 1_000
BODY_MAX_BYTES = 100 * 1024
ATTACHMENTS_MAX = 20
ATTACHMENT_NAME_MAX = 255
URL_MAX = 2_048
STORAGE_KEY_MAX = 512
CONTENT_TYPE_MAX = 127
ATTACHMENT_SIZE_MAX = 5 * 1024**3
DURATION_MAX = 24 * 3600
RELEASE_AFTER_DAYS_MAX = 3_650
SNAPSHOT_FORMAT = 1

_SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,8})*$")
_TAG_RE = re.compile(r"^[a-z0-9][a-z0-9 +#.\-]*$")
_STORAGE_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*(?:/[A-Za-z0-9][A-Za-z0-9._\-]*)*$")
_CONTENT_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+\-]*/[a-z0-9][a-z0-9!#$&^_.+\-]*$")
# Characters that are unsafe in a file name on some system or in a Content-Disposition header.
_UNSAFE_NAME_CHARS = frozenset('/\\<>:"|?*')


class CourseStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class LessonKind(StrEnum):
    TEXT = "text"
    VIDEO = "video"
    ASSESSMENT = "assessment"


class Access(StrEnum):
    """What a caller may do with a lesson's content (see ``elearning_core.course.gating``)."""

    OPEN = "open"
    ENROLLMENT_REQUIRED = "enrollment_required"
    NOT_YET_RELEASED = "not_yet_released"
    LOCKED = "locked"
    """Released, but behind a requirement the learner does not meet yet (conditional release)."""
    ENTITLEMENT_REQUIRED = "entitlement_required"
    """Enrolled, but without access to the paid course now (the entitlement check's ``refusal`` says why)."""


class Level(StrEnum):
    BEGINNER = "beginner"
    INTERMEDIATE = "intermediate"
    ADVANCED = "advanced"
    ALL_LEVELS = "all_levels"


def _invalid(field_name: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{field_name} {message}", [FieldError(field_name, message)])


def check_title(value: str, field_name: str = "title") -> str:
    value = value.strip()
    if not value:
        raise _invalid(field_name, "must not be blank")
    if len(value) > TITLE_MAX:
        raise _invalid(field_name, f"must be at most {TITLE_MAX} characters")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise _invalid(field_name, "must not contain control characters")
    return value


def check_text(value: str, field_name: str, max_length: int) -> str:
    if len(value) > max_length:
        raise _invalid(field_name, f"must be at most {max_length} characters")
    problem = text_problem(value)  # the shared rule again, for callers that skip the commands
    if problem is not None:
        raise _invalid(field_name, problem)
    return value


def check_slug(value: str) -> str:
    """A slug is 3-80 characters of lowercase ASCII letters and digits in hyphen-separated words."""
    if not SLUG_MIN <= len(value) <= SLUG_MAX:
        raise _invalid("slug", f"must be {SLUG_MIN} to {SLUG_MAX} characters long")
    if not _SLUG_RE.fullmatch(value):
        raise _invalid("slug", "must be lowercase letters and digits separated by single hyphens")
    return value


def slugify(text: str) -> str:
    """A valid slug derived from ``text``: transliterated to ASCII, lowercased, hyphenated, padded if short.

    Transliteration is python-slugify's (the Russian title "Kurs po Java", in Cyrillic letters,
    gives ``kurs-po-java``; ``Crème brûlée`` gives ``creme-brulee``): a pure, maintained text
    library without I/O, so the core may use it (import-linter forbids infrastructure libraries).
    """
    from slugify import slugify as _slugify  # here: the CLI's option checks do not need it

    slug = _slugify(text, max_length=SLUG_MAX, word_boundary=True)
    if len(slug) < SLUG_MIN:
        slug = f"{slug}-course" if slug else "course"
    return slug


def slug_with_suffix(base: str, number: int) -> str:
    """The ``number``-th candidate for ``base``: ``base`` itself for 1, else ``base-N`` cut to fit ``SLUG_MAX``."""
    if number <= 1:
        return base
    suffix = f"-{number}"
    return base[: SLUG_MAX - len(suffix)].rstrip("-") + suffix


def first_free_slug(base: str, taken: Collection[str]) -> str:
    """``base``, or the lowest ``base-N`` (N >= 2) that is not ``taken``."""
    number = 1
    while (candidate := slug_with_suffix(base, number)) in taken:
        number += 1
    return candidate


def check_language(value: str) -> str:
    """A BCP 47 style language tag (``en``, ``pt-br``), stored lowercase."""
    value = value.strip().lower()
    if not _LANGUAGE_RE.fullmatch(value) or len(value) > 35:
        raise _invalid("language", "must be a language tag such as 'en' or 'pt-br'")
    return value


def check_tags(values: Sequence[str]) -> list[str]:
    """Tags are trimmed, lowercased, de-duplicated (first occurrence wins) and capped."""
    tags: list[str] = []
    for raw in values:
        tag = " ".join(raw.split()).lower()
        if not tag or len(tag) > TAG_MAX or not _TAG_RE.fullmatch(tag):
            raise _invalid("tags", f"tag {raw!r} must be 1 to {TAG_MAX} letters, digits, spaces or + # . -")
        if tag not in tags:
            tags.append(tag)
    if len(tags) > TAGS_MAX:
        raise _invalid("tags", f"at most {TAGS_MAX} tags")
    return tags


def _check_permutation(kind: str, current: Sequence[uuid.UUID], proposed: Sequence[uuid.UUID]) -> None:
    if len(proposed) != len(set(proposed)):
        raise _invalid(f"{kind}_ids", "must name each item exactly once (duplicates given)")
    if set(proposed) != set(current):
        missing = len(set(current) - set(proposed))
        unknown = len(set(proposed) - set(current))
        raise _invalid(
            f"{kind}_ids",
            f"must name every {kind} of the course exactly once ({missing} missing, {unknown} unknown)",
        )


def check_attachment_name(value: str, field_name: str) -> str:
    """A file name a browser may offer to save: no path, no control or reserved characters."""
    value = value.strip()
    if not value or len(value) > ATTACHMENT_NAME_MAX:
        raise _invalid(field_name, f"must be 1 to {ATTACHMENT_NAME_MAX} characters")
    if value.startswith(".") or any(
        ch in _UNSAFE_NAME_CHARS or unicodedata.category(ch) in ("Cc", "Cf") for ch in value
    ):
        raise _invalid(field_name, 'must be a plain file name (no path, no leading dot, none of / \\ < > : " | ? *)')
    return value


def check_url(value: str, field_name: str) -> str:
    """An absolute http(s) URL with a host; nothing else (no javascript:, data:, file: ...)."""
    if len(value) > URL_MAX or any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in value):
        raise _invalid(field_name, f"must be an http(s) URL of at most {URL_MAX} characters without spaces")
    try:
        parts = urllib.parse.urlsplit(value)
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not host:
        raise _invalid(field_name, "must be an absolute http:// or https:// URL")
    return value


def check_storage_key(value: str, field_name: str) -> str:
    """A key in the platform's file storage: relative path segments of safe characters, no ``..``."""
    segments = value.split("/")
    if (
        len(value) > STORAGE_KEY_MAX
        or not _STORAGE_KEY_RE.fullmatch(value)
        or any(segment in (".", "..") or segment.startswith("..") for segment in segments)
    ):
        raise _invalid(
            field_name, f"must be a storage key of at most {STORAGE_KEY_MAX} letters, digits, '.', '_', '-' and '/'"
        )
    return value
