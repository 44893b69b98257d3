"""A stand-in for the service's transparency-log endpoints, for the verifier's tests and benchmark.

It serves one petition's log as the service does (key, checkpoint, entries, the petition's count)
from the standard library's HTTP server on 127.0.0.1, in a thread. Its tree heads come from
merkle.py's recursive `root`, and it signs C2SP signed-note checkpoints itself with an Ed25519 key
from `cryptography`, so the verifier's own code checks against an independent computation. A test
makes the log lie by changing what it serves after `publish()` signed it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from petition import merkle

PAGE = 1000
SLUG = "fair-pay-now"


def signature(method: int = 0x01, commitment: bytes | None = None) -> bytes:
    """A signature entry: 0x01, the method (0x01 work email, 0x02 printed code), a commitment."""
    return bytes([0x01, method]) + (commitment or secrets.token_bytes(32))


def withdrawal(index: int) -> bytes:
    return b"\x02" + index.to_bytes(8, "big")


def code_batch(codes: int) -> bytes:
    return b"\x03" + codes.to_bytes(4, "big")


def purge() -> bytes:
    """The purge record: 0x04 alone."""
    return b"\x04"


def carried_over(count: int) -> bytes:
    return b"\x05" + count.to_bytes(8, "big")


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def vkey_of(name: str, key: Ed25519PrivateKey) -> str:
    """The C2SP verifier key `<name>+<hex key id>+<base64(0x01 || public key)>`."""
    public = b"\x01" + public_bytes(key)
    key_id = hashlib.sha256(name.encode() + b"\n" + public).digest()[:4]
    return f"{name}+{key_id.hex()}+{base64.b64encode(public).decode()}"


def sign_note(text: str, name: str, key: Ed25519PrivateKey) -> str:
    """`text` as a C2SP signed note with one signature line by `key` under `name`."""
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + public_bytes(key)).digest()[:4]
    line = base64.b64encode(key_id + key.sign(text.encode())).decode()
    return f"{text}\n\u2014 {name} {line}\n"


class StandInLog:
    """One petition's log over HTTP. `entries` is what `publish()` signs; `served` is what the
    entries endpoint hands out (the same list unless a test changes it)."""

    def __init__(self, entries: list[bytes], *, slug: str = SLUG, signature_count: object = None) -> None:
        self.slug = slug
        self.key = Ed25519PrivateKey.generate()
        self.retired: list[str] = []
        self.signature_count = signature_count
        self.codes_issued: object = None
        self.purged_at: object = False  # False: the page does not say (an older service)
        self.connections = 0
        self.requests: list[str] = []
        self.encoded: dict[int, str] = {}  # index -> the base64 to serve instead of the entry's own
        self.answers: dict[str, tuple[int, bytes]] = {}  # path -> (status, body) to answer instead
        self.moved_to = ""  # when set, every request is redirected there
        self.entries = list(entries)
        self.served = self.entries
        self.checkpoint = ""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        # serve_forever looks for shutdown() between polls: every 0.5 s by default, a wait per test.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def name(self) -> str:
        """The key name: BASE_URL without the scheme."""
        return f"127.0.0.1:{self.port}"

    @property
    def origin(self) -> str:
        return f"{self.name}/p/{self.slug}"

    @property
    def url(self) -> str:
        """The petition page's address, what a journalist gives the verifier."""
        return f"http://{self.origin}"

    @property
    def vkey(self) -> str:
        return vkey_of(self.name, self.key)

    def body(self, size: int | None = None, root: bytes | None = None, origin: str | None = None) -> str:
        """A checkpoint body of the entries (or of the size, root and origin given)."""
        if root is None:
            root = merkle.root([merkle.leaf_hash(entry) for entry in self.entries])
        size = len(self.entries) if size is None else size
        return f"{origin or self.origin}\n{size}\n{base64.b64encode(root).decode()}\n"

    def publish(self, entries: list[bytes] | None = None) -> StandInLog:
        """Sign a checkpoint of `entries` (or of the current ones) and serve them."""
        if entries is not None:
            self.entries = list(entries)
        self.served = self.entries
        self.checkpoint = sign_note(self.body(), self.name, self.key)
        return self

    def rotate_key(self) -> None:
        """A new current key; the old one is listed as retired (checkpoints it signed still count)."""
        self.retired.append(self.vkey)
        self.key = Ed25519PrivateKey.generate()

    def __enter__(self) -> StandInLog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
        api = f"/api/v1/petitions/{self.slug}"
        if path == "/api/v1/log/key":
            document: Any = {"name": self.name, "vkey": self.vkey, "retired": self.retired}
        elif path == f"{api}/checkpoint":
            return 200, "text/plain; charset=utf-8", self.checkpoint.encode()
        elif path == f"{api}/log/entries":
            start, end = int(query["start"][0]), int(query["end"][0])
            end = min(end, start + PAGE, len(self.served))
            document = {
                "entries": [
                    {
                        "index": i,
                        "data": self.encoded[i] if i in self.encoded else base64.b64encode(self.served[i]).decode(),
                    }
                    for i in range(start, end)
                ]
            }
        elif path == api:
            document = {"slug": self.slug, "signature_count": self.signature_count, "codes_issued": self.codes_issued}
            if self.purged_at is not False:
                document["purged_at"] = self.purged_at
        else:
            document = {"error": {"code": "not_found", "message": "There is no such page."}}
            return 404, "application/json", json.dumps(document).encode()
        return 200, "application/json", json.dumps(document).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        log = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the service's server does

            def setup(self) -> None:
                log.connections += 1
                # Headers and body go out as two writes: without this, Nagle's algorithm holds the
                # body until the client's delayed ACK, 40 ms a request (uvicorn sets it too).
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                super().setup()

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                log.requests.append(self.path)
                if log.moved_to:
                    self.send_response(301)
                    self.send_header("location", log.moved_to)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                if parts.path in log.answers:
                    status, body = log.answers[parts.path]
                    content_type = "application/json"
                else:
                    status, content_type, body = log._answer(parts.path, parse_qs(parts.query))
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet

        return Handler
