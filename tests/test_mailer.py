"""Sending over SMTP: one envelope recipient per message, and a server without STARTTLS said plainly."""

from __future__ import annotations

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
