"""The delivery certificate's content: one petition's verified count, the rules it was verified by,
its timeline by day, the log checkpoint that proves the count, and what signers chose to make
public (shown names, approved reasons), nothing else about any signer.

`Certificate` is the JSON document; certificate_note.py signs its exact bytes as a C2SP signed
note, and certificate_pdf.py draws the same content for people. `build` reads it in one snapshot
of the database, so its count is the one its checkpoint proves: the batcher moves the count and
signs the checkpoint in one transaction, and both live on the petition's row.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .. import checkpoints, petitions, queries, reasons, timeline, zones
from ..database import Database, Reads, Row
from ..feedback import queries as round_queries
from ..feedback import results_api
from ..feedback import rounds as feedback_rounds
from ..petitions import PetitionError
from ..settings import Settings
from ..verify import NoteError, key_fingerprint, open_note, parse_checkpoint, parse_vkey

logger = logging.getLogger("petition.certificate")
FORMAT = "petition-delivery-certificate/v1"
MAX_REASONS = 20  # approved reasons quoted in a certificate (the count says how many there are)
DAY = timeline.BUCKET_SECONDS["day"]
NAMES_PAGE = 500  # shown names read at once
DRAFT = "This petition is a draft: publish it first. A certificate proves the count of an open or closed petition."
NO_LOG_YET = "This petition's transparency log has not started yet: try again in a minute."
PRINTED_CODES = (
    "Each printed code works once; every batch of codes was committed in the public log, with how many "
    "codes it holds, before any of its codes could sign, so printed-code signatures cannot outnumber "
    "the codes issued."
)
WITHDRAWAL = (
    "a signer may withdraw with their receipt (the withdrawal is an entry of the log too), and may then sign again."
)
DUPLICATES = f"One signature per work address and one per printed code; {WITHDRAWAL}"


def duplicates(methods: list[str]) -> str:
    """The duplicate rule as one sentence, worded for the petition's methods ("email", "code" or both):
    a petition of printed codes only never speaks of work addresses."""
    if set(methods) == {"email"}:
        return f"One signature per work address; {WITHDRAWAL}"
    if set(methods) == {"code"}:
        return f"One signature per printed code; {WITHDRAWAL}"
    return DUPLICATES


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CertificatePetition(Strict):
    """The petition as its public page shows it. Times are ISO 8601 with the petition's offset,
    floored to its timeline_floor."""

    slug: str
    url: str  # the petition's public page: BASE_URL/p/<slug>
    title: str
    summary: str
    body: str
    target: str
    goal: int
    state: Literal["open", "closed"]
    opened_at: str
    closed_at: str | None
    purged_at: str | None  # when its identifying data was destroyed (its log then ends with the purge record)
    time_zone: str


class MethodCounts(Strict):
    """The verified count by how signers proved they work there (DESIGN.md rule 8: exempt from cells)."""

    work_email: int
    printed_code: int


class Rules(Strict):
    """How a signature was verified: the work-email domains, the printed codes and the duplicate rule."""

    methods: list[Literal["email", "code"]]
    allowed_domains: list[str]
    codes_issued: int  # printed codes committed in the log, all batches
    code_batches: int
    printed_codes: str  # one sentence: how printed codes were issued
    duplicates: str  # one sentence: the duplicate rule


class TimelineDay(Strict):
    """One local day of the petition's timeline (its time_zone)."""

    day: str  # YYYY-MM-DD
    signed: int
    withdrawn: int
    invalidated: int
    cumulative: int


class LogProof(Strict):
    """The transparency log's latest signed checkpoint when the certificate was made, and its key."""

    origin: str
    tree_size: int
    root: str  # base64
    checkpoint: str  # the signed note exactly as GET /api/v1/petitions/{slug}/checkpoint serves it
    vkey: str  # the C2SP verifier key that signed the checkpoint and this certificate
    fingerprint: str  # SHA-256 of the public key, hex in groups of four: what a person compares


class ShownName(Strict):
    name: str
    role: str


class Reasons(Strict):
    approved: int
    quoted: list[str]  # up to MAX_REASONS approved reasons


class RoundConsensus(Strict):
    """A feedback round whose results are public: its question and the statements most agreed on."""

    question: str
    participants: int | None  # None below MIN_CELL_SIZE
    as_of: str | None
    consensus: list[str]


class Certificate(Strict):
    """The certificate's JSON (serialised compact, keys sorted, one trailing newline; see certificate_note)."""

    format: Literal["petition-delivery-certificate/v1"] = FORMAT
    service: str  # BASE_URL
    petition: CertificatePetition
    as_of: str  # floored, with the petition's offset
    verified_count: int
    by_method: MethodCounts
    rules: Rules
    timeline: list[TimelineDay]
    log: LogProof
    how_to_verify: list[str]  # lines of instructions, commands included
    names: list[ShownName]
    reasons: Reasons
    rounds: list[RoundConsensus]


# -- building it ---------------------------------------------------------------------------------


# Said to organizers when the stored checkpoint does not verify with the service's keys (a SIGNING_KEY
# changed without retiring the old one in SIGNING_KEYS_RETIRED, or a damaged database).
UNVERIFIABLE_CHECKPOINT = (
    "This petition's latest checkpoint does not verify with the service's signing keys, so no certificate "
    "could prove its count. Ask the operator to run `python main.py check-log`: a signing key changed "
    "without its old one in SIGNING_KEYS_RETIRED, or the database was altered."
)


class CheckpointError(Exception):
    """The petition's stored checkpoint is not one this service's keys signed for its log."""


@dataclass
class _Read:
    """Everything a certificate holds, as read in one snapshot of the database."""

    row: Row
    series: timeline.Series
    code_batches: int
    names: list[Row]
    reasons: list[Row]
    rounds: list[RoundConsensus]


async def build(*, db: Database, row: Row, settings: Settings) -> Certificate:
    """The certificate of a published petition (`row`: petitions.find's), as of now.

    Everything is read in one snapshot (the count and the checkpoint from the same row, so the
    count is exactly what the log's entries up to that checkpoint tally to); the document is put
    together in a worker thread (thousands of shown names take a moment). PetitionError 409 for a
    draft or a petition whose log has not started, and when the stored checkpoint is not one this
    service's keys signed for the petition's log (`python main.py check-log` says more; logged).
    """
    async with db.snapshot() as reads:
        read = await _read(reads, row["id"], settings)
    try:
        return await asyncio.to_thread(_assemble, read, settings)
    except CheckpointError as error:
        logger.error("no certificate: %s", error)
        raise PetitionError(409, UNVERIFIABLE_CHECKPOINT) from None


async def _read(reads: Reads, petition_id: str, settings: Settings) -> _Read:
    found = await reads.fetch_one(queries.SELECT_PETITION_BY_ID, {"id": petition_id})
    if found is None:
        raise PetitionError(404, "There is no petition at this address that you organize.")
    row = petitions.as_of(found)
    if row["state"] not in petitions.VISIBLE_STATES:
        raise PetitionError(409, DRAFT)
    if not row["log_checkpoint"]:
        raise PetitionError(409, NO_LOG_YET)
    key = {"petition_id": petition_id}
    series = await timeline.series(reads, row, DAY)  # type: ignore[arg-type]
    code_batches = int(await reads.fetch_val(queries.COUNT_CODE_BATCHES, key) or 0)
    names: list[Row] = []
    # By pages: turning thousands of rows into dicts takes the event loop a while, and between
    # pages it serves everyone else.
    while page := await reads.fetch_all(
        queries.SELECT_SIGNER_NAMES_AFTER, {**key, "after": names[-1]["name_key"] if names else "", "limit": NAMES_PAGE}
    ):
        names += page
        if len(page) < NAMES_PAGE:
            break
    quoted, _ = await reasons.page_of(
        reads,  # type: ignore[arg-type]
        petition_id=petition_id,
        status="approved",
        after="",
        limit=MAX_REASONS,
    )
    return _Read(row, series, code_batches, names, quoted, await _rounds(reads, row, settings))


async def _rounds(reads: Reads, row: Row, settings: Settings) -> list[RoundConsensus]:
    """The petition's rounds whose results are public and computed, newest first: their consensus."""
    found = []
    for round_row in await reads.fetch_all(
        round_queries.SELECT_PETITION_ROUNDS, {"petition_id": row["id"], "drafts": 0}
    ):
        if round_row["results"] != "public" or round_row["state"] not in feedback_rounds.VISIBLE_STATES:
            continue
        results, _ = await results_api.stored(reads, feedback_rounds.Found(round_row, row))  # type: ignore[arg-type]
        if results.as_of is None:
            continue
        texts = {statement.id: statement.text for statement in results.statements}
        participants = results.participants
        if participants is not None and participants < settings.min_cell_size:
            participants = None  # "fewer than MIN_CELL_SIZE", as everywhere
        found.append(
            RoundConsensus(
                question=round_row["question"],
                participants=participants,
                as_of=results.as_of,
                consensus=[texts[item] for item in results.consensus if item in texts],
            )
        )
    return found


def _log_proof(row: Row, settings: Settings) -> LogProof:
    """The row's checkpoint, signed with the current key: as stored when that key signed it, or its
    same body signed again when a key now retired did (SIGNING_KEYS_RETIRED) or the same key did
    under the name of the service's earlier address (BASE_URL before a move), so the certificate
    and its checkpoint verify with one key."""
    signer = checkpoints.signer(settings.signing_key, settings.base_url)
    note = row["log_checkpoint"]
    # After a move (another BASE_URL), the same key signed it under the old address's name.
    moved = [checkpoints.vkey_of(name, signer.public_key) for name in signers_named(note) if name != signer.name]
    try:
        body, verified = open_note(note, [signer.vkey, *moved])
        if signer.vkey not in verified:
            note = signer.sign(body)
    except NoteError:
        try:
            body, _ = open_note(note, list(settings.signing_keys_retired))
        except NoteError as error:
            raise CheckpointError(f"the checkpoint of petition {row['id']} does not verify: {error}") from None
        note = signer.sign(body)
    origin, size, root = parse_checkpoint(body)
    if origin != row["log_origin"] or size != row["log_size"]:
        raise CheckpointError(f"the checkpoint of petition {row['id']} is not its log head's")
    _, _, public_key = parse_vkey(signer.vkey)
    return LogProof(
        origin=origin,
        tree_size=size,
        root=base64.b64encode(root).decode(),
        checkpoint=note,
        vkey=signer.vkey,
        fingerprint=key_fingerprint(public_key),
    )


def signers_named(note: str) -> list[str]:
    """The key names of a signed note's signature lines (`— <name> <signature>`), valid or not."""
    block = note[note.rfind("\n\n") + 2 :] if "\n\n" in note else ""
    return [line[2:].partition(" ")[0] for line in block.splitlines() if line.startswith("\u2014 ")]


def how_to_verify(url: str, settings: Settings) -> list[str]:
    """The certificate's instructions, line by line, with the petition's address and the verifier's."""
    return [
        "This file is a C2SP signed note: its first line is this certificate's JSON exactly as signed, "
        "then a blank line, then the service's Ed25519 signature (the key in log.vkey, which also "
        "signed log.checkpoint).",
        f"Take the verifier, one Python file: {settings.base_url}/verify.py (it needs Python 3.9 or "
        "later and the cryptography package: pip install cryptography).",
        "Check the signature and that the certificate's parts agree: python verify.py --certificate FILE "
        "(this alone does not show that the key is the service's: check it against the live log, or "
        "compare its fingerprint, as below).",
        f"Check it against the live log too: python verify.py --certificate FILE {url} (where the "
        f"service is installed: python -m petition.verify --certificate FILE {url}). The key must be the "
        "service's, the log must still hold this checkpoint, and its entries up to it must add up to "
        "the verified count.",
        "Compare the key's fingerprint (log.fingerprint) with the one the service publishes at "
        f"{settings.base_url}/api/v1/log/key, or that you got from its operators another way.",
    ]


def _assemble(read: _Read, settings: Settings) -> Certificate:
    row = read.row
    zone, floor = row["time_zone"], row["timeline_floor"]
    url = f"{settings.base_url}/p/{row['slug']}"
    as_of = timeline.floor_of(read.series.end, timeline.BUCKET_SECONDS[floor], zone)
    methods = json.loads(row["verification"])
    return Certificate(
        service=settings.base_url,
        petition=CertificatePetition(
            slug=row["slug"],
            url=url,
            title=row["title"],
            summary=row["summary"],
            body=row["body"],
            target=row["target"],
            goal=row["goal"],
            state=row["state"],
            opened_at=petitions.floor_time(row["opened_at"], floor, zone) or "",
            closed_at=petitions.closed_at(row),
            purged_at=petitions.floor_time(row["purged_at"], floor, zone),
            time_zone=zone,
        ),
        as_of=petitions.iso(as_of, zone) or "",
        verified_count=row["signature_count"],
        by_method=MethodCounts(work_email=row["count_email"], printed_code=row["count_code"]),
        rules=Rules(
            methods=methods,
            allowed_domains=json.loads(row["allowed_domains"]),
            codes_issued=row["codes_issued"],
            code_batches=read.code_batches,
            printed_codes=PRINTED_CODES,
            duplicates=duplicates(methods),
        ),
        timeline=[
            TimelineDay(
                day=zones.local_date(start, zone).isoformat(),
                signed=signed,
                withdrawn=withdrawn,
                invalidated=invalidated,
                cumulative=cumulative,
            )
            for start, signed, withdrawn, invalidated, cumulative in read.series.rows
        ],
        log=_log_proof(row, settings),
        how_to_verify=how_to_verify(url, settings),
        names=[ShownName(name=item["name"], role=item["role"] or "") for item in read.names],
        reasons=Reasons(approved=row["reason_count"], quoted=[item["reason"] for item in read.reasons]),
        rounds=read.rounds,
    )
