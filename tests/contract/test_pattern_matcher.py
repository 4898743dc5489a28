"""The PatternMatcher port: the fake the core tests use and the real ``regex`` adapter agree on one
table, so a short-text question scored in a unit test scores the same in production."""

from __future__ import annotations

import pytest

from elearning_adapters.assessment import RegexPatternMatcher
from elearning_core.assessment.model import PATTERN_MAX, PatternMatcher, PatternTimeout
from tests.fakes import FakePatternMatcher

CASES = [
    ("colou?r", "color", False, True),
    ("colou?r", "colour", False, True),
    ("colou?r", "colours", False, False),  # a full match, not a search
    ("colou?r", "the color", False, False),
    ("colou?r", "COLOR", False, False),
    ("colou?r", "COLOR", True, True),
    ("(?i)paris", "PARIS", False, True),
    (r"\d{3}-\d{4}", "555-1234", False, True),
    (r"\d{3}-\d{4}", "555-12345", False, False),
    ("a|b", "ab", False, False),
    ("a|b", "b", False, True),
    (r"\w+", "café", False, True),
    ("h.llo", "h\nllo", False, False),
    ("new york( city)?", "new york city", False, True),
    ("x*", "", False, True),
    ("x+", "", False, False),
]


@pytest.fixture(params=["fake", "regex"])
def matcher(request: pytest.FixtureRequest) -> PatternMatcher:
    return FakePatternMatcher() if request.param == "fake" else RegexPatternMatcher()


@pytest.mark.parametrize(("pattern", "text", "ignore_case", "expected"), CASES)
def test_fullmatch_table(matcher: PatternMatcher, pattern: str, text: str, ignore_case: bool, expected: bool) -> None:
    assert matcher.problem(pattern) is None
    assert matcher.fullmatch(pattern, text, ignore_case=ignore_case) is expected


@pytest.mark.parametrize("pattern", ["colou?r", r"^\d+(\.\d+)?$", "(?i)paris|rome", "x" * PATTERN_MAX])
def test_usable_patterns_have_no_problem(matcher: PatternMatcher, pattern: str) -> None:
    assert matcher.problem(pattern) is None


@pytest.mark.parametrize("pattern", ["(ab", "[a-", "a**", "a)", "\\"])
def test_a_pattern_that_does_not_compile_is_refused_with_the_reason(matcher: PatternMatcher, pattern: str) -> None:
    problem = matcher.problem(pattern)
    assert problem is not None
    assert problem.startswith("the pattern does not compile: ")
    assert len(problem) > len("the pattern does not compile: ")


def test_a_pattern_over_the_length_limit_is_refused(matcher: PatternMatcher) -> None:
    problem = matcher.problem("x" * (PATTERN_MAX + 1))
    assert problem is not None
    assert str(PATTERN_MAX) in problem


def test_catastrophic_backtracking_raises_pattern_timeout() -> None:
    # ``(a+)+$`` is the textbook case, but ``regex`` optimises that one away; this one really backtracks.
    matcher = RegexPatternMatcher(timeout_seconds=0.05)
    assert matcher.problem("(a|aa)+$") is None
    with pytest.raises(PatternTimeout, match="ran out of time"):
        matcher.fullmatch("(a|aa)+$", "a" * 40 + "!", ignore_case=False)


def test_the_same_pattern_still_matches_benign_text_after_a_timeout() -> None:
    matcher = RegexPatternMatcher(timeout_seconds=0.05)
    with pytest.raises(PatternTimeout):
        matcher.fullmatch("(a|aa)+$", "a" * 40 + "!", ignore_case=False)
    assert matcher.fullmatch("(a|aa)+$", "aaaa", ignore_case=False) is True


def test_text_over_the_limit_is_not_run_and_counts_as_a_timeout() -> None:
    matcher = RegexPatternMatcher(max_text=10)
    assert matcher.fullmatch(".*", "a" * 10, ignore_case=False) is True
    with pytest.raises(PatternTimeout, match="at most 10"):
        matcher.fullmatch(".*", "a" * 11, ignore_case=False)


def test_a_stored_pattern_that_no_longer_compiles_goes_to_a_person() -> None:
    with pytest.raises(PatternTimeout, match="cannot be used"):
        RegexPatternMatcher().fullmatch("(ab", "ab", ignore_case=False)


@pytest.mark.parametrize(("timeout", "max_text"), [(0.0, 10), (-1.0, 10), (0.05, 0)])
def test_nonsense_limits_are_refused(timeout: float, max_text: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        RegexPatternMatcher(timeout_seconds=timeout, max_text=max_text)
