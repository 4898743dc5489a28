"""The mail adapters against a real SMTP server process (aiosmtpd, see tests/smtp_server.py)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import logging
import os
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

import pytest
from pydantic import SecretStr

from elearning_adapters.email import ConsoleMailer, RecordingMailer, SmtpMailer, mailer_from_settings
from elearning_adapters.settings import Settings
from elearning_core.identity.ports import MailError, MailMessage

if TYPE_CHECKING:
    from tests.smtp_server import SmtpServer, StartSmtpServer, TlsFiles

pytest_plugins = ["tests.smtp_server"]

SENDER = "E-learning <no-reply@localhost>"
SUBJECT = "Bienvenue, Zoë: vérifiez votre adresse ✓ 学习"
BODY = (
    "Bonjour Zoë,\n"
    "\n"
    "Ouvrez ce lien pour vérifier votre adresse : https://learn.example/verify?t=abc\n"
    ".a line that starts with a dot\n"
    "From the start of a line, and a long one: " + "é" * 120 + "\n"
    "— L\u2019équipe 学习"
)
INJECTIONS = [
    "victim@example.test\r\nBcc: everyone@example.test",
    "victim@example.test\nBcc: everyone@example.test",
    "victim@example.test\rBcc: everyone@example.test",
    "victim@example.test\u2028Bcc: everyone@example.test",
]


OWN_CREDENTIALS = ("postmaster", "An0ther-Pa55word")  # for the servers a test starts itself


def smtp_mailer(server: SmtpServer, **options: object) -> SmtpMailer:
    return SmtpMailer(server.host, server.port, sender=SENDER, timeout=5, **options)  # type: ignore[arg-type]


def login(server: SmtpServer) -> dict[str, str]:
    """The server's username and password as SmtpMailer keyword arguments."""
    assert server.credentials is not None
    username, password = server.credentials
    return {"username": username, "password": password}


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound by us, never listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections (in the kernel backlog) and never says a word."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


# --- SmtpMailer against the real server ---------------------------------------------------------------------------


async def test_smtp_mailer_delivers_a_complete_utf8_message(smtp_server: SmtpServer) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    await smtp_mailer(smtp_server).send(MailMessage("zoe@example.test", SUBJECT, BODY))

    [mail] = smtp_server.wait_for(1)
    assert mail.mail_from == "no-reply@localhost"
    assert mail.rcpt_tos == ("zoe@example.test",)
    assert mail.authenticated_as is None
    assert mail.content.isascii()  # 7-bit clean on the wire: survives relays without 8BITMIME
    message = mail.message
    assert str(message["From"]) == SENDER
    assert str(message["To"]) == "zoe@example.test"
    assert str(message["Subject"]) == SUBJECT
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert message.get_content() == BODY + "\n"
    sent_at = parsedate_to_datetime(str(message["Date"]))
    assert before <= sent_at <= datetime.now(UTC) + timedelta(seconds=1)
    assert str(message["Message-ID"]).startswith("<")
    assert str(message["Message-ID"]).endswith("@localhost>")


async def test_each_message_gets_its_own_message_id(smtp_server: SmtpServer) -> None:
    mailer = smtp_mailer(smtp_server)
    await asyncio.gather(*(mailer.send(MailMessage(f"u{i}@example.test", f"n°{i}", "x")) for i in range(3)))

    received = smtp_server.wait_for(3)
    assert sorted(mail.rcpt_tos[0] for mail in received) == ["u0@example.test", "u1@example.test", "u2@example.test"]
    assert len({str(mail.message["Message-ID"]) for mail in received}) == 3


async def test_a_display_name_stays_in_the_header_and_out_of_the_envelope(smtp_server: SmtpServer) -> None:
    await smtp_mailer(smtp_server).send(MailMessage("Zoë Learner <zoe@example.test>", "Hello", "Hi"))

    [mail] = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ("zoe@example.test",)
    assert mail.message["To"].addresses[0].display_name == "Zoë Learner"
    assert mail.message["To"].addresses[0].addr_spec == "zoe@example.test"


async def test_a_non_ascii_address_goes_out_with_smtputf8(smtp_server: SmtpServer) -> None:
    await smtp_mailer(smtp_server).send(MailMessage("zoë@exämple.test", "Hi", "x"))

    [mail] = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ("zoë@exämple.test",)
    assert str(mail.message["To"]) == "zoë@exämple.test"


@pytest.mark.parametrize("to", INJECTIONS)
async def test_a_line_break_in_the_recipient_is_refused_before_connecting(smtp_server: SmtpServer, to: str) -> None:
    with pytest.raises(MailError, match="line break"):
        await smtp_mailer(smtp_server).send(MailMessage(to, "Hello", "Hi"))
    assert smtp_server.messages() == []


@pytest.mark.parametrize("subject", ["Hello\r\nBcc: everyone@example.test", "Hello\nBcc: x@example.test", "Hi\r"])
async def test_a_line_break_in_the_subject_is_refused(smtp_server: SmtpServer, subject: str) -> None:
    with pytest.raises(MailError, match="line break"):
        await smtp_mailer(smtp_server).send(MailMessage("zoe@example.test", subject, "Hi"))
    assert smtp_server.messages() == []


@pytest.mark.parametrize("to", ["a@example.test, b@example.test", "not-an-address", ""])
async def test_anything_but_one_recipient_address_is_refused(smtp_server: SmtpServer, to: str) -> None:
    with pytest.raises(MailError, match="exactly one email address"):
        await smtp_mailer(smtp_server).send(MailMessage(to, "Hello", "Hi"))
    assert smtp_server.messages() == []


async def test_credentials_are_accepted_by_a_server_that_requires_auth(smtp_auth_server: SmtpServer) -> None:
    await smtp_mailer(smtp_auth_server, **login(smtp_auth_server)).send(MailMessage("zoe@example.test", SUBJECT, BODY))

    [mail] = smtp_auth_server.wait_for(1)
    assert mail.authenticated_as == f"PLAIN:{login(smtp_auth_server)['username']}"  # smtplib prefers PLAIN
    assert mail.message.get_content() == BODY + "\n"


async def test_auth_login_works_when_it_is_the_only_mechanism(start_smtp_server: StartSmtpServer) -> None:
    server = start_smtp_server(credentials=OWN_CREDENTIALS, mechanisms=("LOGIN",))
    await smtp_mailer(server, **login(server)).send(MailMessage("zoe@example.test", "Hi", "x"))

    [mail] = server.wait_for(1)
    assert mail.authenticated_as == f"LOGIN:{OWN_CREDENTIALS[0]}"


async def test_a_wrong_password_is_a_mail_error_that_does_not_repeat_it(smtp_auth_server: SmtpServer) -> None:
    wrong = "wrong-Pa55word-!"
    mailer = smtp_mailer(smtp_auth_server, username=login(smtp_auth_server)["username"], password=wrong)

    with pytest.raises(MailError) as caught:
        await mailer.send(MailMessage("zoe@example.test", "Hi", "x"))

    text = str(caught.value)
    assert "authentication" in text
    assert "535" in text
    assert wrong not in text
    assert wrong not in repr(mailer)
    assert "\n" not in text
    assert smtp_auth_server.messages() == []


async def test_no_credentials_for_a_server_that_requires_them_is_a_mail_error(smtp_auth_server: SmtpServer) -> None:
    with pytest.raises(MailError, match="530"):
        await smtp_mailer(smtp_auth_server).send(MailMessage("zoe@example.test", "Hi", "x"))
    assert smtp_auth_server.messages() == []


async def test_starttls_never_falls_back_to_clear_text(smtp_server: SmtpServer) -> None:
    with pytest.raises(MailError, match="STARTTLS"):
        await smtp_mailer(smtp_server, starttls=True).send(MailMessage("zoe@example.test", "Hi", "x"))
    assert smtp_server.messages() == []


async def test_starttls_with_auth_delivers_encrypted(
    start_smtp_server: StartSmtpServer, smtp_tls_files: TlsFiles
) -> None:
    server = start_smtp_server(credentials=OWN_CREDENTIALS, tls="starttls", tls_files=smtp_tls_files)
    mailer = smtp_mailer(server, **login(server), starttls=True, ssl_context=smtp_tls_files.client_context())
    await mailer.send(MailMessage("zoe@example.test", SUBJECT, BODY))
    [mail] = server.wait_for(1)

    # The same server does not even offer AUTH in clear text.
    with pytest.raises(MailError, match="AUTH extension not supported"):
        await smtp_mailer(server, **login(server)).send(MailMessage("zoe@example.test", "Hi", "x"))
    assert mail.tls
    assert mail.authenticated_as == f"PLAIN:{OWN_CREDENTIALS[0]}"
    assert str(mail.message["Subject"]) == SUBJECT
    assert len(server.messages()) == 1


async def test_implicit_tls_delivers_and_verifies_the_certificate(
    start_smtp_server: StartSmtpServer, smtp_tls_files: TlsFiles
) -> None:
    server = start_smtp_server(tls="implicit", tls_files=smtp_tls_files)
    trusted = smtp_mailer(server, use_tls=True, ssl_context=smtp_tls_files.client_context())
    await trusted.send(MailMessage("zoe@example.test", "Hi", "over TLS"))
    [mail] = server.wait_for(1)

    # The system trust store does not know the self-signed certificate: refused, not sent.
    with pytest.raises(MailError, match="TLS failed"):
        await smtp_mailer(server, use_tls=True).send(MailMessage("zoe@example.test", "Hi", "x"))
    assert mail.tls
    assert mail.message.get_content() == "over TLS\n"
    assert len(server.messages()) == 1


async def test_implicit_tls_against_a_plain_server_is_a_mail_error(smtp_server: SmtpServer) -> None:
    with pytest.raises(MailError, match="TLS failed"):
        await smtp_mailer(smtp_server, use_tls=True).send(MailMessage("zoe@example.test", "Hi", "x"))
    assert smtp_server.messages() == []


async def test_a_server_that_is_down_is_a_quick_mail_error(closed_port: int) -> None:
    mailer = SmtpMailer("127.0.0.1", closed_port, sender=SENDER, timeout=5)
    started = time.monotonic()
    with pytest.raises(MailError, match="connection refused") as caught:
        await mailer.send(MailMessage("zoe@example.test", "Hi", "x"))
    assert time.monotonic() - started < 2
    assert f"127.0.0.1:{closed_port}" in str(caught.value)


async def test_a_server_that_never_answers_is_a_mail_error_within_the_timeout(silent_port: int) -> None:
    mailer = SmtpMailer("127.0.0.1", silent_port, sender=SENDER, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(MailError, match=r"0\.5 s|timed out"):
        await mailer.send(MailMessage("zoe@example.test", "Hi", "x"))
    assert time.monotonic() - started < 3


async def test_a_stopped_server_process_refuses_mail(start_smtp_server: StartSmtpServer) -> None:
    server = start_smtp_server()
    pid, port = server.pid, server.port
    assert pid is not None
    assert server.running
    server.stop()

    assert not server.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # reaped: no such process any more
    with pytest.raises(MailError, match="connection refused"):
        await SmtpMailer("127.0.0.1", port, sender=SENDER, timeout=2).send(MailMessage("zoe@example.test", "Hi", "x"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"starttls": True, "use_tls": True}, "not both"),
        ({"username": "u"}, "both a username and a password"),
        ({"username": "u", "password": "pässword"}, "ASCII"),
        ({"sender": "no-reply@localhost\r\nBcc: x@example.test"}, "invalid sender"),
        ({"sender": "a@example.test, b@example.test"}, "invalid sender"),
        ({"timeout": 0}, "positive"),
    ],
)
def test_a_bad_configuration_is_refused_when_the_mailer_is_built(options: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"sender": SENDER, **options}
    with pytest.raises(ValueError, match=message):
        SmtpMailer("127.0.0.1", 25, **arguments)  # type: ignore[arg-type]


# --- ConsoleMailer ---------------------------------------------------------------------------------------------------


async def test_the_console_mailer_prints_the_message_and_logs_a_line_without_the_body(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream = io.StringIO()
    with caplog.at_level(logging.INFO, logger="elearning.mail"):
        await ConsoleMailer(stream).send(MailMessage("zoe@example.test", SUBJECT, BODY))

    printed = stream.getvalue()
    assert "To: zoe@example.test\n" in printed
    assert f"Subject: {SUBJECT}\n" in printed
    assert f"\n\n{BODY}\n" in printed
    [record] = [r for r in caplog.records if r.name == "elearning.mail"]
    assert record.levelno == logging.INFO
    assert "zoe@example.test" in record.getMessage()
    assert SUBJECT in record.getMessage()
    assert "verify?t=abc" not in record.getMessage()
    assert "\n" not in record.getMessage()


async def test_the_console_mailer_writes_to_standard_error_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    await ConsoleMailer().send(MailMessage("zoe@example.test", "Reset your password", "https://learn.example/r"))

    captured = capsys.readouterr()
    assert "To: zoe@example.test" in captured.err
    assert "https://learn.example/r" in captured.err
    assert captured.out == ""


def test_console_blocks_from_many_threads_do_not_interleave() -> None:
    class SlowStream(io.StringIO):
        """Writes in small pieces with thread switches between them, like a real pipe may."""

        def write(self, text: str) -> int:
            for start in range(0, len(text), 7):
                super().write(text[start : start + 7])
                time.sleep(0)
            return len(text)

    stream = SlowStream()
    mailer = ConsoleMailer(stream)

    def send(i: int) -> None:
        asyncio.run(mailer.send(MailMessage(f"user{i}@example.test", f"subject {i}", f"line one {i}\nline two {i}")))

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(send, range(40)))

    printed = stream.getvalue()
    for i in range(40):
        assert f"To: user{i}@example.test\nSubject: subject {i}\n\nline one {i}\nline two {i}\n----- end" in printed


@pytest.mark.parametrize("to", INJECTIONS)
async def test_the_console_mailer_refuses_what_smtp_refuses(to: str) -> None:
    stream = io.StringIO()
    with pytest.raises(MailError, match="line break"):
        await ConsoleMailer(stream).send(MailMessage(to, "Hello", "Hi"))
    assert stream.getvalue() == ""


# --- RecordingMailer -------------------------------------------------------------------------------------------------


async def test_the_recording_mailer_keeps_messages_and_finds_the_last_to_an_address() -> None:
    mailer = RecordingMailer()
    first = MailMessage("zoe@example.test", "One", "1")
    other = MailMessage("max@example.test", "Other", "2")
    last = MailMessage("Zoë <Zoe@Example.test>", "Two", "3")
    for message in (first, other, last):
        await mailer.send(message)

    assert mailer.sent == [first, other, last]
    assert mailer.last_to("zoe@example.test") is last
    assert mailer.last_to("max@example.test") is other
    assert mailer.last_to("nobody@example.test") is None


async def test_the_recording_mailer_can_fail_and_refuses_injection() -> None:
    mailer = RecordingMailer()
    mailer.failure = MailError("server down")
    with pytest.raises(MailError, match="server down"):
        await mailer.send(MailMessage("zoe@example.test", "Hi", "x"))
    with pytest.raises(MailError, match="line break"):
        await RecordingMailer().send(MailMessage("zoe@example.test", "Hi\r\nBcc: x@example.test", "x"))
    assert mailer.sent == []

    mailer.failure = None
    await mailer.send(MailMessage("zoe@example.test", "Hi", "x"))
    assert len(mailer.sent) == 1


# --- mailer_from_settings --------------------------------------------------------------------------------------------


def test_the_default_mailer_is_the_console(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ELEARNING_MAIL_BACKEND", "ELEARNING_SMTP_HOST", "ELEARNING_MAIL_FROM"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(mailer_from_settings(Settings.in_memory()), ConsoleMailer)


async def test_smtp_settings_from_the_environment_deliver_with_credentials(
    smtp_auth_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELEARNING_MAIL_BACKEND", "smtp")
    monkeypatch.setenv("ELEARNING_SMTP_HOST", smtp_auth_server.host)
    monkeypatch.setenv("ELEARNING_SMTP_PORT", str(smtp_auth_server.port))
    credentials = login(smtp_auth_server)
    monkeypatch.setenv("ELEARNING_SMTP_USERNAME", credentials["username"])
    monkeypatch.setenv("ELEARNING_SMTP_PASSWORD", credentials["password"])
    monkeypatch.setenv("ELEARNING_MAIL_FROM", "Academy <academy@learn.example>")
    settings = Settings.in_memory()

    mailer = mailer_from_settings(settings)
    assert isinstance(mailer, SmtpMailer)
    assert credentials["password"] not in repr(settings)
    assert credentials["password"] not in repr(mailer)
    await mailer.send(MailMessage("zoe@example.test", "Hi", "x"))

    [mail] = smtp_auth_server.wait_for(1)
    assert mail.authenticated_as == f"PLAIN:{credentials['username']}"
    assert mail.mail_from == "academy@learn.example"
    assert str(mail.message["From"]) == "Academy <academy@learn.example>"


async def test_smtp_settings_with_a_wrong_password_fail_to_send(smtp_auth_server: SmtpServer) -> None:
    settings = Settings.in_memory(
        mail_backend="smtp",
        smtp_port=smtp_auth_server.port,
        smtp_username=login(smtp_auth_server)["username"],
        smtp_password=SecretStr("not-it"),
    )
    with pytest.raises(MailError, match="authentication"):
        await mailer_from_settings(settings).send(MailMessage("zoe@example.test", "Hi", "x"))


def test_smtp_settings_with_both_tls_modes_are_refused() -> None:
    settings = Settings.in_memory(mail_backend="smtp", smtp_starttls=True, smtp_ssl=True)
    with pytest.raises(ValueError, match="not both"):
        mailer_from_settings(settings)
