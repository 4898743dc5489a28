"""A notification sender process that dies by SIGKILL right after the SMTP server accepted a mail, before
the delivery is recorded sent.

Run by ``test_notifications.py`` as ``python crashing_notification_sender.py DATABASE_URL SMTP_HOST SMTP_PORT``.
It is the real ``NotificationSender`` with the real ``SmtpMailer``; only the mailer is wrapped: once
``send()`` returned (the server answered 250 to DATA), the process kills itself, so the sender never
reaches ``mark_sent``. The hook lives here, in test code, never in ``src/``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from dependency_injector import providers

from elearning_adapters.container import bootstrap
from elearning_adapters.email.mailers import SmtpMailer
from elearning_adapters.settings import Settings
from elearning_core.identity.ports import MailMessage


class KillAfterHandoff(SmtpMailer):
    async def send(self, message: MailMessage) -> None:
        await super().send(message)
        os.kill(os.getpid(), signal.SIGKILL)


async def main(database_url: str, host: str, port: int) -> None:
    settings = Settings(database_url=database_url, data_dir=Path(os.environ["DATA_DIR"]), scheduler="off")
    platform = await bootstrap(settings, run_migrations=False)
    mailer = KillAfterHandoff(host, port, sender=settings.mail_from, timeout=5)
    platform.container.notification.mailer.override(providers.Object(lambda: mailer))
    await platform.container.notification.sender().send_due()
    await platform.aclose()  # not reached: the first handoff kills the process


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
