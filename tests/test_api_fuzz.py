"""The API fuzzed against its own OpenAPI document on a running server: no 5xx, answers as documented.

schemathesis generates requests for every operation (valid and invalid, with and without a
token) against the real server on the test's database, and checks each answer: never a
server error, a documented status, content type and schema, and never traceback text.
FUZZ_MAX_EXAMPLES (default 20) sets how many cases each operation gets.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from .test_crash import Server

pytestmark = pytest.mark.slow  # a server process and the fuzzer

HOOKS = Path(__file__).resolve().parent / "schemathesis_hooks.py"
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


async def test_the_api_answers_every_generated_request_as_documented(db_url: str, tmp_path: Path) -> None:
    server = Server(db_url, tmp_path)
    server.environ.update({"RATE_LIMIT_LOGIN_PER_CLIENT": "1000000", "RATE_LIMIT_CODE_EMAILS_PER_CLIENT": "1000000"})
    server.run("migrate")
    server.run("create-organizer", "fuzz@example.org", stdin="a passphrase for the fuzzer\n")
    token = server.run("create-token", "fuzz@example.org").strip().splitlines()[-1]
    server.start()
    try:
        headers = {"authorization": f"Bearer {token}"}
        petition = {"title": "Fuzzed", "summary": "Fuzzed.", "target": "The board", "goal": 10}
        petition.update({"verification": ["email", "code"], "allowed_domains": ["example.com"]})
        async with httpx.AsyncClient(base_url=server.url, headers=headers) as client:
            draft = (await client.post("/api/v1/petitions", json=petition)).json()
            assert (await client.post(f"/api/v1/petitions/{draft['id']}/publish")).status_code == 200
        command = [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{server.url}/api/openapi.json",
            "--checks",
            f"{CHECKS},no_traceback_text",
            "--max-examples",
            os.environ.get("FUZZ_MAX_EXAMPLES", "20"),
            "--header",
            f"Authorization: Bearer {token}",
            "--workers",
            "2",
            "--seed",
            "1",
            "--suppress-health-check",
            "all",
        ]
        environ = {
            **os.environ,
            "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks",
            "PYTHONPATH": str(HOOKS.parent.parent),
        }
        done = subprocess.run(command, env=environ, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    finally:
        server.kill()
