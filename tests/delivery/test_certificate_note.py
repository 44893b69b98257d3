"""The certificate as a signed note: compact JSON on one line, its signature over those exact bytes,
and no byte of it that can change without the verifier noticing."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from starlette.applications import Starlette

from petition import checkpoints, petitions, verify
from petition.delivery import certificate_note
from petition.delivery.certificate import build

from ..test_petitions import bearer
from ..test_signing import count_everything, make_codes, open_petition, sign

pytestmark = pytest.mark.usefixtures("organizer")


async def note_of(app: Starlette, client: httpx.AsyncClient, token: str, slug: str) -> bytes:
    response = await client.get(f"/api/v1/petitions/{slug}/certificate.note", headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.content


async def test_the_note_is_its_json_compact_and_sorted_on_one_line_then_a_blank_line_and_its_signature(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    # Text a signed note must not break: line breaks, a tab, non-ASCII letters, a right-to-left name.
    body = 'Line one.\n\nLine\ttwo: größer, 同工同酬, \u2028 and a quote ".'
    slug = await open_petition(client, token, body=body)
    codes = await make_codes(client, token, slug, 5)
    for code in codes:
        await sign(client, slug, code, name="محمد", role="Picker, night shift", show_name=True)
    await count_everything(app)
    note = (await note_of(app, client, token, slug)).decode()
    text, blank, signature = note.partition("\n\n")
    assert blank and text.count("\n") == 0 and signature.count("\n") == 1 and signature.endswith("\n")
    document = json.loads(text)
    assert text == json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    assert document["petition"]["body"] == body
    assert "größer" in text and "محمد" in text  # UTF-8 as it is, readable in the file
    assert not any(char < " " for char in text)
    settings = app.state.settings
    signer = checkpoints.signer(settings.signing_key, settings.base_url)
    assert signature.startswith(f"\u2014 {signer.name} ")
    assert verify.open_note(note, [signer.vkey]) == (text + "\n", [signer.vkey])
    # What the service signs is text_of the certificate: one trailing newline after the JSON.
    row = await petitions.find(app.state.db, slug)
    assert row is not None
    certificate = await build(db=app.state.db, row=row, settings=settings)
    assert certificate_note.text_of(certificate) == text + "\n"


async def test_the_note_verifies_and_any_single_byte_changed_does_not(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    slug = await open_petition(client, token, title="Short", summary="S.", body="", target="T")
    codes = await make_codes(client, token, slug, 5)
    for code in codes:
        await sign(client, slug, code)
    await count_everything(app)
    note = await note_of(app, client, token, slug)
    assert verify.read_certificate(note).count == 5
    started = time.monotonic()
    for position in range(len(note)):
        # The lowest bit (ASCII stays ASCII: the signature must catch it) and the highest (the
        # UTF-8 breaks: the reader must catch it), at every byte.
        for bit in (0x01, 0x80):
            changed = bytearray(note)
            changed[position] ^= bit
            with pytest.raises(verify.Inconsistent) as caught:
                verify.read_certificate(bytes(changed))
            assert caught.value.kind in ("bad-certificate", "bad-signature"), (position, bit)
    assert time.monotonic() - started < 30
