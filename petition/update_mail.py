"""The email that carries a petition's update to one signer who asked for updates.

It goes to the personal address the signer chose (an address at one of the petition's work
domains is refused where it is given), so, unlike the neutral code emails, it names the
petition: the update's title and body, the petition's title and address, why it came, and how
to stop: the unsubscribe link (a page that confirms with a POST) or the receipt. A plain-text
part and an HTML alternative with the same words (every value escaped; no image, no remote
anything, nothing that tracks). Headers: a `Message-ID` stable for (update, contact), so a
message sent twice (sending is at least once) is one message to mail clients; `List-Unsubscribe`
and `List-Unsubscribe-Post` (RFC 2369, RFC 8058), so mail clients offer one-click unsubscribe.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import textwrap
from collections.abc import Mapping
from html import escape
from typing import Any
from urllib.parse import urlsplit

from . import languages, unsubscribe
from .database import Row, Transaction
from .mailer import Mail
from .settings import Settings

MESSAGE_ID_LABEL = b"update-message-id/v1"
# Lines of prose are wrapped at this width (RFC 5322 recommends at most 78 characters a line);
# a link longer than that is never broken.
LINE_WIDTH = 72
WHY = "You get this email because you asked for updates when you signed this petition."
SPACES = re.compile(r"\s+")
# RFC 5322's dot-atom-text, the form a Message-ID's right side takes here.
DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


async def message_for(
    tx: Transaction,
    settings: Settings,
    *,
    petition: Row,
    update: Mapping[str, Any],
    contact_key: str,
    address: str,
) -> Mail:
    """Inside a write: the update's email to `address`, the confirmed updates address stored
    under `contact_key`. `update` holds at least "id", "title" and "body". The contact's
    unsubscribe token's hash is kept on its row if it is not there yet (the same token in every
    update email to it). The same arguments give the same message (a resend is the same one)."""
    unsubscribe_url = await unsubscribe.link_for(tx, settings, contact_key=contact_key)
    petition_url = f"{settings.base_url}/p/{petition['slug']}"
    receipt_url = f"{petition_url}/receipt"
    petition_title = one_line(str(petition["title"]))
    update_title = one_line(str(update["title"]))
    body = str(update["body"]).replace("\r\n", "\n").strip()
    subject = f"Update on “{petition_title}”: {update_title}"
    text = "\n".join(
        [
            update_title,
            "",
            wrapped(body),
            "",
            "-- ",  # the signature separator: mail clients set what follows apart
            wrapped(f"This is an update on the petition “{petition_title}”:"),
            petition_url,
            "",
            wrapped(WHY),
            "",
            wrapped("To stop updates, open this link and confirm (nothing else is needed):"),
            unsubscribe_url,
            wrapped("Or use your receipt on the petition's receipt page:"),
            receipt_url,
            "",
        ]
    )
    headers = (
        ("Message-ID", message_id(settings, update_id=str(update["id"]), contact_key=contact_key)),
        ("List-Unsubscribe", f"<{unsubscribe_url}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        # What mailing lists send: out-of-office responders stay quiet instead of answering
        # SMTP_FROM once for every signer. (Not Auto-Submitted: an organizer wrote the update.)
        ("Precedence", "bulk"),
    )
    page = html_part(
        subject=subject,
        language=str(petition["language"]),
        update_title=update_title,
        body=body,
        petition_title=petition_title,
        petition_url=petition_url,
        unsubscribe_url=unsubscribe_url,
        receipt_url=receipt_url,
    )
    return Mail(address, subject, text, html=page, headers=headers)


def message_id(settings: Settings, *, update_id: str, contact_key: str) -> str:
    """`<hex@host>` for one update to one contact: HMAC-SHA256 of both under a key derived from
    SECRET_KEY, so it is the same on every send and pairs them for nobody without that key; the
    host is BASE_URL's (RFC 5322 §3.6.4)."""
    key = hmac.new(settings.secret_key, MESSAGE_ID_LABEL, hashlib.sha256).digest()
    digest = hmac.new(key, f"{update_id}|{contact_key}".encode(), hashlib.sha256).hexdigest()[:32]
    host = urlsplit(settings.base_url).hostname or ""
    if not DOT_ATOM.fullmatch(host):  # an IPv6 literal has no dot-atom form
        host = "localhost"
    return f"<{digest}.update@{host}>"


def one_line(text: str) -> str:
    """Text for a subject or a heading: every run of white space (line breaks too) one space."""
    return SPACES.sub(" ", text).strip()


def wrapped(text: str) -> str:
    """Plain text with each line longer than LINE_WIDTH wrapped at spaces; its own line breaks
    and blank lines kept, a word (a link) longer than a line never broken."""
    lines: list[str] = []
    for line in text.split("\n"):
        if len(line) <= LINE_WIDTH:
            lines.append(line.rstrip())
            continue
        lines += textwrap.wrap(line, LINE_WIDTH, break_long_words=False, break_on_hyphens=False) or [""]
    return "\n".join(lines)


def html_part(
    *,
    subject: str,
    language: str,
    update_title: str,
    body: str,
    petition_title: str,
    petition_url: str,
    unsubscribe_url: str,
    receipt_url: str,
) -> str:
    """The HTML alternative: the plain part's words in simple markup, every value escaped
    (titles and body are organizers' text), no style, image or script."""
    lang = f'lang="{escape(language)}" dir="{languages.direction(language)}"'
    paragraphs = "\n".join(
        f"<p {lang}>{'<br>'.join(escape(line) for line in paragraph.split(chr(10)))}</p>"
        for paragraph in re.split(r"\n\s*\n", body)
        if paragraph.strip()
    )
    return f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{escape(subject)}</title></head>
<body>
<h1 {lang}>{escape(update_title)}</h1>
{paragraphs}
<hr>
<p>This is an update on the petition
“<a href="{escape(petition_url)}"><bdi {lang}>{escape(petition_title)}</bdi></a>”.</p>
<p>{escape(WHY)}</p>
<p><a href="{escape(unsubscribe_url)}">Stop updates</a> (the page asks you to confirm), or use your receipt
on <a href="{escape(receipt_url)}">the petition's receipt page</a>.</p>
</body>
</html>
"""
