"""Mail adapters: the console default, SMTP delivery and a recording mailer."""

from elearning_adapters.email.mailers import ConsoleMailer, RecordingMailer, SmtpMailer, mailer_from_settings

__all__ = ["ConsoleMailer", "RecordingMailer", "SmtpMailer", "mailer_from_settings"]
