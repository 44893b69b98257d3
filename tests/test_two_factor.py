"""Two-factor: TOTP enrolment with a QR code, login with a code, recovery codes, replay refused."""

from __future__ import annotations

import base64
import re
import time

import httpx
import pyotp
import pytest
from starlette.applications import Starlette

from petition import organizers, queries, two_factor
from petition.csrf import FORM_FIELD
from petition.database import Database
from petition.two_factor import STEP_SECONDS, matching_step, normalize_code

from .test_login import csrf_of, log_in

pytestmark = pytest.mark.usefixtures("organizer")
EMAIL = "alice@example.org"


def test_totp_matches_the_rfc_6238_vector_with_a_fixed_clock() -> None:
    secret = base64.b32encode(b"12345678901234567890").decode()
    assert matching_step(secret, "287082", after_step=0, at=59) == 1
    assert matching_step(secret, "287082", after_step=1, at=59) is None, "a used step is never accepted again"
    assert matching_step(secret, "287082", after_step=0, at=59 + 10 * STEP_SECONDS) is None, "too old"
    assert matching_step(secret, "28708", after_step=0, at=59) is None


def test_recovery_codes_forgive_typing_slips() -> None:
    assert normalize_code(" abcde-fgh0l ") == normalize_code("ABCDEFGH01")
    assert normalize_code("o1") == "01"


async def enroll(client: httpx.AsyncClient, clock: list[float]) -> tuple[str, list[str]]:
    """Turn two-factor on for the signed-in organizer; (secret, recovery codes)."""
    csrf = await csrf_of(client, "/organize/settings")
    page = await client.post("/organize/two-factor", data={FORM_FIELD: csrf})
    assert page.status_code == 200
    assert "<svg" in page.text and 'role="img"' in page.text, "a QR code to scan"
    secret = re.search(r'name="secret" value="([A-Z2-7]+)"', page.text).group(1)  # type: ignore[union-attr]
    signature = re.search(r'name="signature" value="([0-9a-f]+)"', page.text).group(1)  # type: ignore[union-attr]
    code = code_now(secret, clock)
    done = await client.post(
        "/organize/two-factor/confirm", data={FORM_FIELD: csrf, "secret": secret, "signature": signature, "code": code}
    )
    assert done.status_code == 200
    codes = re.findall(r"<code>([0-9A-Z]{5}-[0-9A-Z]{5})</code>", done.text)
    assert len(codes) == 10
    return secret, codes


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A fixed clock for code checks: tests move it on a step instead of waiting 30 seconds."""
    moment = [time.time()]
    monkeypatch.setattr(two_factor, "clock", lambda: moment[0])
    return moment


def next_step(clock: list[float]) -> None:
    clock[0] += STEP_SECONDS


def code_now(secret: str, clock: list[float]) -> str:
    return pyotp.TOTP(secret).at(clock[0])


async def test_enrolment_stores_the_secret_encrypted_and_audits(
    app: Starlette, client: httpx.AsyncClient, clock: list[float]
) -> None:
    await log_in(client, EMAIL)
    secret, _ = await enroll(client, clock)
    db: Database = app.state.db
    stored = await db.fetch_val("SELECT totp_secret FROM organizers")
    assert stored.startswith("v1.") and secret not in stored
    assert "two-factor turned on" in [row["action"] for row in await organizers.audit_trail(db)]
    assert "Two-factor is on" in (await client.get("/organize/settings")).text


async def test_a_wrong_first_code_or_a_swapped_secret_does_not_turn_it_on(
    app: Starlette, client: httpx.AsyncClient, clock: list[float]
) -> None:
    await log_in(client, EMAIL)
    csrf = await csrf_of(client, "/organize/settings")
    page = await client.post("/organize/two-factor", data={FORM_FIELD: csrf})
    secret = re.search(r'name="secret" value="([A-Z2-7]+)"', page.text).group(1)  # type: ignore[union-attr]
    signature = re.search(r'name="signature" value="([0-9a-f]+)"', page.text).group(1)  # type: ignore[union-attr]
    wrong = await client.post(
        "/organize/two-factor/confirm", data={FORM_FIELD: csrf, "secret": secret, "signature": signature, "code": "1"}
    )
    assert wrong.status_code == 400 and "not right" in wrong.text
    other = pyotp.random_base32()
    swapped = await client.post(
        "/organize/two-factor/confirm",
        data={FORM_FIELD: csrf, "secret": other, "signature": signature, "code": pyotp.TOTP(other).now()},
    )
    assert swapped.status_code == 400
    assert await app.state.db.fetch_val("SELECT totp_secret FROM organizers") is None


async def test_login_with_two_factor_needs_the_code_and_rotates_the_session(
    app: Starlette, client: httpx.AsyncClient, clock: list[float]
) -> None:
    await log_in(client, EMAIL)
    secret, _ = await enroll(client, clock)
    client.cookies.clear()
    response = await log_in(client, EMAIL)
    assert response.headers["location"] == "/login/two-factor"
    pending = client.cookies.get("session")
    assert (await client.get("/organize")).status_code == 303, "the password alone opens nothing"
    csrf = await csrf_of(client, "/login/two-factor")
    wrong = await client.post("/login/two-factor", data={FORM_FIELD: csrf, "code": "000000"})
    assert wrong.status_code == 400
    next_step(clock)
    right = await client.post("/login/two-factor", data={FORM_FIELD: csrf, "code": code_now(secret, clock)})
    assert right.status_code == 303 and right.headers["location"] == "/organize"
    assert client.cookies.get("session") != pending
    assert (await client.get("/organize")).status_code == 200
    actions = [row["action"] for row in await organizers.audit_trail(app.state.db)]
    assert "two-factor failed" in actions and "password accepted" in actions


async def test_a_code_cannot_be_used_twice(client: httpx.AsyncClient, clock: list[float]) -> None:
    await log_in(client, EMAIL)
    secret, _ = await enroll(client, clock)
    next_step(clock)
    code = code_now(secret, clock)
    for expected in (303, 400):
        client.cookies.clear()
        await log_in(client, EMAIL)
        csrf = await csrf_of(client, "/login/two-factor")
        response = await client.post("/login/two-factor", data={FORM_FIELD: csrf, "code": code})
        assert response.status_code == expected


async def test_a_recovery_code_logs_in_once(client: httpx.AsyncClient, clock: list[float]) -> None:
    await log_in(client, EMAIL)
    _, codes = await enroll(client, clock)
    for expected in (303, 400):
        client.cookies.clear()
        await log_in(client, EMAIL)
        csrf = await csrf_of(client, "/login/two-factor")
        response = await client.post("/login/two-factor", data={FORM_FIELD: csrf, "code": codes[0].lower()})
        assert response.status_code == expected


async def test_when_an_admin_requires_two_factor_organizers_without_it_must_set_it_up(
    app: Starlette, client: httpx.AsyncClient, clock: list[float]
) -> None:
    db: Database = app.state.db
    await db.write(lambda tx: tx.execute(queries.UPSERT_INSTANCE_SETTING, {"name": "require_two_factor", "value": "1"}))
    await log_in(client, EMAIL)
    home = await client.get("/organize")
    assert home.status_code == 303 and home.headers["location"] == "/organize/settings"
    settings_page = await client.get("/organize/settings")
    assert "requires two-factor" in settings_page.text
    await enroll(client, clock)
    assert (await client.get("/organize")).status_code == 200
    csrf = await csrf_of(client, "/organize/settings")
    off = await client.post("/organize/two-factor/off", data={FORM_FIELD: csrf, "code": "123456"})
    assert off.status_code == 409
    assert await db.fetch_val("SELECT totp_secret FROM organizers") is not None


async def test_turning_two_factor_off_needs_a_current_code(
    app: Starlette, client: httpx.AsyncClient, clock: list[float]
) -> None:
    await log_in(client, EMAIL)
    _, codes = await enroll(client, clock)
    csrf = await csrf_of(client, "/organize/settings")
    refused = await client.post("/organize/two-factor/off", data={FORM_FIELD: csrf, "code": "000000"})
    assert refused.status_code == 400
    done = await client.post("/organize/two-factor/off", data={FORM_FIELD: csrf, "code": codes[1]})
    assert done.status_code == 303
    db: Database = app.state.db
    assert await db.fetch_val("SELECT totp_secret FROM organizers") is None
    assert await db.fetch_val("SELECT COUNT(*) AS n FROM recovery_codes") == 0
    assert "two-factor turned off" in [row["action"] for row in await organizers.audit_trail(db)]
