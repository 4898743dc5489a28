"""Lesson content adapters: Markdown rendering and HTML sanitising."""

from elearning_adapters.content.markdown import SanitizingMarkdownRenderer

__all__ = ["SanitizingMarkdownRenderer"]
