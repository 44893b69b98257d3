"""Joining a round, one participant per person: with a printed round code, or a work-email code.

Joining mirrors signing (signatures.sign_with_code, email_signing): the same neutral code email,
the same attempts, tries and daily cap, and the same answer for a new address, one that joined
already and one over its cap; "already joined" is said only after the right code is typed.

The commit that accepts a join writes only one pending entry (pending_joins, sealed, keyed by a
hash of the participant token) and one join claim (HMAC of the round dedupe tag or the code's
hash), whose unique key refuses a second join with the same address or code at once, in any
process. The participant, the round dedupe tag and the spent code's state are written by a join
batch (join_batches), so nothing on disk pairs a participant with their address or code
(DESIGN.md rules 11 and 12).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from .. import addresses, email_codes
from ..database import Database, Transaction, now
from ..email_signing import ATTEMPT_BYTES, TOO_MANY_TRIES, WRONG_CODE, check_domain
from ..encryption import ADDRESS_PAD, decrypt, encrypt
from ..petitions import PetitionError
from ..settings import Settings
from ..signatures import methods_of
from ..tokens import has_token_shape, receipt_key
from . import participants, pending_joins, queries
from .round_codes import round_code_hash
from .rounds import Found, is_accepting

PARTICIPANT_KEY_BYTES = 16  # 128 random bits
NOT_A_CODE = "This code is not valid for this round, or it was already used."
UNKNOWN_ATTEMPT = "This joining attempt has expired or was already used. Enter your work address again for a new code."
ALREADY_JOINED = "You have already joined this round with this address."
CLOSED = "This round is not open for joining."
TOKEN_GONE = participants.BAD_TOKEN


def round_dedupe_tag(settings: Settings, round_id: str, address: addresses.Address) -> str:
    """HMAC-SHA256(PEPPER, "round-dedupe/v1" | round_id | canonical address): one per mailbox and round."""
    return _mac(settings, f"round-dedupe/v1|{round_id}|{address.canonical}")


def join_claim(settings: Settings, held: str) -> str:
    """A waiting join's claim: HMAC-SHA256(PEPPER, "join-claim/v1" | round dedupe tag or code hash)."""
    return _mac(settings, f"join-claim/v1|{held}")


def attempt_hash(attempt: str) -> str:
    """The key of an emailed attempt: SHA-256("join-attempt/v1" | attempt id)."""
    return receipt_key("join-attempt/v1", attempt)


def attempt_of(text: str) -> str:
    """An attempt id as a form or body carries it, or "" when it cannot be one (then it finds no attempt)."""
    attempt = text.strip()
    return attempt if has_token_shape(attempt, ATTEMPT_BYTES) else ""


def _mac(settings: Settings, text: str) -> str:
    return hmac.new(settings.pepper, text.encode(), hashlib.sha256).hexdigest()


def _attempt_bound(hashed: str) -> str:
    return f"join-attempt/{hashed}"


def check_accepting(found: Found, method: str) -> None:
    """PetitionError(409) unless the round takes joins now, and its petition takes `method`."""
    if not is_accepting(found):
        raise PetitionError(409, CLOSED)
    if method not in methods_of(found.petition["verification"]):
        words = {"code": "printed codes", "email": "work-email codes"}
        raise PetitionError(409, f"This round does not take {words[method]}: its petition does not.")


def _new_join(settings: Settings, content: dict[str, str]) -> tuple[str, dict[str, str]]:
    """A fresh participant token and the values of its pending entry holding `content`."""
    token = participants.new_token()
    key = pending_joins.pending_key(token)
    entry = {
        "participant": secrets.token_hex(PARTICIPANT_KEY_BYTES),
        "token_hash": participants.token_hash(token),
        **content,
    }
    return token, {"pending_key": key, "sealed": pending_joins.seal(settings, key, entry)}


async def _accepting(tx: Transaction, round_id: str) -> bool:
    return await tx.fetch_one(queries.SELECT_ACCEPTING_ROUND, {"round_id": round_id, "now": now()}) is not None


async def _claim(tx: Transaction, claim: str, round_id: str) -> bool:
    """Inside a write: hold the claim; False when a waiting join holds it (on PostgreSQL, after
    waiting for a holder in another process to commit, or for a batch deleting it)."""
    return await tx.fetch_one(queries.INSERT_JOIN_CLAIM, {"claim": claim, "round_id": round_id}) is not None


async def join_with_code(db: Database, settings: Settings, *, found: Found, code: str) -> str:
    """Accept a join with a printed round code (it waits for its batch); the participant token,
    once the commit is durable. PetitionError 422 (one answer for a wrong, used, revoked or other
    round's code), 409 (closed, or the petition takes no printed codes)."""
    check_accepting(found, "code")
    round_id = found.round["id"]
    hashed = round_code_hash(settings.pepper, code)
    claim = join_claim(settings, hashed)
    row = await db.fetch_one(queries.SELECT_ROUND_CODE, {"code_hash": hashed, "round_id": round_id})
    if row is None or row["state"] != 0:
        raise PetitionError(422, NOT_A_CODE, "code")
    content = {"method": "code", "code_hash": hashed, "code_batch": row["batch_id"]}
    token, entry = _new_join(settings, content)

    async def accept(tx: Transaction) -> str:
        if not await _accepting(tx, round_id):
            return "closed"
        if not await _claim(tx, claim, round_id):
            return "used"
        # Checked after the claim is held: a batch spending this code meanwhile has committed by now.
        state = await tx.fetch_one(queries.SELECT_ROUND_CODE_STATE, {"code_hash": hashed})
        if state is None or state["state"] != 0:
            await tx.execute(queries.DELETE_JOIN_CLAIM, {"claim": claim})
            return "used"
        await tx.execute(queries.INSERT_PENDING_JOIN, {**entry, "round_id": round_id})
        return "joined"

    outcome = await db.write(accept, lock_key=f"round-code/{hashed}")
    if outcome == "closed":
        raise PetitionError(409, CLOSED)
    if outcome == "used":
        raise PetitionError(422, NOT_A_CODE, "code")
    return token


def _parse(text: str) -> addresses.Address:
    try:
        return addresses.parse(text)
    except addresses.AddressRefused as error:
        raise PetitionError(422, str(error), "email") from None


async def ask_for_code(db: Database, settings: Settings, *, found: Found, email: str) -> str:
    """Start an emailed attempt to join and send its code; the attempt id, the same answer for a
    new address, one that joined already and one over its daily cap. PetitionError 422 (not an
    address at the petition's work domains), 409 (closed, or the petition takes no work email)."""
    check_accepting(found, "email")
    address = _parse(email)
    try:
        check_domain(found.petition, address)
    except PetitionError as error:
        raise PetitionError(error.status, error.message, "email") from None
    attempt = secrets.token_urlsafe(ATTEMPT_BYTES)
    hashed = attempt_hash(attempt)
    # The address as typed (mail goes to it), padded to one length: nothing else is kept.
    sealed = encrypt(settings.encryption_key, address.mailbox, _attempt_bound(hashed), pad_to=ADDRESS_PAD)

    async def unit(tx: Transaction) -> None:
        sent = await email_codes.send_code(
            tx, settings, petition_id=found.petition["id"], address=address, bound_to=hashed
        )
        await tx.execute(
            queries.INSERT_JOIN_ATTEMPT,
            {
                "attempt_hash": hashed,
                "round_id": found.round["id"],
                "sealed": sealed,
                "code_hash": sent,
                "expires_at": now() + email_codes.CODE_SECONDS,
            },
        )

    await db.write(unit)
    return attempt


def _kept_address(settings: Settings, hashed: str, sealed: str) -> addresses.Address | None:
    return addresses.parse_or_none(decrypt(settings.encryption_key, sealed, _attempt_bound(hashed)).strip())


async def attempt_is_live(db: Database, *, found: Found, attempt: str) -> bool:
    """Whether the attempt exists for this round and its code has not expired."""
    row = await db.fetch_one(queries.SELECT_JOIN_ATTEMPT, {"attempt_hash": attempt_hash(attempt)})
    return row is not None and row["round_id"] == found.round["id"] and row["expires_at"] > now()


async def resend(db: Database, settings: Settings, *, found: Found, attempt: str) -> None:
    """A new code for the same attempt (the old one stops working), within the same daily cap.
    PetitionError 404 (no such live attempt), 409 (closed)."""
    check_accepting(found, "email")
    hashed = attempt_hash(attempt)

    async def unit(tx: Transaction) -> bool:
        row = await tx.fetch_one(queries.SELECT_JOIN_ATTEMPT, {"attempt_hash": hashed})
        if row is None or row["round_id"] != found.round["id"] or row["expires_at"] <= now():
            return False
        address = _kept_address(settings, hashed, row["sealed"])
        if address is None:
            return False
        sent = await email_codes.send_code(
            tx, settings, petition_id=found.petition["id"], address=address, bound_to=hashed
        )
        renewed = {"attempt_hash": hashed, "code_hash": sent, "expires_at": now() + email_codes.CODE_SECONDS}
        await tx.execute(queries.RENEW_JOIN_ATTEMPT, renewed)
        return True

    if not await db.write(unit):
        raise PetitionError(404, UNKNOWN_ATTEMPT)


async def verify(db: Database, settings: Settings, *, found: Found, attempt: str, code: str) -> str:
    """Check the emailed code and accept the join (it waits for its batch); the participant token,
    once the commit is durable.

    The attempt is read, never changed, by the write that accepts (its expiry is a time to the
    second): the join batch deletes it, or it expires. PetitionError 404 (no such live attempt),
    429 (tries spent), 422 (wrong code), 409 (closed, or this address joined already).
    """
    check_accepting(found, "email")
    round_id = found.round["id"]
    hashed = attempt_hash(attempt)
    row = await db.fetch_one(queries.SELECT_JOIN_ATTEMPT, {"attempt_hash": hashed})
    if row is None or row["round_id"] != round_id or row["expires_at"] <= now():
        raise PetitionError(404, UNKNOWN_ATTEMPT)
    address = _kept_address(settings, hashed, row["sealed"])
    if address is None:
        raise PetitionError(404, UNKNOWN_ATTEMPT)
    tag = round_dedupe_tag(settings, round_id, address)
    claim = join_claim(settings, tag)
    token, entry = _new_join(settings, {"method": "email", "tag": tag, "attempt": hashed})

    async def unit(tx: Transaction) -> str:
        current = await tx.fetch_one(queries.SELECT_JOIN_ATTEMPT, {"attempt_hash": hashed})
        if current is None or current["expires_at"] <= now():
            return "unknown"
        if current["tries"] >= email_codes.MAX_TRIES:
            return "exhausted"
        if not email_codes.matches(current["code_hash"], settings, hashed, code):
            # Counted inside the write: concurrent guesses cannot share one try.
            await tx.execute(queries.COUNT_JOIN_ATTEMPT_TRY, {"attempt_hash": hashed})
            return "wrong"
        if not await _accepting(tx, round_id):
            return "closed"
        # Held first, then checked against the counted tags: on PostgreSQL, holding it waits for a
        # batch moving the same tag from waiting to counted, whose rows the check then sees.
        if not await _claim(tx, claim, round_id):
            return "already"
        if await tx.fetch_one(queries.SELECT_ROUND_DEDUPE, {"tag": tag}) is not None:
            await tx.execute(queries.DELETE_JOIN_CLAIM, {"claim": claim})
            return "already"
        await tx.execute(queries.INSERT_PENDING_JOIN, {**entry, "round_id": round_id})
        return "joined"

    outcome = await db.write(unit, lock_key=f"round-tag/{tag}")
    if outcome == "joined":
        return token
    status, message = {
        "unknown": (404, UNKNOWN_ATTEMPT),
        "exhausted": (429, TOO_MANY_TRIES),
        "wrong": (422, WRONG_CODE),
        "closed": (409, CLOSED),
        "already": (409, ALREADY_JOINED),
    }[outcome]
    raise PetitionError(status, message, "code" if status == 422 else None)


async def replace_token(db: Database, settings: Settings, *, found: Found, token: str) -> str:
    """A new participant token in place of `token` (the one way a token is revoked: the old one
    finds nothing after); the new token, once durable. A waiting join's entry is sealed again
    under the new token's key in the same write. PetitionError 401 when `token` holds nothing here."""
    round_id = found.round["id"]
    old_key = pending_joins.pending_key(token)
    fresh = participants.new_token()
    new_key = pending_joins.pending_key(fresh)
    new_hash = participants.token_hash(fresh)

    async def unit(tx: Transaction) -> bool:
        # The waiting entry first: a batch counting it meanwhile (another process) has committed
        # by the time the move finds it gone, and the participant row then shows.
        row = await tx.fetch_one(queries.SELECT_PENDING_JOIN, {"pending_key": old_key})
        if row is not None and row["round_id"] == round_id:
            content = {**pending_joins.unseal(settings, old_key, row["sealed"]), "token_hash": new_hash}
            sealed = pending_joins.seal(settings, new_key, content)
            moved = {"old_key": old_key, "new_key": new_key, "sealed": sealed}
            if await tx.fetch_one(queries.MOVE_PENDING_JOIN, moved) is not None:
                return True
        values = {"old_hash": participants.token_hash(token), "new_hash": new_hash, "round_id": round_id}
        return await tx.fetch_one(queries.REPLACE_PARTICIPANT_TOKEN, values) is not None

    if not await db.write(unit):
        raise PetitionError(401, TOKEN_GONE)
    return fresh


async def purge_expired(db: Database) -> None:
    """Delete joining attempts whose codes expired (housekeeping, next to email_signing.purge_expired)."""

    async def unit(tx: Transaction) -> None:
        await tx.execute(queries.DELETE_EXPIRED_JOIN_ATTEMPTS, {"now": now()})

    await db.write(unit)
