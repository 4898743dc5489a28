"""The Markdown renderer: CommonMark in, HTML that cannot run script out, whatever the input."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elearning_adapters.content import SanitizingMarkdownRenderer

RENDERER = SanitizingMarkdownRenderer()

DANGEROUS_TAGS = {"script", "style", "iframe", "frame", "svg", "math", "object", "embed", "form", "input", "base"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "srcset", "background", "poster"}


class _Tags(HTMLParser):
    """Every tag and attribute a browser would build from the HTML (text is just text)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    handle_startendtag = handle_starttag


def assert_inert(html: str) -> None:
    lowered = html.lower()
    for opening in ("<script", "<iframe", "<svg", "<style"):
        assert opening not in lowered, html
    parser = _Tags()
    parser.feed(html)
    parser.close()
    for tag, attrs in parser.tags:
        assert tag not in DANGEROUS_TAGS, html
        for name, value in attrs:
            assert not name.startswith("on"), html
            assert name != "style", html
            if name in URL_ATTRIBUTES:
                # Browsers ignore leading spaces and control characters in a URL's scheme.
                url = "".join(ch for ch in (value or "") if ch > " ").lower()
                assert not url.startswith(("javascript:", "vbscript:", "data:")), html


XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    '<img src="javascript:alert(1)">',
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](&#106;avascript:alert(1))",
    '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    '<a href=" javascript:alert(1)">x</a>',
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    '<iframe src="https://evil.example"></iframe>',
    "<style>body{background:url(javascript:alert(1))}</style>",
    '<div style="background:url(javascript:alert(1))" onclick="alert(1)">x</div>',
    '<a href="https://ok.example" onmouseover="alert(1)">x</a>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<object data=javascript:alert(1)></object><embed src=javascript:alert(1)>",
    "![x](javascript:alert(1))",
    '<details open ontoggle="alert(1)">x</details>',
    "<!--<img src=x onerror=alert(1)>-->",
    '<form action="javascript:alert(1)"><button>x</button></form>',
    "<body onload=alert(1)>",
    '<input autofocus onfocus="alert(1)">',
    "[a](vbscript:msgbox(1))",
]


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_xss_payloads_are_neutralised(payload: str) -> None:
    assert_inert(RENDERER.render(payload))
    assert_inert(RENDERER.render(f"Some text\n\n{payload}\n\nmore *text*"))


def test_markdown_still_renders() -> None:
    html = RENDERER.render(
        "# Title\n\nSome **bold** and `code`.\n\n- one\n- two\n\n```python\nprint(1)\n```\n\n"
        "[docs](https://docs.example.org) ![logo](https://img.example.org/a.png)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    assert "<h1>Title</h1>" in html
    assert "<strong>bold</strong>" in html
    assert "<code>code</code>" in html
    assert "<li>one</li>" in html
    assert '<code class="language-python">print(1)' in html
    assert '<a href="https://docs.example.org" rel="noopener noreferrer nofollow">docs</a>' in html
    assert '<img src="https://img.example.org/a.png" alt="logo">' in html
    assert "<td>1</td>" in html


def test_raw_html_is_allowed_in_but_only_the_allowlist_comes_out() -> None:
    html = RENDERER.render('<p class="x" id="y">Hello <b>there</b> <marquee>old</marquee></p>')
    assert html == "<p>Hello <b>there</b> old</p>"


def test_every_link_gets_rel_noopener_noreferrer_nofollow() -> None:
    html = RENDERER.render('<a href="https://x.example" rel="opener" target="_blank">x</a>')
    assert html == '<p><a href="https://x.example" rel="noopener noreferrer nofollow">x</a></p>\n'


# Markdown-ish input: dangerous fragments and the punctuation that glues them together.
TOKENS = [
    *"<>/=\"' \n\t&#;:()[]!*`-_abcxyzSCRIPTONERR019",
    *["<script>", "</script>", "javascript:", "onerror=", "onload=", "<img ", "<a href=", "<svg", "<iframe"],
    *["data:", "](", "<style>", "&#106;", "\\", "<!--", "-->", "<![CDATA[", "vbscript:", "\n\n", "    "],
]
MARKDOWNISH = st.lists(st.sampled_from(TOKENS), max_size=120).map("".join)


@settings(max_examples=400, deadline=None)
@given(markdown=st.one_of(MARKDOWNISH, st.text(max_size=300)))
def test_no_input_renders_to_html_that_can_run_script(markdown: str) -> None:
    assert_inert(RENDERER.render(markdown))
