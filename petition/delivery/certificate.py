"""The delivery certificate's content: one petition's verified count, the rules it was verified by,
its timeline by day, the log checkpoint that proves the count, and what signers chose to make
public (shown names, approved reasons), nothing else about any signer.

`Certificate` is the JSON document; certificate_note.py signs its exact bytes as a C2SP signed
note, and certificate_pdf.py draws the same content for people.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

FORMAT = "petition-delivery-certificate/v1"
MAX_REASONS = 20  # approved reasons quoted in a certificate (the count says how many there are)


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
