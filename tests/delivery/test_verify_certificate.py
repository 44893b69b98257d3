"""`python -m petition.verify --certificate FILE [URL]`: a certificate's signature alone, then against
the live log: consistent after more batches; refused when it is another service's, another
petition's, claims a count its log does not hold, or was made against a log since rewritten."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from petition import checkpoints, petitions, tlog, verify
from petition.database import Database
from petition.delivery import certificate_note
from petition.delivery.certificate import Certificate, build
from petition.settings import Settings

from ..conftest import BASE_URL, free_port
from ..test_log_upgrade import forget_the_log
from ..test_petitions import bearer
from ..test_signing import count_everything, make_codes, open_petition, petition_id, sign

pytestmark = pytest.mark.usefixtures("organizer")

ROOT = Path(__file__).resolve().parents[2]


class AppClient:
    """The verifier's Client, answered by the app in this process: the check runs in a worker
    thread, and each of its GETs is made on the test's event loop (no socket, no server)."""

    def __init__(self, http: httpx.AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
        self.http, self.loop = http, loop

    def get(self, path: str) -> bytes:
        response = asyncio.run_coroutine_threadsafe(self.http.get(path), self.loop).result(timeout=60)
        if response.status_code != 200:
            raise verify.CannotVerify(f"{path} answered {response.status_code}")
        return response.content

    def get_json(self, path: str) -> object:
        return json.loads(self.get(path))

    def close(self) -> None:
        pass


async def check_live(client: httpx.AsyncClient, note: bytes, slug: str) -> verify.CertificateVerdict:
    """The verifier's check of `note` against the petition's live log, in process."""
    certificate = verify.read_certificate(note)
    petition = verify.Petition.from_url(f"{BASE_URL}/p/{slug}")
    bridge = AppClient(client, asyncio.get_running_loop())
    return await asyncio.to_thread(verify.check_certificate, bridge, petition, certificate, io.StringIO())


async def failure_of(client: httpx.AsyncClient, note: bytes, slug: str) -> str:
    with pytest.raises(verify.Inconsistent) as caught:
        await check_live(client, note, slug)
    return caught.value.kind


async def run_verifier(*arguments: str, script: Path | None = None) -> tuple[int, str, str]:
    """The verifier as a journalist runs it, in a process of its own: (exit status, stdout, stderr)."""
    command = [str(script)] if script else ["-m", "petition.verify"]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *command,
        *arguments,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert b"Traceback" not in err, err
    return int(process.returncode or 0), out.decode(), err.decode()


@contextlib.asynccontextmanager
async def served(app: Starlette) -> AsyncIterator[str]:
    """The running app on a port of 127.0.0.1, for a verifier in another process; its address."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the server did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def signed_petition(
    app: Starlette, client: httpx.AsyncClient, token: str, signatures: int = 5
) -> tuple[str, list[str]]:
    """An open petition with a batch of 12 printed codes, `signatures` of them counted: (slug, the unused codes)."""
    slug = await open_petition(client, token)
    codes = await make_codes(client, token, slug, 12)
    for code in codes[:signatures]:
        assert (await sign(client, slug, code)).status_code == 201
    await count_everything(app)
    return slug, codes[signatures:]


async def note_of(client: httpx.AsyncClient, token: str, slug: str) -> bytes:
    response = await client.get(f"/api/v1/petitions/{slug}/certificate.note", headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.content


async def test_without_the_address_only_the_signature_is_checked_and_a_bad_file_is_refused(
    app: Starlette, client: httpx.AsyncClient, token: str, tmp_path: Path
) -> None:
    slug, _ = await signed_petition(app, client, token)
    note = await note_of(client, token, slug)
    good = tmp_path / f"{slug}-certificate.note"
    good.write_bytes(note)
    # The file every instance hands out at /verify.py, run on its own: the same check.
    script = tmp_path / "verify.py"
    script.write_bytes((await client.get("/verify.py")).content)
    for runner in (None, script):
        status, out, err = await run_verifier("--certificate", str(good), script=runner)
        assert status == 0, err
        lines = out.splitlines()
        assert "Verified count: 5 (0 by work email, 5 by printed code), as of " in out
        fingerprint = json.loads(note.split(b"\n")[0])["log"]["fingerprint"]
        assert f"Key fingerprint: {fingerprint}" in lines
        # The last line says what was proved, and what was not: the key is only the file's own.
        assert lines[-1] == (
            f"signature valid for the key with fingerprint {fingerprint}, 5 signatures claimed; nothing ties "
            f"that key to {BASE_URL} until checked with the petition's address or against the fingerprint the "
            "service publishes"
        )
        assert any(line.startswith("Only the signature was checked") for line in lines)
        assert err == ""

    tampered = tmp_path / "tampered.note"
    tampered.write_bytes(note.replace(b'"verified_count":5', b'"verified_count":6'))
    not_utf8 = tmp_path / "not-utf8.note"
    not_utf8.write_bytes(note.replace(b'"verified_count":5', b'"verified_count":\xff'))
    checkpoint_only = tmp_path / "checkpoint.note"
    checkpoint_only.write_bytes((await client.get(f"/api/v1/petitions/{slug}/checkpoint")).content)
    for path, kind in (
        (tampered, "bad-signature"),
        (not_utf8, "bad-certificate"),
        (checkpoint_only, "bad-certificate"),
    ):
        status, out, err = await run_verifier("--certificate", str(path))
        assert status == 1 and f"error: {kind}" in err.splitlines(), (path.name, out, err)
        assert out.startswith("NOT consistent: ")
    empty = tmp_path / "empty.note"
    empty.write_bytes(b"")
    for path in (tmp_path / "missing.note", empty, tmp_path):
        status, _, err = await run_verifier("--certificate", str(path))
        assert status == 2 and err.startswith("cannot verify: "), (path, err)


async def test_a_certificate_stays_consistent_with_the_live_log_as_batches_follow(
    app: Starlette, client: httpx.AsyncClient, token: str, tmp_path: Path
) -> None:
    slug, unused = await signed_petition(app, client, token)
    note = await note_of(client, token, slug)
    size = verify.read_certificate(note).size
    verdict = await check_live(client, note, slug)
    assert verdict.live_size == size and verdict.tally.count == 5 and not verdict.retired
    # More signatures, a withdrawal, another code batch: the log grows, the certificate still holds.
    receipts = [(await sign(client, slug, code)).json()["receipt"] for code in unused[:5]]
    await count_everything(app)
    withdrawn = await client.post(f"/api/v1/petitions/{slug}/signatures/withdraw", json={"receipt": receipts[0]})
    assert withdrawn.status_code == 200
    await make_codes(client, token, slug, 3)
    for code in unused[5:]:
        await sign(client, slug, code)
    await count_everything(app)
    verdict = await check_live(client, note, slug)
    assert verdict.live_size > size + 5 and verdict.tally.count == 5
    # As a journalist runs it, against the service over HTTP.
    path = tmp_path / "certificate.note"
    path.write_bytes(note)
    async with served(app) as address:
        status, out, err = await run_verifier("--certificate", str(path), f"{address}/p/{slug}")
    assert status == 0, (out, err)
    lines = out.splitlines()
    assert lines[-1] == "consistent, 5 signatures"
    assert "The key is the service's current key." in lines
    assert f"The live log holds the certificate's checkpoint: its {size} entries are the first of the " in out


async def test_a_certificate_of_another_service_or_another_petition_is_refused_with_the_address(
    app: Starlette, client: httpx.AsyncClient, token: str, tmp_path: Path
) -> None:
    db: Database = app.state.db
    slug, _ = await signed_petition(app, client, token)
    other_slug, _ = await signed_petition(app, client, token)
    # Another service: its own SIGNING_KEY, with this one's log (as if copied); well signed all the same.
    settings = app.state.settings
    ours = checkpoints.signer(settings.signing_key, settings.base_url).vkey
    theirs = replace(settings, signing_key=b"o" * 32, signing_keys_retired=(ours,))
    row = await petitions.find(db, slug)
    assert row is not None
    foreign = certificate_note.sign(await build(db=db, row=row, settings=theirs), theirs).encode()
    assert verify.read_certificate(foreign).count == 5  # its signature alone holds
    assert await failure_of(client, foreign, slug) == "other-service"
    path = tmp_path / "foreign.note"
    path.write_bytes(foreign)
    async with served(app) as address:
        status, out, err = await run_verifier("--certificate", str(path), f"{address}/p/{slug}")
    assert status == 1 and "error: other-service" in err.splitlines(), (out, err)
    # This service's certificate of one petition, checked against another's address.
    assert await failure_of(client, await note_of(client, token, slug), other_slug) == "other-petition"


async def test_a_certificate_claiming_a_count_its_log_does_not_hold_is_caught(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    slug, _ = await signed_petition(app, client, token)
    row = await petitions.find(db, slug)
    assert row is not None
    certificate = await build(db=db, row=row, settings=app.state.settings)
    # Signed by the service's own key and agreeing with itself, so only the log can tell: one
    # signature too many, or moved from one method to the other, or codes the log never committed.
    for change in (
        {"verified_count": 6, "by_method": certificate.by_method.model_copy(update={"printed_code": 6})},
        {"by_method": certificate.by_method.model_copy(update={"work_email": 1, "printed_code": 4})},
        {"rules": certificate.rules.model_copy(update={"codes_issued": 13})},
    ):
        lying = certificate_note.sign(certificate.model_copy(update=change), app.state.settings).encode()
        assert await failure_of(client, lying, slug) == "count-mismatch", change


async def test_a_certificate_made_against_a_log_since_rewritten_is_caught(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    slug, unused = await signed_petition(app, client, token)
    note = await note_of(client, token, slug)
    size = verify.read_certificate(note).size
    pid = await petition_id(db, slug)
    # The log rebuilt from scratch, as another history: its count carried over as entry 0.
    await forget_the_log(db, pid)
    assert await tlog.start_missing(db, app.state.settings) == 1
    app.state.log_reader = tlog.LogReader(db)  # the tiles this process kept were the old log's
    app.state.public_cache.clear()
    assert (await client.get(f"/api/v1/petitions/{slug}")).json()["signature_count"] == 5
    assert await failure_of(client, note, slug) == "shrunk"
    # It grows past the certificate's size: the same size, or more, with other entries.
    await make_codes(client, token, slug, 2)
    for code in unused[:4]:
        await sign(client, slug, code)
    await count_everything(app)
    live = int(await db.fetch_val("SELECT log_size FROM petitions WHERE id = :p", {"p": pid}))
    assert live > size
    assert await failure_of(client, note, slug) == "fork"


def signed_as(certificate: Certificate, settings: Settings, **changes: object) -> bytes:
    """`certificate` with `changes` (top-level fields, or `petition` as a dict of its fields), signed
    as a note with `settings`' key under its BASE_URL's name."""
    petition = changes.pop("petition", None)
    if isinstance(petition, dict):
        changes["petition"] = certificate.petition.model_copy(update=petition)
    return certificate_note.sign(certificate.model_copy(update=changes), settings).encode()


def refusal_of(note: bytes) -> verify.Inconsistent:
    with pytest.raises(verify.Inconsistent) as caught:
        verify.read_certificate(note)
    return caught.value


async def test_a_certificate_whose_parts_name_another_service_is_refused_even_signed_by_the_services_key(
    app: Starlette, client: httpx.AsyncClient, token: str, tmp_path: Path
) -> None:
    db: Database = app.state.db
    settings = app.state.settings
    slug, _ = await signed_petition(app, client, token)
    row = await petitions.find(db, slug)
    assert row is not None
    certificate = await build(db=db, row=row, settings=settings)
    assert verify.read_certificate(signed_as(certificate, settings)).service == BASE_URL
    elsewhere = "http://elsewhere.example"
    ours = checkpoints.signer(settings.signing_key, settings.base_url).vkey
    # The same SIGNING_KEY under another BASE_URL (the log's checkpoints, signed under the old name,
    # are signed again under the new one, as after a move).
    away = replace(settings, base_url=elsewhere, signing_keys_retired=(ours,))
    made_away = await build(db=db, row=row, settings=away)
    assert verify.read_certificate(certificate_note.sign(made_away, away).encode()).service == elsewhere
    # The service and the petition's address moved to another host, re-signed with the service's
    # own key: the key's name still says which service signed.
    moved = signed_as(certificate, settings, service=elsewhere, petition={"url": f"{elsewhere}/p/{slug}"})
    for note in (
        moved,
        signed_as(certificate, settings, petition={"url": f"{elsewhere}/p/{slug}"}),
        signed_as(certificate, settings, service=elsewhere),
        signed_as(certificate, settings, service=f"{BASE_URL}/"),
        signed_as(certificate, settings, petition={"url": f"{BASE_URL}/p/{slug}-not"}),
        # Made and signed by the same key named after another address, claiming this service.
        signed_as(made_away, away, service=BASE_URL, petition={"url": f"{BASE_URL}/p/{slug}"}),
    ):
        refused = refusal_of(note)
        assert refused.kind == "bad-certificate", note.split(b"\n")[0][:200]
    assert "name different services" in str(refusal_of(moved))
    # With the issuing service's address, as the forger hoped: refused before anything is fetched.
    path = tmp_path / "moved.note"
    path.write_bytes(moved)
    async with served(app) as address:
        status, out, err = await run_verifier("--certificate", str(path), f"{address}/p/{slug}")
    assert status == 1 and "error: bad-certificate" in err.splitlines(), (out, err)
    # A service under a path prefix names its key with the prefix, and its pages under it.
    prefixed = replace(settings, base_url=f"{BASE_URL}/petitions", signing_keys_retired=(ours,))
    made = await build(db=db, row=row, settings=prefixed)
    assert made.petition.url == f"{BASE_URL}/petitions/p/{slug}"
    assert verify.read_certificate(certificate_note.sign(made, prefixed).encode()).count == 5


async def test_without_the_address_a_certificate_whose_counts_disagree_is_refused(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    db: Database = app.state.db
    settings = app.state.settings
    slug, _ = await signed_petition(app, client, token)
    row = await petitions.find(db, slug)
    assert row is not None
    certificate = await build(db=db, row=row, settings=settings)
    for changes in (
        {"verified_count": 1_000_000},
        {"by_method": certificate.by_method.model_copy(update={"work_email": 3})},
        # More printed-code signatures than codes: 12 were issued.
        {"verified_count": 13, "by_method": certificate.by_method.model_copy(update={"printed_code": 13})},
        {"petition": {"purged_at": certificate.as_of}},  # purged while open
    ):
        refused = refusal_of(signed_as(certificate, settings, **changes))
        assert refused.kind == "bad-certificate", changes
        assert "disagree" in str(refused) or "only a closed petition" in str(refused), changes
    # A certificate from before purged_at was part of it: not a whole one.
    data = json.loads(signed_as(certificate, settings).split(b"\n")[0])
    del data["petition"]["purged_at"]
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True) + "\n"
    unsigned = checkpoints.signer(settings.signing_key, settings.base_url).sign(text).encode()
    assert refusal_of(unsigned).kind == "bad-certificate"


async def test_with_the_address_a_purged_petitions_certificate_shows_the_purge_and_must_agree_with_the_log(
    app: Starlette, client: httpx.AsyncClient, token: str, tmp_path: Path
) -> None:
    db: Database = app.state.db
    settings = app.state.settings
    slug, _ = await signed_petition(app, client, token)
    assert (await client.post(f"/api/v1/petitions/{slug}/close", headers=bearer(token))).status_code == 200
    closed = await note_of(client, token, slug)
    assert (await client.post(f"/api/v1/petitions/{slug}/purge", headers=bearer(token))).status_code == 200
    purged = await note_of(client, token, slug)
    size = verify.read_certificate(purged).size
    path = tmp_path / "purged.note"
    path.write_bytes(purged)
    async with served(app) as address:
        status, out, err = await run_verifier("--certificate", str(path), f"{address}/p/{slug}")
    assert status == 0, (out, err)
    assert f"Purge: identifying data destroyed (entry {size - 1}, the log's last)." in out.splitlines()
    assert out.splitlines()[-1] == "consistent, 5 signatures"
    # The certificate made before the purge: its log holds no purge record, and it says none.
    assert "Purge:" not in certificate_report_of(await check_live(client, closed, slug), closed)
    # Either claim against a log that says otherwise: signed with the service's own key all the same.
    row = await petitions.find(db, slug)
    assert row is not None
    after = await build(db=db, row=row, settings=settings)
    assert after.petition.purged_at is not None
    assert await failure_of(client, signed_as(after, settings, petition={"purged_at": None}), slug) == (
        "count-mismatch"
    )
    before = verify.read_certificate(closed).data
    claims_purge = json.loads(json.dumps(before))
    claims_purge["petition"]["purged_at"] = after.petition.purged_at
    text = json.dumps(claims_purge, ensure_ascii=False, separators=(",", ":"), sort_keys=True) + "\n"
    lying = checkpoints.signer(settings.signing_key, settings.base_url).sign(text).encode()
    assert await failure_of(client, lying, slug) == "count-mismatch"


def certificate_report_of(verdict: verify.CertificateVerdict, note: bytes) -> str:
    return "\n".join(verify.certificate_report(verify.read_certificate(note), verdict))


async def test_a_file_an_editor_changed_or_with_a_line_after_its_signature_is_refused_saying_why(
    app: Starlette, client: httpx.AsyncClient, token: str, tmp_path: Path
) -> None:
    slug, _ = await signed_petition(app, client, token)
    note = await note_of(client, token, slug)
    for name, changed, says in (
        ("crlf", note.replace(b"\n", b"\r\n"), "Windows line endings"),
        ("bom", b"\xef\xbb\xbf" + note, "byte-order mark"),
        ("both", b"\xef\xbb\xbf" + note.replace(b"\n", b"\r\n"), "Windows line endings (CR LF) and a byte-order"),
        ("stray", note + b"saved by my editor\n", "not a well-formed signed note"),
        ("stray-unended", note + "\u2014 x".encode(), "not a well-formed signed note"),
        ("pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "check the signed file beside it"),
    ):
        path = tmp_path / f"{name}.note"
        path.write_bytes(changed)
        status, out, err = await run_verifier("--certificate", str(path))
        assert status == 1 and "error: bad-certificate" in err.splitlines(), (name, out, err)
        assert says in out, (name, out)
        if name not in ("stray", "stray-unended", "pdf"):
            assert "download it again" in out
    # A signature that does not verify is still bad-signature.
    assert refusal_of(note.replace(b'"verified_count":5', b'"verified_count":6')).kind == "bad-signature"
