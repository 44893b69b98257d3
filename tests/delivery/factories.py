"""Certificates made by hand, for drawing tests that need no database: one factory, overrides per test."""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

from petition import checkpoints
from petition.delivery.certificate import (
    Certificate,
    CertificatePetition,
    LogProof,
    MethodCounts,
    Reasons,
    RoundConsensus,
    Rules,
    ShownName,
    TimelineDay,
    how_to_verify,
)

SERVICE = "http://127.0.0.1:8713"
URL = f"{SERVICE}/p/safe-staffing"
FINGERPRINT = "3f2a 9c1e 77b0 4d5a 0e6f 1b2c 3d4e 5f60 7182 93a4 b5c6 d7e8 f901 2a3b 4c5d 6e7f"
CHECKPOINT = (
    "petition.example/safe-staffing\n1612\nq8aJ3V5rTzFbT5Ok2xWc3m9Q3NQyx1s0n3oQ0n6bq4E=\n\n"
    # A signature line as long as a real one: the key's name, then 92 base64 characters (key hash, signature).
    "— petition.example Az3grlgtzPICa5OS8npVmf1Myq7bEDiqh7JjLc2tQN8dPSXQ2Yv0B7k8Yb5s4cZ0tAq8aJ3V5rTzFbT5Ok2xWc3m9Q0=\n"
)
# Names in the scripts a workplace has: each must come back out of the PDF.
NAMES = [
    ShownName(name="Ada Lovelace", role="Night nurse"),
    ShownName(name="محمد الأحمد", role="ممرض"),
    ShownName(name="שרה כהן", role="אחות"),
    ShownName(name="山田花子", role="看護師"),
    ShownName(name="प्रिया शर्मा", role="नर्स"),
    ShownName(name="Ελένη Παππά", role=""),
]
HIDDEN_NAME = "Grace Hopper"  # a signer who did not show their name: never in any certificate


def timeline(days: int = 5, per_day: int = 300, first: date = date(2026, 5, 30)) -> list[TimelineDay]:
    out, total = [], 0
    for index in range(days):
        signed = per_day + index
        total += signed - 1
        out.append(
            TimelineDay(
                day=(first + timedelta(days=index)).isoformat(),
                signed=signed,
                withdrawn=1,
                invalidated=0,
                cumulative=total,
            )
        )
    return out


def certificate(**overrides: Any) -> Certificate:
    """A certificate of an open petition with 1,612 verified signatures of work email and printed codes."""
    petition = {
        "slug": "safe-staffing",
        "url": URL,
        "title": "Safe staffing on every ward",
        "summary": "Two nurses on every night shift, on every ward.",
        "body": "We, the nurses of this hospital, ask for safe staffing.\n\nOn every night shift:\ntwo nurses.",
        "target": "The hospital board",
        "goal": 2000,
        "state": "open",
        "opened_at": "2026-05-30T00:00:00+02:00",
        "closed_at": None,
        "purged_at": None,
        "time_zone": "Europe/Berlin",
        **overrides.pop("petition", {}),
    }
    values: dict[str, Any] = {
        "service": SERVICE,
        "petition": CertificatePetition(**petition),
        "as_of": "2026-06-03T00:00:00+02:00",
        "verified_count": 1612,
        "by_method": MethodCounts(work_email=1500, printed_code=112),
        "rules": Rules(
            methods=["email", "code"],
            allowed_domains=["example.com"],
            codes_issued=200,
            code_batches=2,
            printed_codes="Printed codes were made in batches, each committed in the log before it could be used.",
            duplicates="One signature per work address; each printed code signs once.",
        ),
        "timeline": timeline(),
        "log": LogProof(
            origin="petition.example/safe-staffing",
            tree_size=1620,
            root="q8aJ3V5rTzFbT5Ok2xWc3m9Q3NQyx1s0n3oQ0n6bq4E=",
            checkpoint=CHECKPOINT,
            vkey="petition.example+8a1b2c3d+AXGdXhVtdbhZsjUDhxvMaR2pdqD0UnuKVd2jz7IAJDTf",
            fingerprint=FINGERPRINT,
        ),
        "how_to_verify": how_to_verify(URL, SimpleNamespace(base_url=SERVICE)),  # type: ignore[arg-type]
        "names": NAMES,
        "reasons": Reasons(approved=3, quoted=["Patients deserve it.", "We are exhausted.", "لأن السلامة أولاً"]),
        "rounds": [
            RoundConsensus(
                question="What should night shifts change first?",
                participants=42,
                as_of="2026-06-02T00:00:00+02:00",
                consensus=["Two nurses per ward at night.", "Breaks that are really taken."],
            )
        ],
    }
    values.update(overrides)
    return Certificate(**values)


# The longest address a tester gave the service: 98 characters of BASE_URL, wider than a step's line.
LONG_SERVICE = "http://petitions-for-the-workers-council.internal-services.example-corporation-holdings.co.uk:8752"
LONG_SLUG = "safe-staffing-on-every-ward-and-every-night-shift-for-nurses"  # 60 characters


def certificate_at(service: str, slug: str, **overrides: Any) -> Certificate:
    """The factory's certificate as the service at `service` makes it for `slug`: its address, steps,
    and log (origin, verifier key and checkpoint signed under the service's name) all say so."""
    url = f"{service}/p/{slug}"
    signer = checkpoints.signer(bytes(range(32)), service)
    origin = checkpoints.origin_of(service, slug)
    log = LogProof(
        origin=origin,
        tree_size=1620,
        root="q8aJ3V5rTzFbT5Ok2xWc3m9Q3NQyx1s0n3oQ0n6bq4E=",
        checkpoint=signer.checkpoint(origin, 1620, bytes(32)),
        vkey=signer.vkey,
        fingerprint=FINGERPRINT,
    )
    return certificate(
        service=service,
        petition={"slug": slug, "url": url},
        log=log,
        how_to_verify=how_to_verify(url, SimpleNamespace(base_url=service)),  # type: ignore[arg-type]
        **overrides,
    )
