"""Email addresses: the one parser for every address the service takes, and the form each is counted under.

Signing, updates, organizers, setup, login, reset, invitations and the CLI all read
addresses through `parse`. It takes what `email-validator` takes (without DNS: nothing
is looked up while a request waits) and, since an address here decides who may sign
and where mail goes, refuses what that library still lets through but no ordinary
work address needs: quoted local parts, comments, commas, MIME encoded words
(`=?utf-8?q?...?=`), routing characters (`%`, `!`), whitespace and control characters.
The refusal depends on the text alone, never on whether the address signed.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import unicodedata
from dataclasses import dataclass

import idna
from email_validator import EmailNotValidError, validate_email
from email_validator.syntax import validate_email_domain_name

MAX_LENGTH = 254
MAX_LOCAL_PART_OCTETS = 64  # RFC 5321 4.5.3.1.1
REFUSED = "Enter one plain email address, like name@example.org."
DOMAIN_REFUSED = "must be a domain like example.org"
# The ASCII characters of an ordinary dot-atom (RFC 5322 atext). Left out on purpose: `%` and
# `!`, since some mail servers still route on them (`bob%evil.org@example.com`).
ATEXT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789#$&'*+/=?^_`{|}~-")
ENCODED_WORD = re.compile(r"=\?|\?=")
# Providers that deliver `a.b@` and `ab@` to one mailbox, and the domain each counts under.
DOTLESS_PROVIDERS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


class AddressRefused(ValueError):
    """The text is not an address the service takes; `str(error)` is the one message for every case."""

    def __init__(self) -> None:
        super().__init__(REFUSED)


@dataclass(frozen=True)
class Address:
    """A parsed address.

    `mailbox` is where mail goes: the address as typed (the signer's own case and +tag,
    since some servers heed them), NFC-normalised, with the domain IDNA-normalised.
    `domain` is the domain's ASCII form (A-labels, lower case), matched against allowed
    domains. `canonical` is the form an address is counted under (see `canonical_form`).
    """

    mailbox: str
    domain: str
    canonical: str


def parse(text: str) -> Address:
    """Text typed as an address -> the Address; AddressRefused for anything else.

    Surrounding whitespace is dropped (phone keyboards add it); the rest is
    NFC-normalised before anything else is looked at, so composed and decomposed
    spellings of one address are one address.
    """
    text = unicodedata.normalize("NFC", text.strip())
    if len(text) > MAX_LENGTH or _has_hidden_characters(text) or ENCODED_WORD.search(text):
        raise AddressRefused()
    try:
        valid = validate_email(
            text,
            check_deliverability=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
            allow_empty_local=False,
        )
    except EmailNotValidError:
        raise AddressRefused() from None
    local = valid.local_part
    if local is None or len(local.encode()) > MAX_LOCAL_PART_OCTETS or not _is_dot_atom(local) or local.startswith("+"):
        raise AddressRefused()
    domain = valid.ascii_domain.lower()
    # An ASCII local part goes out with the A-label domain, so no server needs SMTPUTF8 for it.
    mailbox = f"{local}@{domain}" if local.isascii() else f"{local}@{valid.domain}"
    return Address(mailbox=mailbox, domain=domain, canonical=canonical_form(local, domain))


def canonical_form(local: str, domain: str) -> str:
    """The form one mailbox is counted under: compatibility-normalised (NFKC: full-width `ｂob`
    is `bob`), lower case, without a +tag, and without dots at providers that ignore them
    (googlemail.com counted as gmail.com).

    NFKC errs toward one count: two spellings a mail server might keep apart (`ｂob@`, `bob@`)
    are one signature here, never two, since a person could otherwise sign with each.
    """
    local = unicodedata.normalize("NFKC", local).lower()
    local = local.split("+", 1)[0]
    domain = DOTLESS_PROVIDERS.get(domain, domain)
    if domain in DOTLESS_PROVIDERS.values():
        local = local.replace(".", "")
    return f"{local}@{domain}"


def unicode_domain(domain: str) -> str:
    """A domain's ASCII form (`xn--bcher-kva.de`) -> the form people read (`bücher.de`); unchanged if it has none."""
    try:
        return idna.decode(domain)
    except idna.IDNAError:
        return domain


def normalise_domain(text: str) -> str:
    """A domain as typed (`Bücher.DE`) -> its ASCII form (`xn--bcher-kva.de`); ValueError(DOMAIN_REFUSED) otherwise."""
    text = unicodedata.normalize("NFC", text.strip())
    if not text or _has_hidden_characters(text):
        raise ValueError(DOMAIN_REFUSED)
    try:
        found = validate_email_domain_name(text, test_environment=False, globally_deliverable=True)
    except EmailNotValidError:
        raise ValueError(DOMAIN_REFUSED) from None
    return str(found["ascii_domain"]).lower()


def shown_domain(domain: str) -> str:
    """A domain as kept and matched (`xn--bcher-kva.de`) -> as people read it (`bücher.de`);
    as it is when it is no domain."""
    try:
        found = validate_email_domain_name(domain, test_environment=False, globally_deliverable=True)
    except EmailNotValidError:
        return domain
    return str(found["domain"])


def shown_domains(allowed_domains: str) -> str:
    """A petition's stored `allowed_domains` (JSON) -> "a.org, bücher.de", for people to read."""
    return ", ".join(shown_domain(domain) for domain in json.loads(allowed_domains))


@functools.lru_cache(maxsize=64)
def work_domains(allowed_domains: str) -> frozenset[str]:
    """A petition's stored `allowed_domains` (JSON) -> their ASCII forms, as addresses' domains are compared.

    Saving a petition normalises them already; this keeps rows saved before that exact too. A domain
    saved before that the parser refuses (`corp.local`) is left out: no address it takes is there.
    """
    found = set()
    for domain in json.loads(allowed_domains):
        with contextlib.suppress(ValueError):
            found.add(normalise_domain(domain))
    return frozenset(found)


def mailbox_of(text: str) -> str:
    """For a model's field validator: the parsed address's mailbox; ValueError(REFUSED) otherwise."""
    return parse(text).mailbox


def parse_or_none(text: str) -> Address | None:
    """The Address, or None for text that is no address."""
    try:
        return parse(text)
    except AddressRefused:
        return None


def limit_form(text: str) -> str:
    """What a per-address limit counts typed text under: its canonical form, so `Bob+1@` and `bob@` share one."""
    address = parse_or_none(text)
    return address.canonical if address is not None else lookup_form(text)


def lookup_form(text: str) -> str:
    """The form an organizer's login address is kept and found under: the mailbox in lower case.

    Text that is no address is only normalised the same way, so looking it up finds nothing.
    """
    address = parse_or_none(text)
    return address.mailbox.lower() if address is not None else unicodedata.normalize("NFC", text.strip()).lower()


def _is_dot_atom(local: str) -> bool:
    """Words of atext (or letters, marks and digits of any script) joined by single dots."""
    if not all(local.split(".")):
        return False
    return all(char in ATEXT or _is_letter_of_any_script(char) for char in local.replace(".", ""))


def _is_letter_of_any_script(char: str) -> bool:
    return not char.isascii() and unicodedata.category(char)[0] in "LMN"


def _has_hidden_characters(text: str) -> bool:
    """Whitespace, controls, format characters (bidi, zero-width) or unassigned code points anywhere."""
    return any(unicodedata.category(char)[0] in "CZ" for char in text)
