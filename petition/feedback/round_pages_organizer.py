"""The organizers' pages of feedback rounds: a petition's rounds with the form to make one, a round's
page (where it stands, its address, its draft's form), and opening and closing it after a question.

As a petition's task pages do (petition_tasks), every action is a POST answered with a redirect
(303) to a page that says what happened with a fixed notice picked by `?done=`; a refused form is
its page again (4xx), the error summary at the top and each message beside its field, as typed.
Round code batches have their own page (round_code_pages).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import petitions, zones
from ..field_messages import FORM, FieldWords, field_messages
from ..login import guard, page, redirect
from ..organizers import Organizer
from ..petition_forms import LINE_END
from ..petition_tasks import not_found, organizer_and_petition, task_page
from ..petitions import PetitionError
from . import queries, round_fields, rounds
from .rounds import Found, RoundCreate, RoundUpdate

# What a round's page says after a redirect, by the key in its `?done=`; an unknown key says nothing.
NOTICES = {
    "round-created": "The round is saved as a draft. Open it when it is ready.",
    "round-saved": "Your changes are saved.",
    "round-opened": "The round is open: colleagues can join it at its address.",
    "round-closed": "The round is closed: it takes no more participants, votes or statements. Its results stay.",
    "round-codes-made": "Codes made. Download them now: they can be downloaded once.",
    "round-codes-revoked": "The batch's unused codes no longer work.",
    "statements-approved": "The selected statements are approved: participants can vote on them.",
    "statements-hidden": "The selected statements are hidden: they leave voting and only organizers see them.",
    "statements-deleted": "The selected statements are deleted: this petition's identifying data was destroyed, "
    "so nothing that is not approved is kept.",
}
CHECKBOXES = ("allow_statements", "moderate_statements")
# The form's fields in the order the page shows them (the error summary lists them so).
FIELDS = ("question", "description", "statements", "results", "closes_at")
ROUND_WORDS = {
    "question": FieldWords("The question"),
    "description": FieldWords("The description"),
    "statements": FieldWords("The statements"),
    "results": FieldWords("Who sees the results", "Choose who sees the results"),
    "closes_at": FieldWords("The close time", "Enter the close time as a date and a time, like 2026-06-03 17:00"),
}
# A group of radios: the summary's line leads to its first one.
INPUT_IDS = {"results": "results-public"}
NEW_ROUND = {
    "question": "",
    "description": "",
    "statements": "",
    "allow_statements": True,
    "moderate_statements": True,
    "results": "public",
    "closes_at": "",
}
# Pages other parts of the rounds serve: linked only once their route is in the app's list.
LATER_PAGES = {
    "results": "/r/{id}/results",
    "results_csv": "/organize/rounds/{id}/results.csv",
    "statements": "/organize/rounds/{id}/statements",
}


class _Statement(BaseModel):
    text: rounds.StatementText


def notice_of(request: Request) -> str | None:
    """The fixed notice a redirect asked for (`?done=key`), or None."""
    return NOTICES.get(request.query_params.get("done", ""))


def round_path(round_id: str, task: str = "") -> str:
    """/organize/rounds/{id}, or one of its pages (`codes`)."""
    return f"/organize/rounds/{round_id}" + (f"/{task}" if task else "")


def done(path: str, key: str) -> Response:
    """The 303 after an action: to `path`, whose page then shows NOTICES[key]."""
    assert key in NOTICES, key
    return redirect(f"{path}?done={key}")


async def organizer_and_round(request: Request) -> tuple[Organizer, Found] | Response:
    """The signed-in organizer and the round of the path, whose petition they organize; or the page
    to show instead (the login redirect, or 404)."""
    organizer = await guard(request)
    if isinstance(organizer, Response):
        return organizer
    try:
        found = await rounds.editable_by(request.app.state.db, request.path_params["id"], organizer.id)
    except PetitionError:
        return not_found(request, rounds.NOT_ORGANIZED)
    return organizer, found


def seed_statements(typed: str) -> tuple[list[str], str | None]:
    """The seed statements box, one per line -> (its statements, blank lines left out; None, or the
    first problem as a sentence naming its line: a repeat as people read it, as the API refuses it)."""
    lines = [(number, line) for number, line in enumerate(LINE_END.split(typed), start=1) if line.strip()]
    if len(lines) > rounds.MAX_SEED_STATEMENTS:
        return [], f"Enter at most {rounds.MAX_SEED_STATEMENTS} statements, one per line: there are {len(lines)}."
    texts: list[str] = []
    seen: dict[str, int] = {}
    for number, line in lines:
        try:
            text = _Statement(text=line).text
        except ValidationError as error:
            return [], field_messages(error, {"text": FieldWords(f"The statement on line {number}")})["text"]
        if round_fields.LINE_BREAK.search(text):
            return [], f"The statement on line {number} holds a line break: write each statement on one line."
        key = round_fields.statement_key(text)
        if key in seen:
            return [], f"The statement on line {number} repeats the one on line {seen[key]}: leave one out."
        seen[key] = number
        texts.append(text)
    return texts, None


def read_form(form: FormData, zone: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A round form -> (the JSON-shaped values the models validate, seed statements aside; the form as
    typed, to show again). The close time is typed in the petition's time zone."""
    typed: dict[str, Any] = {name: str(form.get(name) or "") for name in FIELDS}
    typed |= {name: form.get(name) == "on" for name in CHECKBOXES}
    closes_at = typed["closes_at"].strip()
    values = {name: typed[name] for name in ("question", "description", "results", *CHECKBOXES)}
    # A datetime-local field has no offset: it is read in the petition's zone, as its deadline is.
    values["closes_at"] = zones.from_local_input(closes_at, zone) if len(closes_at) == 16 else (closes_at or None)
    return values, typed


def validated(model: type[BaseModel], values: dict[str, Any], statements: str) -> tuple[Any, dict[str, str]]:
    """(the model, or None; the refusals by field, in the form's order)."""
    seeds, problem = seed_statements(statements)
    errors: dict[str, str] = {}
    data = None
    try:
        data = model.model_validate({**values, "statements": seeds})
    except ValidationError as error:
        errors = field_messages(error, ROUND_WORDS)
    if problem:
        errors["statements"] = problem
    ordered = {name: errors[name] for name in (FORM, *FIELDS) if name in errors}
    return (None if errors else data), ordered | errors


def form_defaults(found: Found, seeds: list[str]) -> dict[str, Any]:
    """What a draft's form shows: its values, the close time in the petition's zone."""
    row = found.round
    return {
        "question": row["question"],
        "description": row["description"],
        "statements": "\n".join(seeds),
        "allow_statements": bool(row["allow_statements"]),
        "moderate_statements": bool(row["moderate_statements"]),
        "results": row["results"],
        "closes_at": zones.local_input(row["closes_at"], found.petition["time_zone"]),
    }


def later_links(request: Request, round_id: str) -> dict[str, str]:
    """The pages of LATER_PAGES that the app serves: name -> the round's path."""
    paths = {route.path for route in request.app.routes if isinstance(route, Route)}
    return {name: path.format(id=round_id) for name, path in LATER_PAGES.items() if path in paths}


async def round_task_page(
    request: Request,
    template: str,
    organizer: Organizer,
    found: Found,
    context: dict[str, Any],
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    """One of a round's pages: `context` with what each shows (its petition's sub-navigation, the
    round as its organizers see it, the round's own links, the notice, errors and typed values)."""
    row = await rounds.view_row(request.app.state.db, found.round["id"])
    view = rounds.organizer_view(row, found.petition, request.app.state.settings)
    shared = {
        "round": view,
        "notice": None if errors else notice_of(request),
        "links": later_links(request, view.id),
        "input_ids": INPUT_IDS,
        "max_statements": rounds.MAX_SEED_STATEMENTS,
    }
    found_pair = (organizer, found.petition)
    return task_page(request, template, found_pair, {**shared, **context}, errors=errors, values=values, status=status)


def takes_rounds(petition: dict[str, Any]) -> bool:
    """Whether rounds can be made or changed on the petition (a draft or an open one)."""
    return petition["state"] == "draft" or petitions.is_open(petition)


async def rounds_page(
    request: Request,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    """GET /organize/petitions/{slug}/rounds: the petition's rounds (drafts too) and the form to make one."""
    found = await organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    _, row = found
    settings = request.app.state.settings
    rows = await rounds.rounds_of(request.app.state.db, row["id"], drafts=True)
    context = {
        "rounds": [rounds.organizer_view(each, row, settings) for each in rows],
        "takes_rounds": takes_rounds(row),
        "notice": None,
        "input_ids": INPUT_IDS,
        "max_statements": rounds.MAX_SEED_STATEMENTS,
    }
    return task_page(
        request, "organize_rounds.html", found, context, errors=errors, values=values or NEW_ROUND, status=status
    )


async def create_round(request: Request) -> Response:
    """POST /organize/petitions/{slug}/rounds: a new draft round, then its page; or the form again."""
    found = await organizer_and_petition(request)
    if isinstance(found, Response):
        return found
    organizer, row = found
    async with request.form() as form:
        values, typed = read_form(form, row["time_zone"])
    data, errors = validated(RoundCreate, values, typed["statements"])
    if errors:
        return await rounds_page(request, errors=errors, values=typed, status=422)
    db, settings = request.app.state.db, request.app.state.settings
    try:
        round_id = await rounds.create(db, settings, organizer_id=organizer.id, petition=row, data=data)
    except PetitionError as error:
        errors = {error.field or FORM: error.message}
        return await rounds_page(request, errors=errors, values=typed, status=error.status)
    request.app.state.public_cache.clear()
    return done(round_path(round_id), "round-created")


async def show_round(
    request: Request,
    organizer: Organizer,
    found: Found,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    """A round's page: where it stands, its address, what it links to, and a draft's form."""
    if values is None and found.round["state"] == "draft":
        seeds = await request.app.state.db.fetch_all(queries.SELECT_SEED_STATEMENTS, {"round_id": found.round["id"]})
        values = form_defaults(found, [seed["text"] for seed in seeds])
    context = {"round_row": found.round, "takes_rounds": takes_rounds(found.petition)}
    return await round_task_page(
        request, "organize_round.html", organizer, found, context, errors=errors, values=values, status=status
    )


async def manage_round(request: Request) -> Response:
    """GET /organize/rounds/{id}: the round's page for its petition's organizers (404 for anyone else)."""
    found = await organizer_and_round(request)
    if isinstance(found, Response):
        return found
    return await show_round(request, *found)


async def edit_round(request: Request) -> Response:
    """POST /organize/rounds/{id}/edit: change a draft round (409 once it is open), then its page."""
    found = await organizer_and_round(request)
    if isinstance(found, Response):
        return found
    organizer, round_found = found
    zone = round_found.petition["time_zone"]
    async with request.form() as form:
        values, typed = read_form(form, zone)
    # A close time sent back as the form showed it is no change (the field holds no seconds, and a
    # time set through the API may have some).
    if typed["closes_at"].strip() == zones.local_input(round_found.round["closes_at"], zone) != "":
        values.pop("closes_at")
    data, errors = validated(RoundUpdate, values, typed["statements"])
    if errors:
        return await show_round(request, organizer, round_found, errors=errors, values=typed, status=422)
    try:
        round_id = round_found.round["id"]
        db, settings = request.app.state.db, request.app.state.settings
        await rounds.update(db, settings, organizer_id=organizer.id, round_id=round_id, data=data)
    except PetitionError as error:
        errors = {error.field or FORM: error.message}
        return await show_round(request, organizer, round_found, errors=errors, values=typed, status=error.status)
    request.app.state.public_cache.clear()
    return done(round_path(round_found.round["id"]), "round-saved")


def refusal(found: Found, action: str) -> str | None:
    """Why the round cannot be opened or closed as it stands now, or None (the write checks again)."""
    state = rounds.as_of(found)["state"]
    if action == "open" and state != "draft":
        return f"This round is already {state}; only a draft round opens."
    if action == "close" and state == "draft":
        return "This round is a draft: it was never open, so it cannot be closed."
    if action == "close" and state == "closed":
        return "This round is already closed."
    return None


async def _confirm(request: Request, action: str) -> Response:
    found = await organizer_and_round(request)
    if isinstance(found, Response):
        return found
    organizer, round_found = found
    if problem := refusal(round_found, action):
        return await show_round(request, organizer, round_found, errors={FORM: problem}, status=409)
    context = {"action": action, "round": round_found.round, "petition": round_found.petition}
    return page(request, "organize_round_confirm.html", context)


async def _change_state(request: Request, action: str) -> Response:
    found = await organizer_and_round(request)
    if isinstance(found, Response):
        return found
    organizer, round_found = found
    change = rounds.open_round if action == "open" else rounds.close_round
    try:
        await change(request.app.state.db, organizer_id=organizer.id, round_id=round_found.round["id"])
    except PetitionError as error:
        fresh = await rounds.find(request.app.state.db, round_found.round["id"]) or round_found
        return await show_round(request, organizer, fresh, errors={FORM: error.message}, status=error.status)
    request.app.state.public_cache.clear()
    return done(round_path(round_found.round["id"]), "round-opened" if action == "open" else "round-closed")


async def confirm_open(request: Request) -> Response:
    """GET /organize/rounds/{id}/open: asks before opening the draft (409 for a round open or closed)."""
    return await _confirm(request, "open")


async def open_round(request: Request) -> Response:
    """POST /organize/rounds/{id}/open: draft -> open, then its page says so; a refusal (409) is shown there."""
    return await _change_state(request, "open")


async def confirm_close(request: Request) -> Response:
    """GET /organize/rounds/{id}/close: asks before closing the open round (409 for a draft or a closed one)."""
    return await _confirm(request, "close")


async def close_round(request: Request) -> Response:
    """POST /organize/rounds/{id}/close: open -> closed, then its page says so; a refusal (409) is shown there."""
    return await _change_state(request, "close")
