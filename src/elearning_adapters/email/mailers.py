"""Mailers: the console default, SMTP delivery, and a recording one for tools and tests.

All three refuse the same messages (a line break in the recipient or the
subject, anything but exactly one recipient address), so a header injection
fails on a laptop exactly as it would in production.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
import sys
import threading
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid
from typing import TYPE_CHECKING, Final, TextIO

from elearning_core.identity.ports import Mailer, MailError, MailMessage

if TYPE_CHECKING:
    from elearning_adapters.settings import Settings

log = logging.getLogger("elearning.mail")

# Every character str.splitlines() breaks on, and NUL: none belongs in an address or a
# subject, and some mail software treats the rarer ones as line ends too.
_LINE_BREAKS: Final = frozenset("\r\n\v\f\x00\x1c\x1d\x1e\x85\u2028\u2029")
_MAX_REASON_CHARS: Final = 300


def _mailbox(value: str, what: str) -> str:
    """The bare address of a single mailbox (``Name <a@b>`` or ``a@b``); MailError otherwise."""
    if any(char in _LINE_BREAKS for char in value):
        raise MailError(f"the {what} contains a line break: refused (header injection)")
    addresses = getaddresses([value])
    if len(addresses) != 1 or "@" not in addresses[0][1]:
        raise MailError(f"the {what} must be exactly one email address")
    return addresses[0][1]


def _check(message: MailMessage) -> str:
    """Validate a message as every mailer here does; returns the bare recipient address."""
    address = _mailbox(message.to, "recipient")
    if any(char in _LINE_BREAKS for char in message.subject):
        raise MailError("the subject contains a line break: refused (header injection)")
    for name, value in message.headers:
        if any(char in _LINE_BREAKS for char in name + value) or ":" in name:
            raise MailError(f"the {name[:40]!r} header contains a line break: refused (header injection)")
    if message.message_id is not None and any(char in _LINE_BREAKS for char in message.message_id):
        raise MailError("the Message-ID contains a line break: refused (header injection)")
    return address


class ConsoleMailer(Mailer):
    """The embedded default: prints each message instead of sending it.

    The block goes to ``stream`` (standard error when none is given, looked up at
    each send so redirections made later still apply); one INFO line without the
    body goes to the ``elearning.mail`` logger, so log collectors see that a mail
    was due without ever storing a reset link. A lock keeps the blocks of
    messages sent from several threads or tasks from interleaving.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    async def send(self, message: MailMessage) -> None:
        _check(message)
        body = message.text if message.text.endswith("\n") else message.text + "\n"
        block = (
            "----- mail (console mailer: not delivered) -----\n"
            f"To: {message.to}\n"
            f"Subject: {message.subject}\n"
            "\n"
            f"{body}"
            "----- end of mail -----\n"
        )
        stream = self._stream if self._stream is not None else sys.stderr
        try:
            with self._lock:
                stream.write(block)
                stream.flush()
        except (OSError, ValueError) as exc:  # closed stream, unencodable text on a strict stream
            raise MailError(f"console mailer could not write the message: {type(exc).__name__}") from exc
        log.info(
            "mail to %s with subject %r printed by the console mailer (not delivered)", message.to, message.subject
        )


class SmtpMailer(Mailer):
    """Delivers through an SMTP server with the standard library, in a worker thread.

    ``use_tls`` is TLS from the first byte (port 465); ``starttls`` upgrades a plain
    connection (port 587) and fails rather than continue in clear text when the
    server does not offer it. Certificates are verified against the system trust
    store unless ``ssl_context`` says otherwise.

    ``timeout`` bounds the connection and every single exchange with the server,
    not the whole conversation. A send whose awaiting task is cancelled may still
    complete in its thread: SMTP has no way to take back a message once DATA is
    under way. Errors become ``MailError`` with a one-line reason that names the
    server and never contains the password.

    The ``smtplib`` AUTH commands encode credentials as ASCII, so other credentials
    are refused here, at configuration time, rather than failing at every send.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        use_tls: bool = False,
        sender: str,
        timeout: float = 10,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        if starttls and use_tls:
            raise ValueError("choose STARTTLS or implicit TLS, not both")
        if (username is None) != (password is None):
            raise ValueError("SMTP authentication needs both a username and a password")
        if username is not None and password is not None and not (username.isascii() and password.isascii()):
            raise ValueError("SMTP username and password must be ASCII (smtplib sends AUTH credentials as ASCII)")
        if timeout <= 0:
            raise ValueError("the SMTP timeout must be positive")
        try:
            self._envelope_from = _mailbox(sender, "sender")
        except MailError as exc:
            raise ValueError(f"invalid sender {sender!r}: {exc}") from None
        self._host = host
        self._port = port
        self._username = username
        self._password = password
        self._starttls = starttls
        self._use_tls = use_tls
        self._sender = sender
        self._timeout = timeout
        # Built once: loading the trust store costs milliseconds, and a context is safe to share between threads.
        self._ssl_context = ssl_context or (ssl.create_default_context() if starttls or use_tls else None)
        self._local_hostname = local_hostname
        self._msgid_domain = self._envelope_from.rpartition("@")[2] or "localhost"

    def __repr__(self) -> str:
        security = "tls" if self._use_tls else "starttls" if self._starttls else "plain"
        user = f", username={self._username!r}" if self._username is not None else ""
        return f"SmtpMailer({self._host!r}, {self._port}, {security}{user}, sender={self._sender!r})"

    async def send(self, message: MailMessage) -> None:
        recipient = _check(message)
        try:
            # Built in the worker thread too: the email package spends milliseconds per message (headers,
            # quoted-printable bodies), which on the event loop would stall every request and consumer
            # sharing it while a fan-out's mails go out (benchmarks/fanout_latency.py).
            await asyncio.to_thread(self._build_and_deliver, message, recipient)
        except MailError:
            raise
        except (smtplib.SMTPException, OSError, ValueError) as exc:
            raise MailError(f"SMTP {self._host}:{self._port}: {self._reason(exc)}") from exc

    def _build(self, message: MailMessage) -> EmailMessage:
        mail = EmailMessage()
        try:
            mail["From"] = self._sender
            mail["To"] = message.to
            mail["Subject"] = message.subject
        except (ValueError, TypeError) as exc:  # the header parser's own refusals
            raise MailError(f"invalid header: {type(exc).__name__}") from None
        mail["Date"] = format_datetime(datetime.now(UTC))
        mail["Message-ID"] = message.message_id or make_msgid(domain=self._msgid_domain)
        try:
            for name, value in message.headers:
                mail[name] = value
        except (ValueError, TypeError) as exc:
            raise MailError(f"invalid header: {type(exc).__name__}") from None
        # Quoted-printable keeps the message 7-bit clean for relays without 8BITMIME.
        mail.set_content(message.text, charset="utf-8", cte="quoted-printable")
        if message.html is not None:
            mail.add_alternative(message.html, subtype="html", charset="utf-8", cte="quoted-printable")
        return mail

    def _build_and_deliver(self, message: MailMessage, recipient: str) -> None:
        self._deliver(self._build(message), recipient)

    def _deliver(self, mail: EmailMessage, recipient: str) -> None:
        smtp: smtplib.SMTP
        if self._use_tls:
            smtp = smtplib.SMTP_SSL(
                self._host,
                self._port,
                local_hostname=self._local_hostname,
                timeout=self._timeout,
                context=self._ssl_context,
            )
        else:
            smtp = smtplib.SMTP(self._host, self._port, local_hostname=self._local_hostname, timeout=self._timeout)
        try:
            if self._starttls:
                smtp.starttls(context=self._ssl_context)
            if self._username is not None and self._password is not None:
                smtp.login(self._username, self._password)
            # Flattened here, not by send_message: that one turns body lines starting with "From " into ">From ".
            if self._envelope_from.isascii() and recipient.isascii():
                smtp.sendmail(self._envelope_from, [recipient], mail.as_bytes(policy=policy.SMTP))
            else:
                smtp.ehlo_or_helo_if_needed()
                if not smtp.has_extn("smtputf8"):
                    raise smtplib.SMTPNotSupportedError(
                        "the server does not offer SMTPUTF8, needed by a non-ASCII address"
                    )
                data = mail.as_bytes(policy=policy.SMTPUTF8)
                smtp.sendmail(self._envelope_from, [recipient], data, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
        except BaseException:
            smtp.close()
            raise
        # Accepted: a failing QUIT must not turn a delivered message into an error (and a resend).
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def _reason(self, exc: BaseException) -> str:
        reason: str
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            reason = f"authentication as {self._username!r} refused: {_reply(exc.smtp_code, exc.smtp_error)}"
        elif isinstance(exc, smtplib.SMTPRecipientsRefused):
            code, text = next(iter(exc.recipients.values()), (0, b""))
            reason = f"recipient refused: {_reply(code, text)}"
        elif isinstance(exc, smtplib.SMTPSenderRefused):
            reason = f"sender refused: {_reply(exc.smtp_code, exc.smtp_error)}"
        elif isinstance(exc, smtplib.SMTPDataError):
            reason = f"message refused: {_reply(exc.smtp_code, exc.smtp_error)}"
        elif isinstance(exc, smtplib.SMTPResponseException):
            reason = f"unexpected reply: {_reply(exc.smtp_code, exc.smtp_error)}"
        elif isinstance(exc, smtplib.SMTPException):  # disconnected, not supported: fixed texts from smtplib
            reason = str(exc) or type(exc).__name__
        elif isinstance(exc, TimeoutError):
            reason = f"no answer within {self._timeout:g} s"
        elif isinstance(exc, ConnectionRefusedError):
            reason = "connection refused"
        elif isinstance(exc, ssl.SSLError):
            reason = f"TLS failed: {getattr(exc, 'verify_message', None) or exc.reason or type(exc).__name__}"
        elif isinstance(exc, OSError):
            reason = f"{type(exc).__name__}: {exc.strerror or exc}"
        else:  # UnicodeError and friends: say what, never echo the data
            reason = f"could not encode the message ({type(exc).__name__})"
        reason = " ".join(reason.split())
        if self._password:
            reason = reason.replace(self._password, "***")
        return reason[:_MAX_REASON_CHARS]


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {text}".strip()


class RecordingMailer(Mailer):
    """Keeps what it is given, for embedding tools and tests of the core.

    It refuses what the real mailers refuse. Set ``failure`` to make every send
    raise it (a server that is down), and back to None to recover.
    """

    def __init__(self) -> None:
        self.sent: list[MailMessage] = []
        self.failure: MailError | None = None

    async def send(self, message: MailMessage) -> None:
        _check(message)
        if self.failure is not None:
            raise self.failure
        self.sent.append(message)

    def last_to(self, address: str) -> MailMessage | None:
        """The latest message to ``address`` (compared as bare addresses, ignoring case), or None."""
        wanted = (getaddresses([address]) or [("", address)])[0][1].casefold()
        for message in reversed(self.sent):
            if getaddresses([message.to])[0][1].casefold() == wanted:
                return message
        return None


def mailer_from_settings(settings: Settings) -> Mailer:
    """The mailer ``ELEARNING_MAIL_BACKEND`` names, configured from the other ``ELEARNING_*`` mail settings."""
    if settings.mail_backend == "console":
        return ConsoleMailer()
    return SmtpMailer(
        settings.smtp_host,
        settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password is not None else None,
        starttls=settings.smtp_starttls,
        use_tls=settings.smtp_ssl,
        sender=settings.mail_from,
        timeout=settings.smtp_timeout_seconds,
    )
