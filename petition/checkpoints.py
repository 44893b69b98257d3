"""Signed checkpoints: a log's size and root as a C2SP tlog-checkpoint, signed as a C2SP signed-note.

    <origin>\\n<tree size>\\n<base64 root>\\n\\n— <key name> <base64(key id || Ed25519 signature)>\\n

The key is SIGNING_KEY (an Ed25519 seed); its name is BASE_URL without the scheme or a trailing
slash; the key id is the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key), and the
verifier key is `<name>+<hex key id>+<base64(0x01 || public key)>` (C2SP signed-note), so Go's
golang.org/x/mod/sumdb/note and other tools verify these notes unchanged. A checkpoint carries no
time: its batches already say enough about when.
"""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .verify import key_id, parse_checkpoint

ED25519 = b"\x01"  # the signature type byte of C2SP signed-note for Ed25519 (see verify.key_id)


def without_scheme(base_url: str) -> str:
    """`https://petitions.example.com/prefix/` -> `petitions.example.com/prefix` (host, port, path prefix)."""
    parts = urlsplit(base_url)
    return f"{parts.netloc}{parts.path}".rstrip("/")


def origin_of(base_url: str, slug: str) -> str:
    """The origin line of a petition's log: BASE_URL without its scheme, then /p/<slug>."""
    return f"{without_scheme(base_url)}/p/{slug}"


def body(origin: str, size: int, root: bytes) -> str:
    """A C2SP tlog-checkpoint body: origin, tree size (decimal), root (base64), each ending in a newline."""
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def vkey_of(name: str, public_key: bytes) -> str:
    """The C2SP verifier key of an Ed25519 public key under `name`."""
    encoded = base64.b64encode(ED25519 + public_key).decode()
    return f"{name}+{key_id(name, public_key).hex()}+{encoded}"


@dataclass(frozen=True)
class Signer:
    """SIGNING_KEY under its name: signs checkpoints, and says its verifier key."""

    name: str
    private_key: Ed25519PrivateKey
    public_key: bytes

    @property
    def vkey(self) -> str:
        """The C2SP verifier key: `<name>+<hex key id>+<base64(0x01 || public key)>`."""
        return vkey_of(self.name, self.public_key)

    def sign(self, text: str) -> str:
        """`text` (lines each ending in a newline) as a signed note: text, a blank line, one signature line."""
        signature = self.private_key.sign(text.encode())
        line = base64.b64encode(key_id(self.name, self.public_key) + signature).decode()
        return f"{text}\n\u2014 {self.name} {line}\n"

    def checkpoint(self, origin: str, size: int, root: bytes) -> str:
        """The signed checkpoint of a tree of `size` with `root`."""
        return self.sign(body(origin, size, root))


@functools.lru_cache(maxsize=8)
def signer(seed: bytes, base_url: str) -> Signer:
    """The signer of SIGNING_KEY `seed` (32 bytes) under the name BASE_URL gives."""
    private_key = Ed25519PrivateKey.from_private_bytes(seed)
    public_key = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return Signer(without_scheme(base_url), private_key, public_key)


def root_of(note: str) -> tuple[str, int, bytes]:
    """A checkpoint this service signed -> (origin, size, root), unchecked: for notes read back
    from the database (check-log and the journalists' verifier check their signatures)."""
    return parse_checkpoint(note[: note.index("\n\n") + 1])
