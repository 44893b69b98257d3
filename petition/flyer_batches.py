"""Flyer batches: made by organizers, downloaded as PDF, SVG or PNG, followed by plain counters.

Each batch has a short link, /f/{batch_code}, in its big QR code; it leads to the petition
page. A tear-off batch owns a batch of printed signing codes, one per tab, shown only in its
first full download (previews show placeholders). Per batch the service counts scans of the
short link and signatures that came through it (the page carries the batch; a tab's code
belongs to it), in each process's memory, and adds them to the batch's row once a day: never
with a signature, never timing one. Organizers see counts below MIN_CELL_SIZE as "fewer than".
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, StringConstraints
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from . import codes, downloads, flyers, petitions, queries
from .api_tokens import bearer_organizer
from .database import Database, Row, Transaction, now
from .errors import ApiError
from .organizers import audit
from .parameters import bounded, query_number
from .petitions import PetitionError
from .settings import Settings
from .text import LINE
from .tokens import new_id

logger = logging.getLogger("petition.flyers")
BATCH_CODE_LENGTH = 8
MAX_COPIES = 500  # pages in one batch
# A PDF of more pages than this is drawn in the background when asked for on the organizer page.
BACKGROUND_PAGES = 20
PLACEHOLDER_CODE = "XXXX-XXXX-XXXX-XXXX"
KINDS = {"pdf": "application/pdf", "svg": "image/svg+xml", "png": "image/png"}
TEAR_OFF_LABEL = "Tear-off flyers"
TORN_OFF = (
    "The tear-off codes of this batch were in its first download and are no longer on the server. "
    "Make a new batch for more."
)


class FlyerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: Annotated[str, StringConstraints(strip_whitespace=True, max_length=80), LINE] = ""
    layout: Literal["poster", "handout", "tearoff"]
    paper_size: Literal["a4", "letter"]
    copies: bounded(1, MAX_COPIES) = 1


class FlyerDownloads(BaseModel):
    pdf: str
    svg: str
    png: str


class FlyerBatch(BaseModel):
    """A flyer batch. `scans` and `signatures` are null while below MIN_CELL_SIZE ("fewer than")."""

    id: str
    label: str
    layout: str
    paper_size: str
    copies: int
    pages: int
    batch_code: str
    url: str
    short_url: str
    downloads: FlyerDownloads
    scans: int | None
    signatures: int | None
    # Characters of the petition's words that no font on the server has: they would print as empty boxes.
    missing_characters: list[str]


class FlyerBatchList(BaseModel):
    batches: list[FlyerBatch]


def short_url(settings: Settings, batch_code: str) -> str:
    parts = urlsplit(settings.base_url)
    return f"{parts.netloc}{parts.path.rstrip('/')}/f/{batch_code}"


def view(row: Row, settings: Settings, missing: list[str] | None = None) -> FlyerBatch:
    def shown(count: int) -> int | None:
        return count if count >= settings.min_cell_size else None

    base = f"/api/v1/flyers/{row['id']}"
    return FlyerBatch(
        id=row["id"],
        label=row["label"],
        layout=row["layout"],
        paper_size=row["paper_size"],
        copies=row["copies"],
        pages=row["copies"],
        batch_code=row["batch_code"],
        url=f"{settings.base_url}/f/{row['batch_code']}",
        short_url=short_url(settings, row["batch_code"]),
        downloads=FlyerDownloads(pdf=f"{base}.pdf", svg=f"{base}.svg", png=f"{base}.png"),
        scans=shown(row["scans"]),
        signatures=shown(row["signatures"]),
        missing_characters=missing or [],
    )


async def create(db: Database, settings: Settings, *, petition: Row, organizer_id: str, data: FlyerCreate) -> Row:
    """A new batch; a tear-off batch also makes its codes, kept encrypted until the first full download."""
    if petition["state"] == "closed":
        raise PetitionError(409, "This petition is closed; it takes no more signatures, so it needs no flyers.")
    code_batch_id = None
    if data.layout == "tearoff":
        per_page = flyers.tabs_per_page("tearoff")
        if data.copies * per_page > settings.max_codes_per_batch:
            most = settings.max_codes_per_batch // per_page
            raise PetitionError(422, f"A tear-off batch here has at most {most:,} pages (a code on each tab).")
        # The label is ours, made from the organizer's: never run through a model whose limits
        # it could exceed (an 80-character label makes a 97-character one here).
        code_batch_id, _ = await codes.make_batch(
            db,
            settings,
            petition=petition,
            organizer_id=organizer_id,
            count=data.copies * per_page,
            label=f"{TEAR_OFF_LABEL}: {data.label}" if data.label else TEAR_OFF_LABEL,
            keep_for_download=True,
            audited=False,  # this batch's own entry below names them: one action, one entry
        )
    values = {
        "id": new_id(),
        "petition_id": petition["id"],
        "batch_code": "".join(secrets.choice(codes.CROCKFORD) for _ in range(BATCH_CODE_LENGTH)),
        "label": data.label,
        "layout": data.layout,
        "paper_size": data.paper_size,
        "copies": data.copies,
        "code_batch_id": code_batch_id,
        "created_by": organizer_id,
        "created_at": now(),
    }

    detail = f"{petitions.address(petition)}: batch {values['id']}, {data.layout} on {data.paper_size}, "
    detail += f"{data.copies:,} page{'' if data.copies == 1 else 's'}"
    if code_batch_id is not None:
        detail += f", its tabs' code batch {code_batch_id} of {data.copies * flyers.tabs_per_page('tearoff'):,} codes"
    if data.label:
        detail += f" ({data.label})"

    async def insert(tx: Transaction) -> None:
        await tx.execute(queries.INSERT_FLYER_BATCH, values)
        await audit(tx, organizer_id, "flyer batch made", detail, petition_id=petition["id"])

    await db.write(insert)
    row = await db.fetch_one(queries.SELECT_FLYER_BATCH, {"id": values["id"]})
    assert row is not None
    return row


def text_of(petition: Row, batch: Row, settings: Settings) -> flyers.FlyerText:
    return flyers.FlyerText(
        title=petition["title"],
        summary=petition["summary"],
        target=petition["target"],
        url=f"{settings.base_url}/f/{batch['batch_code']}",
        short_url=short_url(settings, batch["batch_code"]),
        goal=petition["goal"],
        language=petition["language"],
    )


def tabs_of(petition: Row, settings: Settings, codes_list: list[str]) -> list[flyers.Tab]:
    return [
        flyers.Tab(code=code, url=f"{settings.base_url}/p/{petitions.address(petition)}?code={code}")
        for code in codes_list
    ]


def missing_characters(petition: Row) -> list[str]:
    """The characters of the petition's words that no installed font has: they would not print."""
    language = petition["language"]
    text = flyers.FlyerText(petition["title"], petition["summary"], petition["target"], "", "", language=language)
    return flyers.missing_characters(text)


async def full_flyer(db: Database, settings: Settings, *, petition: Row, batch: Row) -> tuple[flyers.Flyer, str]:
    """Every sheet of the batch, and its PDF's file name. A tear-off batch's real codes, read but
    not spent: call `spend_tabs` once the PDF is drawn, so a failed drawing never costs the one download.
    """
    tabs: list[flyers.Tab] = []
    if batch["code_batch_id"]:
        try:
            _, taken = await codes.read_download(
                db, settings, petition_id=petition["id"], batch_id=batch["code_batch_id"]
            )
        except PetitionError:
            raise PetitionError(409, TORN_OFF) from None
        tabs = tabs_of(petition, settings, taken)
    text = text_of(petition, batch, settings)
    flyer = flyers.Flyer(batch["layout"], batch["paper_size"], text, copies=batch["copies"], tabs=tabs)
    return flyer, f"flyers-{petition['slug']}-{batch['layout']}-{batch['paper_size']}.pdf"


async def spend_tabs(db: Database, *, petition: Row, batch: Row) -> None:
    """A tear-off batch's PDF was drawn: its codes leave the server. PetitionError(409) when another
    download took them first (then this PDF must not be handed out: its codes would be out twice).
    """
    if batch["code_batch_id"] and not await codes.spend_download(
        db, petition_id=petition["id"], batch_id=batch["code_batch_id"]
    ):
        raise PetitionError(409, TORN_OFF)


async def render(
    db: Database, settings: Settings, *, petition: Row, batch: Row, kind: str, page: int
) -> tuple[bytes, dict[str, str]]:
    """The file and its extra headers. The PDF of a tear-off batch holds the real codes, once."""
    if kind == "pdf":
        flyer, filename = await full_flyer(db, settings, petition=petition, batch=batch)
        # Typesetting is CPU work (tens of milliseconds a sheet): in a thread, so other requests go on.
        pdf = await asyncio.to_thread(flyers.to_pdf, flyer)
        await spend_tabs(db, petition=petition, batch=batch)
        return pdf, downloads.attachment(filename)
    if not 1 <= page <= batch["copies"]:
        raise PetitionError(422, f"This batch has pages 1 to {batch['copies']}.")
    per_page = flyers.tabs_per_page(batch["layout"])
    placeholders = tabs_of(petition, settings, [PLACEHOLDER_CODE] * per_page)
    preview = flyers.Flyer(batch["layout"], batch["paper_size"], text_of(petition, batch, settings), tabs=placeholders)
    # A page is a preview, meant to be looked at: inline, with a name for when it is saved.
    name = downloads.inline(f"flyers-{petition['slug']}-{batch['layout']}-{batch['paper_size']}-page-{page}.{kind}")
    draw = flyers.to_svg if kind == "svg" else flyers.to_png
    return await asyncio.to_thread(draw, preview), name


@dataclass
class Drawing:
    """A large PDF being drawn in the background, kept in memory until its one download."""

    total: int
    filename: str
    done: int = 0
    pdf: bytes | None = None
    failed: bool = False


class Drawings:
    """The organizer page's background drawings, by flyer batch (in this process's memory only).

    A tear-off batch's PDF holds its codes: it lives here until downloaded, never on disk.
    """

    def __init__(self) -> None:
        self.jobs: dict[str, Drawing] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def start(self, batch_id: str, flyer: flyers.Flyer, filename: str, spend: Callable[[], Awaitable[None]]) -> Drawing:
        """Draw `flyer` into one PDF in the background; `spend()` once it is drawn (a tear-off batch's codes)."""
        job = self.jobs[batch_id] = Drawing(total=flyer.copies, filename=filename)

        def progress(done: int) -> None:
            job.done = done

        async def draw() -> None:
            try:
                pdf = await asyncio.to_thread(flyers.to_pdf, flyer, progress)
                await spend()
                job.pdf = pdf
            except Exception as error:  # said on the page; the details stay out of the log
                job.failed = True
                logger.error("drawing flyers failed: %s", type(error).__name__)

        task = asyncio.create_task(draw())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return job

    def take(self, batch_id: str) -> Drawing | None:
        """The finished drawing (forgotten here once taken), or None while it is not finished."""
        job = self.jobs.get(batch_id)
        if job is None or (job.pdf is None and not job.failed):
            return None
        return self.jobs.pop(batch_id)


class FlyerCounts:
    """Scans per batch, in memory, added to the batches' rows once a day.

    Signatures per batch are counted by the batch of signatures that counts them (the pending
    entry carries the flyer), so they move when the count moves, never at a signature.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.pending: dict[str, int] = {}
        self.day = now() // 86400

    def scanned(self, batch_id: str) -> None:
        self.pending[batch_id] = self.pending.get(batch_id, 0) + 1

    async def flush(self, *, force: bool = False) -> None:
        """Add what was counted to the rows: when the day has turned (or `force`, at shutdown and in tests)."""
        today = now() // 86400
        if not self.pending or (today == self.day and not force):
            return
        taken, self.pending = self.pending, {}

        async def unit(tx: Transaction) -> None:
            for batch_id, scans in sorted(taken.items()):
                await tx.execute(queries.ADD_FLYER_SCANS, {"id": batch_id, "scans": scans})

        try:
            await self.db.write(unit)
        except BaseException:  # not written: keep the counts for the next try
            for batch_id, scans in taken.items():
                self.pending[batch_id] = self.pending.get(batch_id, 0) + scans
            raise
        self.day = today


async def flyer_link(request: Request) -> Response:
    """GET /f/{batch_code}: a flyer's short link; counts the scan and leads to the petition page."""
    db: Database = request.app.state.db
    code = request.path_params["batch_code"].upper()[:20]
    row = await db.fetch_one(queries.SELECT_FLYER_BATCH_BY_CODE, {"batch_code": code})
    if row is None:
        raise ApiError(404, "There is no flyer at this address.")
    request.app.state.flyer_counts.scanned(row["id"])
    return RedirectResponse(f"/p/{row['slug']}?f={code}", status_code=303, headers={"cache-control": "no-store"})


async def flyer_of_page(db: Database, petition: Row, code: str) -> str | None:
    """The batch id behind a page's `f` (its short link's code), if it is one of this petition's."""
    if not code:
        return None
    row = await db.fetch_one(queries.SELECT_FLYER_BATCH_BY_CODE, {"batch_code": code.upper()[:20]})
    return str(row["id"]) if row and row["slug"] == petition["slug"] else None


async def api_create(request: Request, body: FlyerCreate) -> Response:
    """POST /api/v1/petitions/{slug}/flyers: a new batch (201)."""
    organizer = await bearer_organizer(request)
    db: Database = request.app.state.db
    settings = request.app.state.settings
    petition = await petitions.editable_by(db, request.path_params["slug"], organizer.id)
    batch = await create(db, settings, petition=petition, organizer_id=organizer.id, data=body)
    missing = await asyncio.to_thread(missing_characters, petition)
    return Response(view(batch, settings, missing).model_dump_json(), 201, media_type="application/json")


async def api_list(request: Request) -> FlyerBatchList:
    """GET /api/v1/petitions/{slug}/flyers: the petition's batches with their counters."""
    organizer = await bearer_organizer(request)
    db: Database = request.app.state.db
    petition = await petitions.editable_by(db, request.path_params["slug"], organizer.id)
    rows = await db.fetch_all(queries.SELECT_FLYER_BATCHES, {"petition_id": petition["id"]})
    missing = await asyncio.to_thread(missing_characters, petition)
    return FlyerBatchList(batches=[view(row, request.app.state.settings, missing) for row in rows])


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    page: query_number(1, MAX_COPIES) = 1


async def api_download(request: Request, query: PageQuery) -> Response:
    """GET /api/v1/flyers/{flyer_id}.{kind}: the PDF (every page), or one page as SVG or PNG (?page=N)."""
    organizer = await bearer_organizer(request)
    db: Database = request.app.state.db
    kind = request.path_params["kind"]
    if kind not in KINDS:
        raise ApiError(404, "Flyers come as .pdf, .svg or .png.")
    batch = await db.fetch_one(queries.SELECT_FLYER_BATCH, {"id": request.path_params["flyer_id"]})
    missing = ApiError(404, "There is no flyer batch here.")
    if batch is None:
        raise missing
    petition = await db.fetch_one(queries.SELECT_PETITION_BY_ID, {"id": batch["petition_id"]})
    if petition is None or not await petitions.is_organizer_of(db, petition["id"], organizer.id):
        raise missing
    body, headers = await render(
        db, request.app.state.settings, petition=petition, batch=batch, kind=kind, page=query.page
    )
    return Response(body, media_type=KINDS[kind], headers={**headers, "cache-control": "no-store"})
