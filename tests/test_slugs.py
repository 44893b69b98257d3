"""Slugs: readable addresses made from titles in any script, editable while a draft, fixed once published."""

from __future__ import annotations

import re

import httpx
import pytest
from starlette.applications import Starlette

from petition.csrf import FORM_FIELD
from petition.petitions import slugify

from .test_login import csrf_of, log_in
from .test_petitions import bearer, create, published

pytestmark = pytest.mark.usefixtures("organizer")


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Ίση αμοιβή για όλους", "isi-amoivi-gia-oloys"),
        ("Равная оплата для всех", "ravnaya-oplata-dlya-vsekh"),
        ("أجر متساو للجميع", "jr-mtsw-lljmy"),
        ("同工同酬", "tong-gong-tong-chou"),
        ("동일 임금", "dong-il-im-geum"),
        ("Café über alles", "cafe-uber-alles"),
        ("Ίση αμοιβή 🙂 για όλους", "isi-amoivi-gia-oloys"),
    ],
)
def test_a_title_in_any_script_gets_a_readable_transliterated_slug(title: str, slug: str) -> None:
    assert slugify(title) == slug


@pytest.mark.parametrize("title", ["🙂", "!!", "★ ab ★", "Ω"])
def test_only_a_title_that_leaves_fewer_than_three_letters_gets_a_random_slug(title: str) -> None:
    assert re.fullmatch(r"petition-[0-9a-f]{8}", slugify(title))


def test_a_transliterated_slug_is_cut_to_leave_room_for_a_number() -> None:
    slug = slugify("Ίση αμοιβή " * 20)
    assert len(slug) <= 50 and not slug.endswith("-") and re.fullmatch(r"[a-z0-9-]+", slug)


async def test_a_greek_title_gets_a_readable_address_through_the_api(client: httpx.AsyncClient, token: str) -> None:
    draft = (await create(client, token, title="Ίση αμοιβή για όλους")).json()
    assert draft["slug"] == "isi-amoivi-gia-oloys"
    slug = await published(client, token, title="Ίση αμοιβή για όλους", slug="isi-amoivi")
    assert (await client.get(f"/p/{slug}")).status_code == 200


async def draft_form(client: httpx.AsyncClient, draft_id: str) -> dict[str, str]:
    page = (await client.get(f"/organize/petitions/{draft_id}/edit")).text
    return {
        FORM_FIELD: await csrf_of(client, f"/organize/petitions/{draft_id}/edit"),
        "title": "Ίση αμοιβή για όλους",
        "summary": "Equal pay.",
        "target": "The board",
        "body": "",
        "goal": "100",
        "closes_at": "",
        "allowed_domains": "example.org",
        "verification": "email",
        "timeline_floor": "day",
        "retention_days": "30",
        "time_zone": "UTC",
        "_page": page,
    }


async def test_a_drafts_slug_is_editable_on_its_edit_form_with_the_same_rules(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    draft = (await create(client, token, title="Ίση αμοιβή για όλους")).json()
    await log_in(client, "alice@example.org")
    form = await draft_form(client, draft["id"])
    page = form.pop("_page")
    assert 'id="slug"' in page and 'value="isi-amoivi-gia-oloys"' in page, "the edit form shows the slug"
    for refused, words in (("new", "a word the site"), ("ab", "3 to 60"), ("a" * 24, "")):
        answer = await client.post(f"/organize/petitions/{draft['id']}/edit", data={**form, "slug": refused})
        assert answer.status_code == 422 and 'id="slug-error"' in answer.text and words in answer.text
    hex_id = await client.post(f"/organize/petitions/{draft['id']}/edit", data={**form, "slug": "0" * 24})
    assert hex_id.status_code == 422 and "look like a petition" in hex_id.text
    saved = await client.post(f"/organize/petitions/{draft['id']}/edit", data={**form, "slug": "equal-pay"})
    assert saved.status_code == 303
    view = (await client.get(f"/api/v1/petitions/{draft['id']}", headers=bearer(token))).json()
    assert view["slug"] == "equal-pay"


async def test_a_published_petitions_slug_is_not_offered_on_its_edit_form_and_never_changes(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await published(client, token, title="Ίση αμοιβή για όλους")
    petition_id = (await client.get(f"/api/v1/petitions/{slug}")).json()["id"]
    await log_in(client, "alice@example.org")
    form = await draft_form(client, petition_id)
    page = form.pop("_page")
    assert 'id="slug"' not in page and f"/p/{slug}" in page
    saved = await client.post(f"/organize/petitions/{petition_id}/edit", data={**form, "slug": "equal-pay"})
    assert saved.status_code == 303
    assert (await client.get(f"/api/v1/petitions/{slug}")).json()["slug"] == slug
    refused = await client.patch(f"/api/v1/petitions/{slug}", json={"slug": "equal-pay"}, headers=bearer(token))
    assert refused.status_code == 409
