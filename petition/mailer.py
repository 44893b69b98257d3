"""Sending mail: over SMTP, or (in development without SMTP_HOST) printed to the console.

The outbox's sender hands a transport every message due at once (`send_all`), and learns for
each whether it went; SMTP sends them all over one connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib

from .settings import Settings

SMTP_TIMEOUT_SECONDS = 30
# Connections one sender opens at once: SMTP sends one message at a time on each.
SMTP_CONNECTIONS = 4


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str


class Mailer(Protocol):
    async def send_all(self, messages: list[Mail]) -> list[Exception | None]:
        """Send each message; for each, None when it went, else why not."""
        ...


class OneByOne:
    """A transport that sends one message at a time with `send`."""

    async def send(self, *, to: str, subject: str, body: str) -> None:
        raise NotImplementedError

    async def send_all(self, messages: list[Mail]) -> list[Exception | None]:
        results: list[Exception | None] = []
        for mail in messages:
            try:
                await self.send(to=mail.to, subject=mail.subject, body=mail.body)
                results.append(None)
            except Exception as error:
                results.append(error)
        return results


class ConsoleMailer(OneByOne):
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

    async def send_all(self, messages: list[Mail]) -> list[Exception | None]:
        """Over up to SMTP_CONNECTIONS connections at once, each sending its share in turn."""
        shares = [messages[i::SMTP_CONNECTIONS] for i in range(min(SMTP_CONNECTIONS, len(messages)))]
        answers = await asyncio.gather(*(self._send_over_one_connection(share) for share in shares))
        results: list[Exception | None] = [None] * len(messages)
        for i, answer in enumerate(answers):
            results[i::SMTP_CONNECTIONS] = answer
        return results

    async def _send_over_one_connection(self, messages: list[Mail]) -> list[Exception | None]:
        settings = self.settings
        client = aiosmtplib.SMTP(
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_user or None,
            password=settings.smtp_password or None,
            use_tls=settings.smtp_tls == "tls",
            start_tls=settings.smtp_tls == "starttls",
            timeout=SMTP_TIMEOUT_SECONDS,
        )
        try:
            await client.connect()
        except Exception as error:
            return [error] * len(messages)
        results: list[Exception | None] = []
        try:
            for mail in messages:
                try:
                    await client.send_message(self._message(mail))
                    results.append(None)
                except aiosmtplib.SMTPServerDisconnected as error:
                    results += [error] * (len(messages) - len(results))
                    break
                except Exception as error:
                    results.append(error)
        finally:
            with contextlib.suppress(Exception):  # every message was answered already
                await client.quit()
        return results

    def _message(self, mail: Mail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.settings.smtp_from
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message.set_content(mail.body)
        return message


def make_mailer(settings: Settings) -> Mailer:
    if settings.smtp_host:
        return SmtpMailer(settings)
    return ConsoleMailer(settings.smtp_from or "petitions@localhost")
