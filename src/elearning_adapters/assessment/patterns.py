"""Short-text answer patterns through the ``regex`` package, whose matcher takes a timeout.

Instructors write the patterns and learners write the text, and either can be
hostile or just unlucky: ``(a|aa)+$`` against forty a's and a ``!`` backtracks
for minutes. The stdlib ``re`` cannot be interrupted, so a worker scoring a
submit would hang; ``regex`` checks a deadline while it backtracks and raises
``TimeoutError``, which becomes the core's ``PatternTimeout`` (the item then
waits for a person). Texts longer than ``max_text`` are treated the same way
without running at all, since the time a match takes grows with the text.
"""

from __future__ import annotations

import functools

import regex

from elearning_core.assessment.model import PATTERN_MAX, PatternMatcher, PatternTimeout


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str, flags: int) -> regex.Pattern[str]:
    """Compiling costs far more than a typical match, and a quiz scores the same few patterns for
    every learner; the bound keeps a stream of distinct patterns from growing memory."""
    return regex.compile(pattern, flags)


class RegexPatternMatcher(PatternMatcher):
    def __init__(self, timeout_seconds: float = 0.05, max_text: int = 20_000) -> None:
        if not timeout_seconds > 0:
            raise ValueError("timeout_seconds must be positive")
        if max_text < 1:
            raise ValueError("max_text must be at least 1")
        self._timeout = timeout_seconds
        self._max_text = max_text

    def problem(self, pattern: str) -> str | None:
        if len(pattern) > PATTERN_MAX:
            return f"the pattern is {len(pattern)} characters long; at most {PATTERN_MAX}"
        try:
            _compiled(pattern, 0)
        except regex.error as exc:
            return f"the pattern does not compile: {exc}"
        except (ValueError, OverflowError, RecursionError) as exc:  # e.g. huge repeat counts
            return f"the pattern cannot be used: {exc}"
        return None

    def fullmatch(self, pattern: str, text: str, *, ignore_case: bool) -> bool:
        if len(text) > self._max_text:
            raise PatternTimeout(f"the text is {len(text)} characters long; patterns run on at most {self._max_text}")
        try:
            compiled = _compiled(pattern, regex.IGNORECASE if ignore_case else 0)
        except (regex.error, ValueError, OverflowError, RecursionError) as exc:
            # Stored keys were checked by problem(); one that no longer compiles (a library upgrade)
            # goes to a person like a timeout rather than failing the whole submit.
            raise PatternTimeout(f"the pattern cannot be used: {exc}") from exc
        try:
            return compiled.fullmatch(text, timeout=self._timeout) is not None
        except TimeoutError as exc:
            raise PatternTimeout(f"the pattern ran out of time ({self._timeout:g} s)") from exc
