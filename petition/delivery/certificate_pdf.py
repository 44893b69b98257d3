"""The delivery certificate drawn for people: a PDF of the same content as the signed note.

The layout is `flyers/certificate.typ`, typeset by Typst with the fonts `fonts.py` chooses (every
script prints; what no font has is named by `missing_characters`), A4 or US Letter. This module
chooses the words (the cover's sentence, worded for the petition's verification methods), places
the timeline's points and passes everything to the layout as JSON (`sys.inputs.certificate`).
User text is only ever text to Typst, never markup: it arrives as JSON strings.

Typesetting is CPU work: `draw` prepares the words in a thread and typesets them in a process of
its own (see typesetting.py), so the event loop goes on and the app's memory stays its own.
"""

from __future__ import annotations

import asyncio
import json
import re
import unicodedata
from datetime import date
from typing import Any

from .. import chart, flyers, fonts
from ..text import long_date, without_forbidden
from .certificate import Certificate, Rules, TimelineDay
from .typesetting import LAYOUT, typeset, typeset_in_a_process

PAPERS = flyers.PAPERS  # name -> (width, height) in mm
DEFAULT_PAPER = "a4"
# Text in any language is set in the stack an English page gets: Noto Sans first, then every
# script's Noto family, the CJK faces (Japanese's first), emoji, DejaVu Sans.
STACK_LANGUAGE = "en"
RIGHT_TO_LEFT_CLASSES = frozenset({"R", "AL"})
# The goal's line is drawn when it is no more than this many times the count (else the line of
# signatures would lie flat along the bottom); the goal is always said in words.
GOAL_IN_CHART = 2
# In the verification steps: the commands (to type) and addresses (to open), set in monospace. A
# command runs to the end of its words, before a parenthesis; sentence punctuation after it is not ours.
TYPED = re.compile(r"(?:python|pip) [^\s()]+(?: [^\s()]+)*|https?://[^\s()]+")
SENTENCE_END = ".,;:"
# The line of the note's own how_to_verify that describes the note file, which this PDF is not.
ABOUT_THE_NOTE = "This file is"
NOTE_FINGERPRINT = " (log.fingerprint)"  # the note's field; the PDF prints the fingerprint above its steps


def direction(text: str) -> str:
    """`rtl` or `ltr`: the direction of the first strongly directional character (Unicode bidi rules
    P2–P3, as HTML's dir=auto), so a Hebrew name or an Arabic reason starts from the right."""
    for character in text:
        kind = unicodedata.bidirectional(character)
        if kind == "L":
            return "ltr"
        if kind in RIGHT_TO_LEFT_CLASSES:
            return "rtl"
    return "ltr"


def said(text: str) -> dict[str, str]:
    """A signer's or organizer's words as the layout takes them: the text (without bidi overrides or
    what XML forbids) and its direction."""
    clean = without_forbidden(text)
    return {"text": clean, "dir": direction(clean)}


def listed(items: list[str], joiner: str = "and") -> str:
    """["a"] -> "a"; ["a", "b"] -> "a and b"; ["a", "b", "c"] -> "a, b and c"."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {joiner} {items[-1]}"


def who_signed(count: int, rules: Rules) -> str:
    """Who the count is, worded for how signers could prove they work there, and the verb:
    "verified employees of example.com signed", "people holding a single-use printed code signed",
    or "verified colleagues signed" when both methods were open."""
    one = count == 1
    methods = set(rules.methods)
    if methods == {"email"}:
        domains = listed(rules.allowed_domains, "or") or "the allowed domains"
        return f"verified {'employee' if one else 'employees'} of {domains} signed"
    if methods == {"code"}:
        return f"{'person' if one else 'people'} holding a single-use printed code signed"
    return f"verified {'colleague' if one else 'colleagues'} signed"


def breakdown(certificate: Certificate) -> str | None:
    """With both methods open: how many proved it which way, as a sentence; else None."""
    if set(certificate.rules.methods) != {"email", "code"}:
        return None
    counts = certificate.by_method
    domains = listed(certificate.rules.allowed_domains, "or") or "an allowed domain"
    return (
        f"{counts.work_email:,} by a code sent to their work address at {domains}, "
        f"{counts.printed_code:,} with a single-use printed code."
    )


def rules_said(rules: Rules) -> list[str]:
    """The rules a signature was verified by, one sentence each."""
    out = []
    if "email" in rules.methods:
        domains = listed(rules.allowed_domains, "or") or "an allowed domain"
        out.append(f"A work address at {domains}, proved by a code sent to it and typed back by the signer.")
    if "code" in rules.methods:
        batches = "batch" if rules.code_batches == 1 else "batches"
        out.append(f"A single-use printed code: {rules.codes_issued:,} issued in {rules.code_batches:,} {batches}.")
        out.append(rules.printed_codes)
    out.append(rules.duplicates)
    return [sentence for sentence in out if sentence]


def steps(how_to_verify: list[str], note_name: str) -> list[list[dict[str, Any]]]:
    """The certificate's how_to_verify lines as the PDF's numbered steps: the line about the note file
    itself left out (the PDF says which file a program checks), FILE named as the note's file, the
    fingerprint's field of the note pointed to on the page instead, each
    step as pieces `{"text", "typed"}`, typed for a command or an address (set in monospace)."""
    out = []
    for line in how_to_verify:
        if line.startswith(ABOUT_THE_NOTE):
            continue
        line = re.sub(r"\bFILE\b", note_name, line).replace(NOTE_FINGERPRINT, " (above)")
        pieces, at = [], 0
        for found in TYPED.finditer(line):
            typed = found.group().rstrip(SENTENCE_END)
            pieces += [{"text": line[at : found.start()], "typed": False}, {"text": typed, "typed": True}]
            at = found.start() + len(typed)
        pieces.append({"text": line[at:], "typed": False})
        out.append([piece for piece in pieces if piece["text"]])
    return out


def day_label(day: str) -> str:
    moment = date.fromisoformat(day)
    return f"{moment.day} {moment:%B %Y}"


def chart_data(days: list[TimelineDay], goal: int) -> dict[str, Any] | None:
    """The timeline as a step chart with the units left to the layout: points (x, y) from 0 to 1, x
    along the days from the first's start to the last's end, y the total counted at each day's end
    over the axis' top; the axis' ticks and the goal's height. None without any day."""
    if not days:
        return None
    first = date.fromisoformat(days[0].day)
    length = (date.fromisoformat(days[-1].day) - first).days + 1
    peak = max(max(day.cumulative for day in days), 0)
    shown_goal = goal if 0 < goal <= GOAL_IN_CHART * max(peak, 1) else 0
    top = chart.nice_top(max(peak, shown_goal, 1))
    points, before = [[0.0, 0.0]], 0.0
    for day in days:
        x = (date.fromisoformat(day.day) - first).days / length
        value = max(day.cumulative, 0) / top
        points += [[x, before], [x, value]]
        before = value
    points.append([1.0, before])
    ticks = [{"y": share, "label": f"{round(top * share):,}"} for share in (0, 0.5, 1)]
    labels = [{"x": 0.5 / length, "label": day_label(days[0].day), "anchor": "start"}]
    if length > 1:
        labels.append({"x": 1 - 0.5 / length, "label": day_label(days[-1].day), "anchor": "end"})
    return {
        "points": points,
        "ticks": ticks,
        "days": labels,
        "goal": {"y": shown_goal / top, "label": f"Goal: {shown_goal:,}"} if shown_goal else None,
    }


def printed_words(certificate: Certificate) -> str:
    """Everything of the petition's, signers' and rounds' own that is printed (what must have glyphs)."""
    petition = certificate.petition
    parts = [petition.title, petition.summary, petition.body, petition.target, *certificate.reasons.quoted]
    parts += [f"{item.name}\n{item.role}" for item in certificate.names]
    for round_ in certificate.rounds:
        parts += [round_.question, *round_.consensus]
    return "\n".join(parts)


def missing_characters(certificate: Certificate) -> list[str]:
    """The characters of the certificate's words that no installed font has (they would not print)."""
    return fonts.library().stack(STACK_LANGUAGE).missing(printed_words(certificate))


def paragraphs(body: str) -> list[dict[str, Any]]:
    """A petition's body -> its paragraphs (split at blank lines), each its lines and direction."""
    text = without_forbidden(body).replace("\r\n", "\n").replace("\r", "\n")
    blocks = [block.strip("\n") for block in text.split("\n\n")]
    return [{"lines": block.split("\n"), "dir": direction(block)} for block in blocks if block.strip()]


def inputs(certificate: Certificate, paper: str) -> dict[str, str]:
    """What the layout gets as `sys.inputs.certificate`: the paper, fonts and every word, as JSON."""
    petition = certificate.petition
    zone = petition.time_zone
    width, height = PAPERS[paper]
    stack = fonts.library().stack(STACK_LANGUAGE)
    rounds = [
        {
            "question": said(round_.question),
            "participants": f"{round_.participants:,} took part"
            if round_.participants is not None
            else "Too few took part to say how many",
            "as_of": long_date(round_.as_of, "day", zone) if round_.as_of else None,
            "consensus": [said(statement) for statement in round_.consensus],
        }
        for round_ in certificate.rounds
    ]
    data = {
        "width": width,
        "height": height,
        "fonts": [],  # below, once every word is known
        "mono": [],
        "count": f"{certificate.verified_count:,}",
        "who": who_signed(certificate.verified_count, certificate.rules),
        "breakdown": breakdown(certificate),
        "as_of": long_date(certificate.as_of, "day", zone),
        "opened": long_date(petition.opened_at, "day", zone),
        "closed": long_date(petition.closed_at, "day", zone) if petition.closed_at else None,
        "purged": long_date(petition.purged_at, "day", zone) if petition.purged_at else None,
        "service": certificate.service,
        "title": said(petition.title),
        "summary": said(petition.summary),
        "target": said(petition.target),
        "body": paragraphs(petition.body),
        "url": petition.url,
        "qr": flyers.qr(petition.url),
        "goal": f"{petition.goal:,}" if petition.goal else None,
        "time_zone": zone,
        "chart": chart_data(certificate.timeline, petition.goal),
        "totals": {
            "signed": f"{sum(day.signed for day in certificate.timeline):,}",
            "withdrawn": f"{sum(day.withdrawn for day in certificate.timeline):,}",
            "invalidated": f"{sum(day.invalidated for day in certificate.timeline):,}",
        },
        "rules": rules_said(certificate.rules),
        "names": [{"name": said(item.name), "role": said(item.role)} for item in certificate.names],
        "reasons": {
            "approved": f"{certificate.reasons.approved:,}",
            "quoted": [said(r) for r in certificate.reasons.quoted],
        },
        "rounds": rounds,
        "log": certificate.log.model_dump(),
        # Said in the document, as the flyers page says it: a name with a blank in it is explained.
        "missing": [
            f"{found.code} {found.name}".strip()
            for found in map(fonts.described, fonts.library().stack(STACK_LANGUAGE).missing(printed_words(certificate)))
        ],
        "steps": steps(certificate.how_to_verify, f"{petition.slug}-certificate.note"),
        "note_name": f"{petition.slug}-certificate.note",
    }
    # Only the families that draw a character of this document, from the layout's own words to every
    # name: the same glyphs, typeset several times faster than with every family installed.
    printed = json.dumps(data, ensure_ascii=False) + LAYOUT.read_text()
    families = list(fonts.library().narrowed(stack, printed))
    data["fonts"], data["mono"] = families, [fonts.MONOSPACE, *families]
    return {"certificate": json.dumps(data, ensure_ascii=False)}


def render(certificate: Certificate, *, paper: str = DEFAULT_PAPER) -> bytes:
    """The certificate as a PDF on `paper` ("a4" or "letter"), the glyphs it uses embedded, typeset
    in this process. ValueError for another paper. Blocking CPU work: the app calls `draw`."""
    if paper not in PAPERS:
        raise ValueError(f"paper must be one of {', '.join(sorted(PAPERS))}")
    return typeset(inputs(certificate, paper))


async def draw(certificate: Certificate, *, paper: str = DEFAULT_PAPER) -> bytes:
    """`render`, off the event loop: the words prepared in a thread, typeset in a process of its own
    (Typst's caches end with it). ValueError for another paper (before anything starts)."""
    if paper not in PAPERS:
        raise ValueError(f"paper must be one of {', '.join(sorted(PAPERS))}")
    sys_inputs = await asyncio.to_thread(inputs, certificate, paper)
    return await asyncio.to_thread(typeset_in_a_process, sys_inputs)
