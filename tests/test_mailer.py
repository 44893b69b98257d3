"""Sending over SMTP: one envelope recipient per message, and a server without STARTTLS said plainly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from petition.addresses import AddressRefused
from petition.mailer import Mail, SmtpMailer, StartTlsMissing

from .conftest import SmtpSink, make_settings, smtp_settings


async def test_a_message_goes_only_to_its_one_parsed_address(tmp_path: Path, smtp: SmtpSink) -> None:
    mailer = SmtpMailer(make_settings(tmp_path, **smtp_settings(smtp)))
    results = await mailer.send_all(
        [
            Mail("ok@example.com, eve@evil.org", "Hello", "body"),
            Mail("=?utf-8?q?eve=40evil.org?=,bob@example.com", "Hello", "body"),
            Mail("Bob+Tag@Example.com", "Hello", "body"),
        ]
    )
    assert isinstance(results[0], AddressRefused) and isinstance(results[1], AddressRefused) and results[2] is None
    assert smtp.envelopes == [["Bob+Tag@example.com"]]
    assert smtp.messages[0]["to_header"] == "Bob+Tag@example.com"


async def test_a_server_without_starttls_is_logged_with_what_to_set(
    tmp_path: Path, smtp: SmtpSink, logs: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path, **{**smtp_settings(smtp), "smtp_tls": "starttls"})
    [result] = await SmtpMailer(settings).send_all([Mail("bob@example.com", "Hello", "body")])
    assert isinstance(result, StartTlsMissing)
    [line] = [record.getMessage() for record in logs.records if record.name == "petition.mailer"]
    assert "does not offer STARTTLS" in line and "SMTP_TLS is starttls" in line
    assert "SMTP_TLS=tls" in line and "SMTP_TLS=none" in line
    assert all("bob" not in record.getMessage() for record in logs.records), "no address in the log"
    assert smtp.envelopes == []


async def test_a_message_carries_its_html_part_and_extra_headers(tmp_path: Path, smtp: SmtpSink) -> None:
    mailer = SmtpMailer(make_settings(tmp_path, **smtp_settings(smtp)))
    mail = Mail(
        "bob@example.com",
        "Hello",
        "plain words",
        html="<p>rich words</p>",
        headers=(("Message-ID", "<abc@example.org>"), ("List-Unsubscribe", "<https://example.org/u/x>")),
    )
    assert await mailer.send_all([mail]) == [None]
    [received] = smtp.messages
    message = received["message"]
    assert message["Message-ID"] == "<abc@example.org>"
    assert message["List-Unsubscribe"] == "<https://example.org/u/x>"
    assert message.get_body(("plain",)).get_content().strip() == "plain words"
    assert message.get_body(("html",)).get_content().strip() == "<p>rich words</p>"


@pytest.mark.parametrize("name", ["To", "bcc", "From", "Subject", "Reply-To"])
async def test_a_message_cannot_set_its_own_recipient_or_sender_headers(
    tmp_path: Path, smtp: SmtpSink, name: str
) -> None:
    mailer = SmtpMailer(make_settings(tmp_path, **smtp_settings(smtp)))
    [result] = await mailer.send_all([Mail("bob@example.com", "Hello", "body", headers=((name, "eve@evil.org"),))])
    assert isinstance(result, ValueError)
    assert smtp.envelopes == []


async def test_the_outbox_keeps_a_messages_html_and_headers_through_its_seal(tmp_path: Path) -> None:
    from petition import outbox

    settings = make_settings(tmp_path)
    mail = Mail("bob@example.com", "Hi", "text", "<p>x</p>", (("Message-ID", "<m@example.org>"),))
    assert outbox.unseal(settings, "id1", outbox.seal(settings, "id1", mail)) == mail


def test_messages_that_differ_only_in_their_address_seal_to_one_length(tmp_path: Path) -> None:
    from petition import outbox

    settings = make_settings(tmp_path)
    # Update emails of every length, so some sit just under a multiple of the outbox's padding.
    for size in range(1000, 1600, 16):
        body = "x" * size
        lengths = {
            len(outbox.seal(settings, "id1", Mail(to, "Update", body, "<p>" + body + "</p>"), contact_key="k" * 64))
            for to in ("a@b.co", "a.very.long.personal.address.indeed@subdomain.example.org", "zoë@exämple.de")
        }
        assert len(lengths) == 1, size
    assert outbox.unseal(settings, "id1", outbox.seal(settings, "id1", Mail("zoë@exämple.de", "s", "b"))).to == (
        "zoë@exämple.de"
    )


async def test_every_message_has_a_date_and_a_message_id(tmp_path: Path, smtp: SmtpSink) -> None:
    mailer = SmtpMailer(make_settings(tmp_path, **smtp_settings(smtp)))
    assert await mailer.send_all([Mail("bob@example.com", "Your code", "123456")]) == [None]
    message = smtp.messages[0]["message"]
    assert message["Date"] is not None and message["Date"].datetime is not None
    assert re.fullmatch(r"<[0-9a-f]{32}@example.net>", message["Message-ID"]), "random, SMTP_FROM's domain"
