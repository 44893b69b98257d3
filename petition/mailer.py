"""Sending mail: over SMTP, or (in development without SMTP_HOST) printed to the console."""

from __future__ import annotations

import sys
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib

from .settings import Settings

SMTP_TIMEOUT_SECONDS = 30


class Mailer(Protocol):
    async def send(self, *, to: str, subject: str, body: str) -> None: ...


class ConsoleMailer:
    """Development only: prints each message to stderr instead of sending it."""

    def __init__(self, sender: str) -> None:
        self.sender = sender

    async def send(self, *, to: str, subject: str, body: str) -> None:
        header = f"From: {self.sender}\nTo: {to}\nSubject: {subject}"
        print(f"--- mail (development: printed, not sent) ---\n{header}\n\n{body}\n---", file=sys.stderr, flush=True)


class SmtpMailer:
    """Sends each message over SMTP with the SMTP_* settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, *, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.settings.smtp_from
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        settings = self.settings
        await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_user or None,
            password=settings.smtp_password or None,
            use_tls=settings.smtp_tls == "tls",
            start_tls=settings.smtp_tls == "starttls",
            timeout=SMTP_TIMEOUT_SECONDS,
        )


def make_mailer(settings: Settings) -> Mailer:
    if settings.smtp_host:
        return SmtpMailer(settings)
    return ConsoleMailer(settings.smtp_from or "petitions@localhost")
