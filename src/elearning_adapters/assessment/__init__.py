"""Assessment adapters: regular expressions with a time limit for short-text answers."""

from elearning_adapters.assessment.patterns import RegexPatternMatcher

__all__ = ["RegexPatternMatcher"]
