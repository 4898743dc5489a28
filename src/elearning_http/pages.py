"""Small, self-contained HTML pages for the links people open from their mail.

A mailed link (verify the address, reset the password, confirm a new
address) is opened by a person in a browser, and by API clients too. The
route answers each in its own language: ``wants_html`` reads the ``Accept``
header (a browser prefers ``text/html``; ``*/*`` or ``application/json`` get
JSON, as before). Pages have no external assets and no script; every piece of
text is escaped; a ``Content-Security-Policy`` forbids anything but the page's
own style and forms posting back to this site.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response
from litestar.enums import MediaType
from litestar.openapi.datastructures import ResponseSpec

_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;line-height:1.5;"
    "color:#1a1a1a}h1{font-size:1.4rem}label{display:block;margin:1rem 0 .3rem}"
    "input{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}"
    "button{margin-top:1rem;padding:.5rem 1rem;font-size:1rem}.error{color:#a00}"
)


@dataclass(frozen=True, slots=True)
class Field:
    """One input of a page's form: a hidden one carries the token, the others are what a person types."""

    name: str
    label: str
    kind: str = "password"
    value: str = ""
    autocomplete: str = "new-password"
    minlength: int | None = None


@dataclass(frozen=True, slots=True)
class Form:
    action: str
    fields: tuple[Field, ...]
    submit: str


def page_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the pages a form-posting route answers with (``text/html``, refusals included)."""
    return {
        status: ResponseSpec(
            data_container=str,
            media_type=MediaType.HTML,
            description="A page saying why (the same status a problem document would carry)",
            generate_examples=False,
        )
        for status in statuses
    }


def json_or_page(data_container: type, description: str) -> dict[int, ResponseSpec]:
    """The 200 of a mailed link's GET: ``data_container`` as JSON; a browser gets a page instead."""
    return {
        200: ResponseSpec(
            data_container=data_container,
            description=f"{description} (JSON; a browser that prefers text/html gets a small page instead)",
            generate_examples=False,  # Litestar's generated examples are random: the document must not change between builds
        )
    }


def wants_html(request: Request[Any, Any, Any]) -> bool:
    """Whether the caller prefers an HTML page to JSON (a browser following a mailed link)."""
    return request.accept.best_match([MediaType.JSON, MediaType.HTML], default=MediaType.JSON) == MediaType.HTML


def page(
    title: str, *paragraphs: str, status: int = 200, form: Form | None = None, error: str | None = None
) -> Response[str]:
    """A complete HTML document: a heading, paragraphs, an optional error and form; all text escaped."""
    e = html.escape
    body = [f"<h1>{e(title)}</h1>"]
    if error:
        body.append(f'<p class="error" role="alert">{e(error)}</p>')
    body.extend(f"<p>{e(text)}</p>" for text in paragraphs)
    if form is not None:
        body.append(f'<form method="post" action="{e(form.action)}">')
        for item in form.fields:
            if item.kind == "hidden":
                body.append(f'<input type="hidden" name="{e(item.name)}" value="{e(item.value)}">')
                continue
            minimum = f' minlength="{item.minlength}"' if item.minlength else ""
            body.append(
                f'<label for="{e(item.name)}">{e(item.label)}</label>'
                f'<input id="{e(item.name)}" name="{e(item.name)}" type="{e(item.kind)}" required{minimum} '
                f'autocomplete="{e(item.autocomplete)}">'
            )
        body.append(f'<button type="submit">{e(form.submit)}</button></form>')
    document = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="referrer" content="no-referrer"><title>{e(title)}</title><style>{_STYLE}</style></head>'
        f"<body>{''.join(body)}</body></html>\n"
    )
    return Response(
        document,
        status_code=status,
        media_type=MediaType.HTML,
        headers={
            "Content-Security-Policy": _CSP,
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        },
    )
