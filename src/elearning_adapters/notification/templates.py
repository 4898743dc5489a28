"""Notification texts: Jinja2 templates (a plain-text and an HTML part per mail) in the recipient's
language, English and French, chosen with Babel from the user's locale (``pt-BR`` falls back to
English, ``fr-CA`` to French); amounts and dates are formatted by Babel for that locale.

The translations are a catalog here (message id -> text per language) handed to Jinja2's i18n
extension, so a template says ``{{ _("Your certificate is ready") }}`` and a new language is one
more column of the catalog.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from babel.numbers import format_currency
from jinja2 import DictLoader, Environment, StrictUndefined, select_autoescape

from elearning_core.notification.model import NotificationType

LANGUAGES: Final = ("en", "fr")

_FR: Final[dict[str, str]] = {
    "You are enrolled in {course}": "Vous êtes inscrit·e au cours {course}",
    "Welcome! Your enrollment in {course} is confirmed.": "Bienvenue ! Votre inscription au cours {course} est confirmée.",
    "Your certificate is ready": "Votre certificat est prêt",
    "Your certificate for {course} has been issued.": "Votre certificat pour {course} a été délivré.",
    "{course} was updated": "Le cours {course} a été mis à jour",
    "A new version of {course} is published.": "Une nouvelle version du cours {course} est publiée.",
    "Your grade is available": "Votre note est disponible",
    "Your grade for {quiz}: {percent} %.": "Votre note pour {quiz} : {percent} %.",
    "Payment received": "Paiement reçu",
    "We received your payment of {amount}. Thank you!": "Nous avons bien reçu votre paiement de {amount}. Merci !",
    "Your payment failed": "Votre paiement a échoué",
    "Your payment of {amount} could not be taken. Please update your payment method.": "Votre paiement de {amount} n'a pas pu être encaissé. Veuillez mettre à jour votre moyen de paiement.",
    "{quiz} closes soon": "{quiz} ferme bientôt",
    "{quiz} closes on {when}.": "{quiz} ferme le {when}.",
    "New reply in {thread}": "Nouvelle réponse dans {thread}",
    "{author} replied in {thread}.": "{author} a répondu dans {thread}.",
    "{author} mentioned you": "{author} vous a mentionné·e",
    "{author} mentioned you in {thread}.": "{author} vous a mentionné·e dans {thread}.",
    "Your answer was accepted": "Votre réponse a été acceptée",
    "Your answer in {thread} was accepted.": "Votre réponse dans {thread} a été acceptée.",
    "Announcement: {title}": "Annonce : {title}",
    "{body}": "{body}",
    "Your subscription payment failed": "Votre paiement d'abonnement a échoué",
    "Your payment of {amount} for your {plan} subscription could not be taken, and the subscription is past due. Please update your payment method.": "Votre paiement de {amount} pour votre abonnement {plan} n'a pas pu être encaissé, et l'abonnement est en retard de paiement. Veuillez mettre à jour votre moyen de paiement.",
    "Your subscription is suspended": "Votre abonnement est suspendu",
    "Every attempt to take your payment of {amount} for your {plan} subscription failed, so it is suspended. Update your payment method to restore your access.": "Toutes les tentatives d'encaisser votre paiement de {amount} pour votre abonnement {plan} ont échoué : il est suspendu. Mettez à jour votre moyen de paiement pour retrouver votre accès.",
    "Open": "Ouvrir",
    "Your notifications": "Vos notifications",
    "You receive this mail because of your notification settings.": "Vous recevez ce message en raison de vos préférences de notification.",
    "Unsubscribe from these mails": "Ne plus recevoir ces messages",
    "{count} notifications": "{count} notifications",
}
CATALOG: Final[dict[str, dict[str, str]]] = {"fr": _FR}

# (title, body) message ids per type; the data keys they name are the handlers' payload.
TEXTS: Final[dict[NotificationType, tuple[str, str]]] = {
    NotificationType.ENROLLMENT_CONFIRMED: (
        "You are enrolled in {course}",
        "Welcome! Your enrollment in {course} is confirmed.",
    ),
    NotificationType.CERTIFICATE_ISSUED: (
        "Your certificate is ready",
        "Your certificate for {course} has been issued.",
    ),
    NotificationType.COURSE_UPDATED: ("{course} was updated", "A new version of {course} is published."),
    NotificationType.GRADE_RELEASED: ("Your grade is available", "Your grade for {quiz}: {percent} %."),
    NotificationType.PAYMENT_RECEIPT: ("Payment received", "We received your payment of {amount}. Thank you!"),
    NotificationType.PAYMENT_FAILED: (
        "Your payment failed",
        "Your payment of {amount} could not be taken. Please update your payment method.",
    ),
    NotificationType.DUE_SOON: ("{quiz} closes soon", "{quiz} closes on {when}."),
    NotificationType.DISCUSSION_REPLY: ("New reply in {thread}", "{author} replied in {thread}."),
    NotificationType.DISCUSSION_MENTION: ("{author} mentioned you", "{author} mentioned you in {thread}."),
    NotificationType.ANSWER_ACCEPTED: ("Your answer was accepted", "Your answer in {thread} was accepted."),
    NotificationType.ANNOUNCEMENT: ("Announcement: {title}", "{body}"),
    NotificationType.SUBSCRIPTION_PAST_DUE: (
        "Your subscription payment failed",
        "Your payment of {amount} for your {plan} subscription could not be taken, and the subscription is past "
        "due. Please update your payment method.",
    ),
    NotificationType.SUBSCRIPTION_SUSPENDED: (
        "Your subscription is suspended",
        "Every attempt to take your payment of {amount} for your {plan} subscription failed, so it is suspended. "
        "Update your payment method to restore your access.",
    ),
}

_TEXT = """{{ title }}

{{ body }}
{% if link %}
{{ _("Open") }}: {{ link }}
{% endif %}
--
{{ _("You receive this mail because of your notification settings.") }}
{{ _("Unsubscribe from these mails") }}: {{ unsubscribe }}
"""

_HTML = """<!doctype html>
<html lang="{{ language }}"><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body>
<h1>{{ title }}</h1>
<p>{{ body }}</p>
{% if link %}<p><a href="{{ link }}">{{ _("Open") }}</a></p>{% endif %}
<hr>
<p><small>{{ _("You receive this mail because of your notification settings.") }}
<a href="{{ unsubscribe }}">{{ _("Unsubscribe from these mails") }}</a></small></p>
</body></html>
"""

_DIGEST_TEXT = """{{ _("Your notifications") }} ({{ items | length }})
{% for item in items %}
* {{ item.title }}
  {{ item.body }}{% if item.link %}
  {{ item.link }}{% endif %}
{% endfor %}
--
{{ _("You receive this mail because of your notification settings.") }}
{{ _("Unsubscribe from these mails") }}: {{ unsubscribe }}
"""

_DIGEST_HTML = """<!doctype html>
<html lang="{{ language }}"><head><meta charset="utf-8"><title>{{ _("Your notifications") }}</title></head>
<body>
<h1>{{ _("Your notifications") }}</h1>
<ul>{% for item in items %}
<li><strong>{{ item.title }}</strong><br>{{ item.body }}{% if item.link %} <a href="{{ item.link }}">{{ _("Open") }}</a>{% endif %}</li>
{% endfor %}</ul>
<hr>
<p><small>{{ _("You receive this mail because of your notification settings.") }}
<a href="{{ unsubscribe }}">{{ _("Unsubscribe from these mails") }}</a></small></p>
</body></html>
"""


@functools.lru_cache(maxsize=256)
def language_of(locale: str) -> str:
    """The supported language closest to a user's BCP 47 locale (Babel's negotiation), English by default."""
    try:
        negotiated = Locale.negotiate([locale.replace("-", "_")], list(LANGUAGES), sep="_")
    except (ValueError, UnknownLocaleError):
        negotiated = None
    return negotiated.language if negotiated is not None else "en"


def translate(language: str, message: str) -> str:
    return CATALOG.get(language, {}).get(message, message)


def _format_data(data: dict[str, Any], language: str, time_zone: str) -> dict[str, Any]:
    """Amounts (integer minor units + currency) and instants formatted for the language, by Babel."""
    out = {k: v for k, v in data.items() if isinstance(v, str | int)}
    if "amount_minor" in data and "currency" in data:
        currency = str(data["currency"]).upper()
        digits = 0 if currency in {"JPY", "KRW"} else 2
        out["amount"] = format_currency(int(data["amount_minor"]) / 10**digits, currency, locale=language)
    if "when_iso" in data:
        out["when"] = format_datetime(
            datetime.fromisoformat(str(data["when_iso"])), "medium", tzinfo=ZoneInfo(time_zone), locale=language
        )
    return out


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "…"


@dataclass(frozen=True, slots=True)
class RenderedMail:
    subject: str
    text: str
    html: str


class NotificationTemplates:
    def __init__(self) -> None:
        self._env = Environment(
            loader=DictLoader({"text": _TEXT, "html": _HTML, "digest_text": _DIGEST_TEXT, "digest_html": _DIGEST_HTML}),
            autoescape=select_autoescape(enabled_extensions=(), default_for_string=False, default=False),
            undefined=StrictUndefined,
            extensions=["jinja2.ext.i18n"],
            keep_trailing_newline=True,
        )
        self._html_env = self._env.overlay(autoescape=True)

    def in_app(
        self, kind: NotificationType, data: dict[str, Any], locale: str, time_zone: str = "UTC"
    ) -> tuple[str, str]:
        """(title, body) of ``kind`` in the locale's language."""
        language = language_of(locale)
        values = _Blank(_format_data(data, language, time_zone))
        title, body = TEXTS[kind]
        return translate(language, title).format_map(values), translate(language, body).format_map(values)

    def _render(self, env: Environment, name: str, language: str, **context: Any) -> str:
        env.install_gettext_callables(  # type: ignore[attr-defined]
            lambda m: translate(language, m), lambda s, p, n: translate(language, s if n == 1 else p), newstyle=True
        )
        return env.get_template(name).render(language=language, **context)

    def mail(
        self,
        kind: NotificationType,
        data: dict[str, Any],
        link: str | None,
        *,
        locale: str,
        time_zone: str,
        unsubscribe: str,
    ) -> RenderedMail:
        language = language_of(locale)
        title, body = self.in_app(kind, data, locale, time_zone)
        context = {"title": title, "body": body, "link": link, "unsubscribe": unsubscribe}
        return RenderedMail(
            subject=" ".join(title.split())[:200],
            text=self._render(self._env, "text", language, **context),
            html=self._render(self._html_env, "html", language, **context),
        )

    def digest(self, items: list[dict[str, Any]], *, locale: str, unsubscribe: str) -> RenderedMail:
        language = language_of(locale)
        subject = translate(language, "Your notifications") + f" ({len(items)})"
        return RenderedMail(
            subject=subject,
            text=self._render(self._env, "digest_text", language, items=items, unsubscribe=unsubscribe),
            html=self._render(self._html_env, "digest_html", language, items=items, unsubscribe=unsubscribe),
        )
