"""Codes sent by email: to prove a work address, and to confirm an address for updates.

A code is 8 Crockford base32 characters from `secrets` (40 bits, shown as
XXXX-XXXX), kept only as an HMAC bound to what asked for it, valid for 15
minutes and 5 tries. Each mailbox (an address's canonical form) gets at most
MAX_CODE_EMAILS_PER_DAY code emails per petition; past that, the request is answered the same but no mail
goes out (so the answer never says whether an address is busy). The message is
the same for every purpose and says nothing of the petition: the employer's
mail system sees it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata

from . import addresses, codes, outbox, queries
from .addresses import Address
from .database import Transaction, now
from .settings import Settings

CODE_LENGTH = 8
CODE_SECONDS = 15 * 60
MAX_TRIES = 5
DAY_SECONDS = 86400
# Spellings a v1 tag may have been made from: NFC or NFD, the domain in ASCII or Unicode.
EARLIER_TAGS = 4
SUBJECT = "Your verification code"
BODY = (
    "Your verification code is:\n\n    {code}\n\n"
    "Type it on the page where you asked for it. It works once, for 15 minutes.\n\n"
    "If you did not ask for a code, ignore this message; nothing happens without it.\n"
)


def dedupe_tag(settings: Settings, petition_id: str, address: Address) -> str:
    """HMAC-SHA256(pepper, "dedupe/v2" | petition_id | canonical address): one per mailbox and petition."""
    return _mac(settings, f"dedupe/v2|{petition_id}|{address.canonical}")


def earlier_dedupe_tags(settings: Settings, petition_id: str, address: Address) -> list[str]:
    """The "dedupe/v1" tags this address may have been stored under before v2 (lower case, no +tag).

    v1 tags cannot be turned into v2 tags (the addresses were never kept), so a signature
    checks these too: the spellings v1 saw most (the address as typed, composed or not)
    are still caught; a variant v1 counted apart (a dot moved at gmail.com) is not.
    """
    local = address.mailbox.lower().rpartition("@")[0].split("+", 1)[0]
    tags = []
    # v1 hashed the domain as typed: its ASCII form or, for an international one, its Unicode form.
    for domain in dict.fromkeys([address.domain, addresses.unicode_domain(address.domain).lower()]):
        for form in ("NFC", "NFD"):
            tag = _mac(settings, f"dedupe/v1|{petition_id}|{unicodedata.normalize(form, f'{local}@{domain}')}")
            if tag not in tags:
                tags.append(tag)
    return tags


def as_parameters(tag: str, earlier: list[str]) -> dict[str, str]:
    """An address's dedupe/v2 tag and up to EARLIER_TAGS v1 tags -> the parameters of
    queries.SELECT_ANY_EMAIL_DEDUPE (the last repeated when there are fewer)."""
    tags = [tag, *earlier]
    padded = tags + tags[-1:] * (EARLIER_TAGS + 1 - len(tags))
    return {f"tag{i}": value for i, value in enumerate(padded[: EARLIER_TAGS + 1])}


def code_hash(settings: Settings, bound_to: str, code: str) -> str:
    """What is kept of a code: an HMAC bound to the attempt (or receipt) it was sent for."""
    return _mac(settings, f"email-code/v1|{bound_to}|{codes.normalize(code)}")


def _mac(settings: Settings, text: str) -> str:
    return hmac.new(settings.pepper, text.encode(), hashlib.sha256).hexdigest()


def matches(kept: str, settings: Settings, bound_to: str, code: str) -> bool:
    return hmac.compare_digest(kept, code_hash(settings, bound_to, code))


async def send_code(tx: Transaction, settings: Settings, *, petition_id: str, address: Address, bound_to: str) -> str:
    """Inside a write: queue a code email to `address.mailbox` unless its canonical form is over
    today's cap; the code's hash.

    Over the cap, the hash is of a code nobody has, and nothing is queued; the caller
    answers exactly as it would otherwise.
    """
    day = now() // DAY_SECONDS
    # Counted under the canonical form, so `Bob+1@` and `bob@` share one cap.
    count_key = _mac(settings, f"sends/v2|{petition_id}|{address.canonical}|{day}")
    row = await tx.fetch_one(queries.COUNT_CODE_EMAIL, {"count_key": count_key, "day": day, "petition_id": petition_id})
    code = codes.new_code(CODE_LENGTH)
    if row is None or int(row["sent"]) > settings.max_code_emails_per_day:
        return code_hash(settings, bound_to, secrets.token_hex(16))
    await outbox.queue(
        tx,
        settings,
        to=address,
        subject=SUBJECT,
        body=BODY.format(code=code),
        petition_id=petition_id,
        expires_in=CODE_SECONDS,
    )
    return code_hash(settings, bound_to, code)
