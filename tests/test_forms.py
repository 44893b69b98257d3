"""Forms people can act on: every refusal opens with the error summary, in words a person would use,
each line a link to its input, the message beside it; what was typed survives; withdrawing asks once more."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from petition import organizers
from petition.csrf import FORM_FIELD
from petition.database import Transaction
from petition.settings import Settings

from .conftest import ORGANIZER_PASSWORD, make_settings
from .feedback.factories import make_round
from .test_login import csrf_of, log_in
from .test_signing import make_codes, open_petition, sign, status
from .test_two_factor import enroll

# pydantic's own wording, which names neither the field nor what to do.
MACHINE_WORDS = ("should have", "should be", "Value error", "Field required", "Input should", "String")
MISSING, EMPTY, TOO_LONG, WRONG_TYPE, JUNK = "missing", "empty", "too long", "wrong type", "junk"
KINDS = (MISSING, EMPTY, TOO_LONG, WRONG_TYPE, JUNK)
JUNK_TEXT = "\x00\x01\uffff\u202e<b>&amp;</b>\r\n"
# A group of boxes: the summary links to its first box; the message is the group's.
GROUPS = {"v-email": "verification", "results-public": "results"}
SUMMARY_LINK = re.compile(r'<li><a href="#([^"]+)">([^<]+)</a></li>')


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    """Limits raised: these tests send many refused forms from one client, on purpose."""
    return make_settings(
        tmp_path, database_url=db_url, rate_limit_login_per_client=10_000, rate_limit_login_per_account=10_000
    )


def bad(kind: str, *, wrong_type: str = "12345", long: str = "x" * 20_001) -> str | None:
    """The value a form sends for one kind of bad input (None: the field is left out)."""
    return {MISSING: None, EMPTY: "", TOO_LONG: long, WRONG_TYPE: wrong_type, JUNK: JUNK_TEXT}[kind]


def with_bad(data: dict[str, str], field: str, kind: str, **values: str) -> dict[str, str]:
    changed = {**data}
    value = bad(kind, **values)
    if value is None:
        changed.pop(field, None)
    else:
        changed[field] = value
    return changed


def assert_refused_in_plain_words(response: httpx.Response, label: str) -> None:
    """A 4xx page that opens with the error summary, every line a link to an input marked invalid
    and described by its message beside it, and not one of pydantic's phrases."""
    assert 400 <= response.status_code < 500, (label, response.status_code)
    html = response.text
    assert 'class="error-summary"' in html, f"{label}: no error summary"
    summary = html.split('class="error-summary"', 1)[1].split("</div>", 1)[0]
    for words in MACHINE_WORDS:
        assert words not in html, f"{label}: {words!r} in {summary}"
    assert "<li>" in summary, f"{label}: an empty summary"
    for input_id, message in SUMMARY_LINK.findall(summary):
        tag = re.search(rf'<(input|textarea|select)[^>]*\bid="{re.escape(input_id)}"[^>]*>', html)
        assert tag, f"{label}: the summary links to #{input_id}, which is no input"
        if input_id not in GROUPS:
            assert 'aria-invalid="true"' in tag.group(0), f"{label}: #{input_id} not marked invalid"
            assert f"{input_id}-error" in tag.group(0), f"{label}: #{input_id} not described by its message"
        message_id = GROUPS.get(input_id, input_id) + "-error"
        assert f'id="{message_id}">{message}' in html, f"{label}: the message is not beside #{input_id}"


async def refuses_every_kind(
    client: httpx.AsyncClient, path: str, data: dict[str, str], fields: dict[str, tuple[str, ...]], **values: str
) -> None:
    """Send `data` with each field of `fields` broken each listed way; every answer is a plain refusal."""
    for field, kinds in fields.items():
        for kind in kinds:
            response = await client.post(path, data=with_bad(data, field, kind, **values))
            assert_refused_in_plain_words(response, f"{path} {field} {kind}")


async def write_link(app: Starlette, **fields: object) -> str:
    async def unit(tx: Transaction) -> str:
        return await organizers.create_link(tx, seconds=600, **fields)  # type: ignore[arg-type]

    return str(await app.state.db.write(unit))


async def test_every_organizer_form_refuses_bad_input_with_a_summary_in_plain_words(
    app: Starlette, client: httpx.AsyncClient, organizer: str
) -> None:
    csrf = await csrf_of(client, "/login")
    login = {FORM_FIELD: csrf, "email": organizer, "password": ORGANIZER_PASSWORD}
    await refuses_every_kind(client, "/login", login, {"email": KINDS, "password": KINDS}, wrong_type="not an address")
    reset = {FORM_FIELD: csrf, "email": organizer}
    await refuses_every_kind(client, "/reset", reset, {"email": KINDS}, wrong_type="not an address")
    alice = await organizers.find_by_email(app.state.db, organizer)
    assert alice is not None
    password_kinds = (MISSING, EMPTY, TOO_LONG, WRONG_TYPE, JUNK)
    new_password = {FORM_FIELD: csrf, "password": "a" + ORGANIZER_PASSWORD, "password_again": "a" + ORGANIZER_PASSWORD}
    reset_link = await write_link(app, kind="reset", organizer_id=alice.id)
    for path in (f"/reset/{reset_link}", f"/invite/{await write_link(app, kind='invite', email='bob@example.org')}"):
        fields = {"password": password_kinds, "password_again": password_kinds}
        await refuses_every_kind(client, path, new_password, fields, wrong_type="1234567890")
    assert (await client.get(f"/reset/{reset_link}")).status_code == 200, "no refusal spent the link"

    await log_in(client, organizer)
    csrf = await csrf_of(client, "/organize/settings")
    await refuses_every_kind(
        client, "/organize/tokens", {FORM_FIELD: csrf, "name": "ci"}, {"name": (MISSING, EMPTY, TOO_LONG, JUNK)}
    )
    invite = {FORM_FIELD: csrf, "email": "carol@example.org", "admin": "on"}
    await refuses_every_kind(client, "/organize/admin/invite", invite, {"email": KINDS}, wrong_type="not an address")
    start = await client.post("/organize/two-factor", data={FORM_FIELD: csrf})
    secret = re.search(r'name="secret" value="([A-Z2-7]+)"', start.text).group(1)  # type: ignore[union-attr]
    signature = re.search(r'name="signature" value="([0-9a-f]+)"', start.text).group(1)  # type: ignore[union-attr]
    confirm = {FORM_FIELD: csrf, "secret": secret, "signature": signature, "code": "000000"}
    await refuses_every_kind(client, "/organize/two-factor/confirm", confirm, {"code": KINDS}, wrong_type="abcdef")

    petition = {
        FORM_FIELD: csrf,
        "title": "Fair rotas",
        "summary": "Rotas four weeks ahead.",
        "target": "The director",
        "body": "We ask for rotas four weeks ahead.",
        "goal": "100",
        "verification": "code",
        "timeline_floor": "day",
        "retention_days": "30",
        "slug": "fair-rotas",
        "closes_at": "",
    }
    texts = (MISSING, EMPTY, TOO_LONG, JUNK)
    fields = {
        "title": texts,
        "summary": texts,
        "target": texts,
        "body": (TOO_LONG, JUNK),
        "goal": KINDS,
        "retention_days": (EMPTY, TOO_LONG, WRONG_TYPE, JUNK),
        "slug": (TOO_LONG, WRONG_TYPE, JUNK),
        "closes_at": (TOO_LONG, WRONG_TYPE, JUNK),
        "verification": (MISSING, EMPTY, WRONG_TYPE, JUNK),
        "timeline_floor": (EMPTY, TOO_LONG, WRONG_TYPE, JUNK),
        "allowed_domains": (TOO_LONG, WRONG_TYPE, JUNK),
    }
    await refuses_every_kind(client, "/organize/petitions", petition, fields, wrong_type="Not-A_Number!")
    assert await app.state.db.fetch_val("SELECT COUNT(*) FROM petitions") == 0, "no refused form made a petition"


async def test_every_feedback_round_form_refuses_bad_input_with_a_summary_in_plain_words(
    app: Starlette, client: httpx.AsyncClient, organizer: str, token: str
) -> None:
    slug = await open_petition(client, token)
    petition = (await client.get(f"/api/v1/petitions/{slug}")).json()["id"]
    draft, _ = await make_round(app, client, token, slug=slug, state="draft")
    await log_in(client, organizer)
    csrf = await csrf_of(client, "/organize")
    form = {
        FORM_FIELD: csrf,
        "question": "What would fair rotas be?",
        "description": "Vote on each.",
        "statements": "Rotas four weeks ahead.\nSwaps between colleagues.",
        "allow_statements": "on",
        "results": "public",
        "closes_at": "",
    }
    texts = (MISSING, EMPTY, TOO_LONG, JUNK)
    fields = {
        "question": texts,
        "description": (TOO_LONG, JUNK),
        "statements": (TOO_LONG, JUNK),
        "results": KINDS,
        "closes_at": (TOO_LONG, WRONG_TYPE, JUNK),
    }
    for path in (f"/organize/petitions/{petition}/rounds", f"/organize/rounds/{draft}/edit"):
        await refuses_every_kind(client, path, form, fields, wrong_type="Not-A_Time!")
    codes = {FORM_FIELD: csrf, "count": "2", "label": "Canteen"}
    await refuses_every_kind(
        client, f"/organize/rounds/{draft}/codes", codes, {"count": KINDS, "label": (TOO_LONG, JUNK)}
    )
    assert await app.state.db.fetch_val("SELECT COUNT(*) FROM rounds") == 1, "no refused form made a round"
    assert await app.state.db.fetch_val("SELECT question FROM rounds") == "What should a fair opt-out look like?"
    assert await app.state.db.fetch_val("SELECT COUNT(*) FROM round_code_batches") == 0


async def test_the_setup_form_refuses_bad_input_with_a_summary_in_plain_words(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    from petition import accounts

    token = await accounts.setup_link_if_needed(app.state.db)
    csrf = await csrf_of(client, f"/setup/{token}")
    setup = {FORM_FIELD: csrf, "email": "first@example.org", "password": ORGANIZER_PASSWORD}
    setup["password_again"] = ORGANIZER_PASSWORD
    fields = {"email": KINDS, "password": KINDS, "password_again": KINDS}
    await refuses_every_kind(client, f"/setup/{token}", setup, fields, wrong_type="not an address")
    assert await organizers.count_organizers(app.state.db) == 0


async def test_the_two_factor_forms_refuse_bad_codes_with_a_summary_in_plain_words(
    app: Starlette, client: httpx.AsyncClient, organizer: str, clock: list[float]
) -> None:
    await log_in(client, organizer)
    await enroll(client, clock)
    csrf = await csrf_of(client, "/organize/settings")
    off = {FORM_FIELD: csrf, "code": "000000"}
    await refuses_every_kind(client, "/organize/two-factor/off", off, {"code": KINDS}, wrong_type="abcdef")
    assert "Two-factor is on" in (await client.get("/organize/settings")).text
    await client.post("/logout", data={FORM_FIELD: csrf})
    await log_in(client, organizer)
    csrf = await csrf_of(client, "/login/two-factor")
    step = {FORM_FIELD: csrf, "code": "000000"}
    await refuses_every_kind(client, "/login/two-factor", step, {"code": KINDS}, wrong_type="abcdef")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    import time

    from petition import two_factor

    moment = [time.time()]
    monkeypatch.setattr(two_factor, "clock", lambda: moment[0])
    return moment


async def test_every_receipt_form_refuses_bad_input_with_a_summary_in_plain_words(
    client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    [code] = await make_codes(client, token, slug, 1)
    receipt = (await sign(client, slug, code)).json()["receipt"]
    for action in ("status", "withdraw", "confirm_withdraw", "unsubscribe"):
        data = {"receipt": receipt, "action": action}
        await refuses_every_kind(client, f"/p/{slug}/receipt", data, {"receipt": KINDS})
    updates = f"/p/{slug}/updates"
    address = {"receipt": receipt, "address": "me@example.net"}
    await refuses_every_kind(
        client, updates, address, {"receipt": KINDS, "address": KINDS}, wrong_type="not an address"
    )
    assert (await client.post(updates, data=address)).status_code == 200, "an address is waiting for its code"
    confirm = {"receipt": receipt, "code": "AAAA-AAAA"}
    await refuses_every_kind(client, updates, confirm, {"code": (EMPTY, TOO_LONG, WRONG_TYPE, JUNK)})
    assert await status(client, slug, receipt) == "pending", "no refused form withdrew it"


def test_a_field_a_form_does_not_name_is_still_refused_in_plain_words() -> None:
    from pydantic import BaseModel, ValidationError

    from petition.field_messages import FieldWords, field_messages

    class Shifts(BaseModel):
        weeks: int
        label: str

    with pytest.raises(ValidationError) as refused:
        Shifts.model_validate({"weeks": "many"})
    messages = field_messages(refused.value, {"label": FieldWords("The label")})
    assert messages == {
        "weeks": "This answer is not one the form takes: check it and send the form again.",
        "label": "Enter the label.",
    }
    assert not any(words in " ".join(messages.values()) for words in MACHINE_WORDS)


async def test_withdrawing_on_the_receipt_page_asks_once_more_and_only_the_confirmed_answer_withdraws(
    client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token)
    [code, other] = await make_codes(client, token, slug, 2)
    receipt = (await sign(client, slug, code, name="Dana", show_name=True)).json()["receipt"]
    question = await client.post(f"/p/{slug}/receipt", data={"receipt": receipt, "action": "withdraw"})
    assert question.status_code == 200 and question.headers["cache-control"] == "no-store"
    assert "<h1>Withdraw your signature?</h1>" in question.text
    assert "cannot undo" in question.text and "deleted" in question.text and "count" in question.text
    words = " ".join(question.text.split())
    assert "hide your name first and withdraw on another day" in words, "a shown name and a reason leave together"
    form = question.text.split(f'<form method="post" action="/p/{slug}/receipt">', 1)[1].split("</form>", 1)[0]
    assert f'<input type="hidden" name="receipt" value="{receipt}">' in form, "the receipt rides in the form"
    assert 'value="confirm_withdraw">Yes, withdraw my signature</button>' in form
    assert 'value="status" class="link">No, keep my signature</button>' in form, "a way back"
    assert not re.search(rf'(href|action)="[^"]*{re.escape(receipt)}', question.text), "never in an address"
    assert await status(client, slug, receipt) == "pending", "asking withdraws nothing"

    kept = await client.post(f"/p/{slug}/receipt", data={"receipt": receipt, "action": "status"})
    assert "Your signature is <strong>pending</strong>" in kept.text
    done = await client.post(f"/p/{slug}/receipt", data={"receipt": receipt, "action": "confirm_withdraw"})
    assert done.status_code == 200 and "You have withdrawn your signature." in done.text
    assert "Your signature is <strong>withdrawn</strong>" in done.text
    assert 'value="withdraw"' not in done.text, "nothing left to withdraw"
    assert await status(client, slug, receipt) == "withdrawn"
    again = await client.post(f"/p/{slug}/receipt", data={"receipt": receipt, "action": "confirm_withdraw"})
    assert again.status_code == 200 and "You have withdrawn your signature." in again.text, "a reload shows no failure"
    asked = await client.post(f"/p/{slug}/receipt", data={"receipt": receipt, "action": "withdraw"})
    assert asked.status_code == 409 and "already withdrawn" in asked.text
    assert "confirm_withdraw" not in asked.text, "it says so instead of asking"

    by_api = (await sign(client, slug, other)).json()["receipt"]
    answer = await client.post(f"/api/v1/petitions/{slug}/signatures/withdraw", json={"receipt": by_api})
    assert answer.json() == {"status": "withdrawn"}, "the API withdraws in one call"


async def test_the_withdrawal_question_says_so_instead_of_asking_once_the_petition_is_closed(
    client: httpx.AsyncClient, token: str
) -> None:
    from .test_petitions import bearer

    slug = await open_petition(client, token)
    [code] = await make_codes(client, token, slug, 1)
    receipt = (await sign(client, slug, code)).json()["receipt"]
    question = await client.post(f"/p/{slug}/receipt", data={"receipt": receipt, "action": "withdraw"})
    assert "confirm_withdraw" in question.text
    petition = (await client.get(f"/api/v1/petitions/{slug}")).json()
    assert (await client.post(f"/api/v1/petitions/{petition['id']}/close", headers=bearer(token))).is_success
    closed = await client.post(f"/p/{slug}/receipt", data={"receipt": receipt, "action": "withdraw"})
    assert closed.status_code == 409 and "only while the petition is open" in closed.text
    assert "confirm_withdraw" not in closed.text and "Your signature is <strong>pending</strong>" in closed.text
    late = await client.post(f"/p/{slug}/receipt", data={"receipt": receipt, "action": "confirm_withdraw"})
    assert late.status_code == 409 and "only while the petition is open" in late.text
    assert await status(client, slug, receipt) == "pending"


async def test_typed_values_and_ticked_boxes_survive_a_refusal_but_never_a_password(
    client: httpx.AsyncClient, organizer: str
) -> None:
    csrf = await csrf_of(client, "/login")
    wrong = await client.post(
        "/login", data={FORM_FIELD: csrf, "email": "Alice@Example.org ", "password": "not the password at all"}
    )
    assert wrong.status_code == 400 and 'value="Alice@Example.org "' in wrong.text
    assert "not the password at all" not in wrong.text
    await log_in(client, organizer)
    csrf = await csrf_of(client, "/organize/admin")
    refused = await client.post("/organize/admin/invite", data={FORM_FIELD: csrf, "email": "bob@", "admin": "on"})
    assert refused.status_code == 422 and 'value="bob@"' in refused.text
    assert re.search(r'<input id="admin"[^>]* checked>', refused.text), "the administrator box stays ticked"
    named = await client.post("/organize/tokens", data={FORM_FIELD: csrf, "name": "x" * 81})
    assert named.status_code == 422 and f'value="{"x" * 81}"' in named.text
