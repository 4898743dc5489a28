"""Markdown to safe HTML: markdown-it-py (CommonMark, raw HTML allowed in) then nh3 (an allowlist).

Authors may write raw HTML in their Markdown; it is never trusted. Whatever
markdown-it produces goes through nh3, which keeps only the tags and
attributes below, only http(s)/mailto URLs (relative ones pass), drops
``<script>``, ``<style>``, ``<iframe>`` and the like with their content,
strips every event handler and comment, and gives every link
``rel="noopener noreferrer nofollow"``. Sanitising last means a bug or a new
feature in the Markdown parser cannot open a hole.
"""

from __future__ import annotations

import re

import nh3
from markdown_it import MarkdownIt

from elearning_core.course.ports import MarkdownRenderer

ALLOWED_TAGS = frozenset(
    {
        *(f"h{n}" for n in range(1, 7)),
        "p",
        "br",
        "hr",
        "blockquote",
        "pre",
        "code",
        "kbd",
        "samp",
        "strong",
        "em",
        "b",
        "i",
        "u",
        "s",
        "del",
        "ins",
        "mark",
        "sub",
        "sup",
        "small",
        "span",
        "div",
        "ul",
        "ol",
        "li",
        "dl",
        "dt",
        "dd",
        "a",
        "img",
        "figure",
        "figcaption",
        "table",
        "thead",
        "tbody",
        "tfoot",
        "tr",
        "th",
        "td",
        "caption",
        "abbr",
        "details",
        "summary",
    }
)
# Removed together with everything inside them (not merely unwrapped).
DROPPED_WITH_CONTENT = frozenset(
    {"script", "style", "iframe", "frame", "frameset", "object", "embed", "noscript", "template", "svg", "math"}
)
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "abbr": {"title"},
    "ol": {"start"},
    "th": {"align", "colspan", "rowspan"},
    "td": {"align", "colspan", "rowspan"},
    "code": {"class"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow"

_LANGUAGE_CLASS = re.compile(r"^language-[A-Za-z0-9_+\-]{1,40}$")


def _filter_attribute(element: str, attribute: str, value: str) -> str | None:
    """Keep only ``class="language-x"`` on code (syntax highlighting hints); other classes go."""
    if attribute == "class":
        return value if element == "code" and _LANGUAGE_CLASS.fullmatch(value) else None
    return value


class SanitizingMarkdownRenderer(MarkdownRenderer):
    def __init__(self) -> None:
        self._markdown = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])

    def render(self, markdown: str) -> str:
        return sanitize_html(self._markdown.render(markdown))


def sanitize_html(html: str) -> str:
    """Any HTML to the allowlisted subset above."""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_filter_attribute,
        strip_comments=True,
        link_rel=LINK_REL,
        url_schemes=set(URL_SCHEMES),
    )
