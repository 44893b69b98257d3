"""Sending mail: over SMTP, or (in development without SMTP_HOST) printed to the console.

The outbox's sender hands a transport every message due at once (`send_all`), and learns for
each whether it went; SMTP sends them all over one connection. Each message goes to exactly one
envelope recipient, its parsed address, given to the SMTP client explicitly: headers are
never read to find recipients.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import sys
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Protocol

import aiosmtplib

from . import addresses
from .settings import Settings

logger = logging.getLogger("petition.mailer")

SMTP_TIMEOUT_SECONDS = 30
# Connections one sender opens at once: SMTP sends one message at a time on each.
SMTP_CONNECTIONS = 4


# Headers a message may not set for itself: the mailer writes these from the settings and the
# parsed recipient, so no stored message can add a recipient or pose as another sender.
RESERVED_HEADERS = frozenset({"from", "to", "cc", "bcc", "subject", "sender", "reply-to", "content-type", "date"})


@dataclass(frozen=True)
class Mail:
    """One message: `body` is its plain-text part; `html`, when given, an alternative part;
    `headers` extra (name, value) pairs such as Message-ID or List-Unsubscribe (never one of
    RESERVED_HEADERS: ValueError when sent)."""

    to: str
    subject: str
    body: str
    html: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


class StartTlsMissing(aiosmtplib.SMTPException):
    """SMTP_TLS is starttls, and the mail server does not offer STARTTLS."""


class Mailer(Protocol):
    async def send_all(self, messages: list[Mail]) -> list[Exception | None]:
        """Send each message; for each, None when it went, else why not."""
        ...


class OneByOne:
    """A transport that sends one message at a time with `send`."""

    async def send(self, mail: Mail) -> None:
        raise NotImplementedError

    async def send_all(self, messages: list[Mail]) -> list[Exception | None]:
        results: list[Exception | None] = []
        for mail in messages:
            try:
                await self.send(mail)
                results.append(None)
            except Exception as error:
                results.append(error)
        return results


class ConsoleMailer(OneByOne):
    """Development only: prints each message to stderr instead of sending it."""

    def __init__(self, sender: str) -> None:
        self.sender = sender

    async def send(self, mail: Mail) -> None:
        lines = [f"From: {self.sender}", f"To: {mail.to}", f"Subject: {mail.subject}"]
        lines += [f"{name}: {value}" for name, value in mail.headers]
        header = "\n".join(lines)
        print(
            f"--- mail (development: printed, not sent) ---\n{header}\n\n{mail.body}\n---", file=sys.stderr, flush=True
        )


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
        try:
            client = await self._connect()
        except Exception as error:
            return [error] * len(messages)
        results: list[Exception | None] = []
        try:
            for mail in messages:
                try:
                    message, recipient = self._message(mail)
                    await client.send_message(message, sender=self.envelope_sender, recipients=[recipient])
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

    async def _connect(self) -> aiosmtplib.SMTP:
        """A connection, upgraded to TLS as SMTP_TLS says and logged in; StartTlsMissing when it cannot be."""
        settings = self.settings
        # Neither STARTTLS nor the login is left to connect(): the login must wait for TLS, and a
        # server without STARTTLS deserves a log line that says what to set.
        client = aiosmtplib.SMTP(
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            use_tls=settings.smtp_tls == "tls",
            start_tls=False,
            timeout=SMTP_TIMEOUT_SECONDS,
        )
        await client.connect()
        try:
            if settings.smtp_tls == "starttls":
                await client.ehlo()
                if not client.supports_extension("starttls"):
                    logger.error(
                        "the mail server %s:%d does not offer STARTTLS, and SMTP_TLS is starttls: no mail is sent. "
                        "Set SMTP_TLS=tls if it takes implicit TLS (usually port 465), or SMTP_TLS=none only if "
                        "nobody else can read the connection to it (a server on this machine)",
                        settings.smtp_host,
                        settings.smtp_port,
                    )
                    raise StartTlsMissing("the mail server does not offer STARTTLS")
                await client.starttls()
            if settings.smtp_user:
                await client.login(settings.smtp_user, settings.smtp_password)
        except BaseException:
            client.close()
            raise
        return client

    @property
    def envelope_sender(self) -> str:
        """SMTP_FROM's bare address (it may carry a display name)."""
        return parseaddr(self.settings.smtp_from)[1] or self.settings.smtp_from

    @property
    def message_id_domain(self) -> str:
        """The right side of the Message-IDs made here: SMTP_FROM's domain, as mail servers expect."""
        return self.envelope_sender.rpartition("@")[2] or "localhost"

    def _message(self, mail: Mail) -> tuple[EmailMessage, str]:
        """The message and its one envelope recipient; AddressRefused if `mail.to` is no single plain address."""
        to = addresses.parse(mail.to).mailbox
        message = EmailMessage()
        message["From"] = self.settings.smtp_from
        message["To"] = to  # a parsed address: no comma, quote, comment or encoded word can add another
        message["Subject"] = mail.subject
        # RFC 5322 requires Date; a Message-ID lets mail clients drop a copy sent twice. Mail
        # servers add them only for some clients, and filters mark mail without them as spam.
        message["Date"] = formatdate(localtime=False, usegmt=True)
        names = set()
        for name, value in mail.headers:
            if name.lower() in RESERVED_HEADERS:
                raise ValueError(f"a message may not set its own {name} header")
            names.add(name.lower())
            message[name] = value
        if "message-id" not in names:
            # Random only: make_msgid's default would carry the time and the process id past the
            # employer's mail server.
            message["Message-ID"] = f"<{secrets.token_hex(16)}@{self.message_id_domain}>"
        message.set_content(mail.body)
        if mail.html is not None:
            message.add_alternative(mail.html, subtype="html")
        return message, to


def make_mailer(settings: Settings) -> Mailer:
    if settings.smtp_host:
        return SmtpMailer(settings)
    return ConsoleMailer(settings.smtp_from or "petitions@localhost")
