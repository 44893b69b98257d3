"""The delivery certificate as a C2SP signed note: the certificate's JSON, one line, then its signature.

    {"as_of":"…","by_method":{…},…,"verified_count":1234}\\n
    \\n
    — petitions.example.org <base64(key id || Ed25519 signature)>\\n

The JSON is compact (no spaces), its keys sorted, with one trailing newline, and signed as it is
with SIGNING_KEY, the key that signs the log's checkpoints (the certificate carries one of them and
the key's verifier key), so the one file is the whole proof. It is signed over these exact bytes:
a verifier checks the signature on the bytes it was given, never on JSON it serialised again. The
note is not itself JSON, so it is served as `text/plain` and named `.note`.

Non-ASCII text stays as it is (UTF-8, readable in the file); JSON escapes every control character,
so the JSON is one line and the note holds no control character but its newlines (C2SP
signed-note, as golang.org/x/mod/sumdb/note reads it).
"""

from __future__ import annotations

import asyncio
import json

from .. import checkpoints
from ..database import Database, Row
from ..settings import Settings
from .certificate import Certificate, build

MEDIA_TYPE = "text/plain; charset=utf-8"


def text_of(certificate: Certificate) -> str:
    """The certificate's JSON as it is signed: compact, keys sorted, one trailing newline."""
    data = certificate.model_dump(mode="json")
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    try:
        text.encode()
    except UnicodeEncodeError:
        # A lone surrogate stored before the text rule refused them cannot be UTF-8: escaped instead.
        text = json.dumps(data, ensure_ascii=True, separators=(",", ":"), sort_keys=True)
    return text + "\n"


def sign(certificate: Certificate, settings: Settings) -> str:
    """The certificate as a signed note by SIGNING_KEY under BASE_URL's name (C2SP signed-note)."""
    return checkpoints.signer(settings.signing_key, settings.base_url).sign(text_of(certificate))


async def note_of(*, db: Database, row: Row, settings: Settings) -> str:
    """The signed note of a published petition's certificate, as of now (see certificate.build for
    what it raises); serialised and signed in a worker thread, off the event loop."""
    certificate = await build(db=db, row=row, settings=settings)
    return await asyncio.to_thread(sign, certificate, settings)


def file_name(row: Row) -> str:
    """The name the note is saved under: `<slug>-certificate.note`."""
    return f"{row['slug']}-certificate.note"
