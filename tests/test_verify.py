"""The journalists' verifier (`python -m petition.verify`): run as a journalist runs it, against a
stand-in log that tells the truth or lies in each way the verifier must catch."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from petition import merkle, verify

from .log_stand_in import (
    StandInLog,
    carried_over,
    code_batch,
    purge,
    sign_note,
    signature,
    withdrawal,
)

ROOT = Path(__file__).resolve().parent.parent
EMAIL, CODE = 0x01, 0x02
# A log with every kind of entry: 12 carried over (one withdrawn), 3 codes, 3 signatures, 1 withdrawn.
GOOD = [
    carried_over(12),
    code_batch(3),
    signature(EMAIL),
    signature(CODE),
    withdrawal(2),
    withdrawal(0),
    signature(EMAIL),
    signature(CODE),
]
GOOD_COUNT = 12 + 4 - 2


def run(url: str, state: Path, *, script: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The verifier as a journalist runs it, in a process of its own (HOME is the test's folder, so
    the default state file is never the developer's)."""
    command = [sys.executable, str(script)] if script else [sys.executable, "-m", "petition.verify"]
    env = {**os.environ, "HOME": str(state.parent), "PYTHONPATH": str(ROOT)}
    return subprocess.run([*command, url, "--state", str(state)], capture_output=True, text=True, env=env, timeout=60)


def failure(result: subprocess.CompletedProcess[str]) -> str:
    """The kind of a failed verification: exit 1 and a line `error: <kind>`, with no traceback."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    kinds = [line.removeprefix("error: ") for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(kinds) == 1 and kinds[0] in verify.FAILURES, result.stderr
    assert result.stdout.startswith("NOT consistent: ")
    return kinds[0]


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state.json"


@pytest.fixture
def log() -> Iterator[StandInLog]:
    with StandInLog(GOOD, signature_count=GOOD_COUNT).publish() as stand_in:
        yield stand_in


def saved(state: Path) -> dict[str, dict[str, object]]:
    return json.loads(state.read_text())


def test_a_good_log_is_consistent_and_its_checkpoint_saved(log: StandInLog, state: Path) -> None:
    result = run(log.url, state)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == f"consistent, {GOOD_COUNT} signatures"
    assert f"Log: {log.origin}" in lines
    assert f"Tree size: {len(GOOD)} entries" in result.stdout
    assert f"Signed by: {log.name} (key id {log.vkey.split('+')[1]}, the current key)" in lines
    assert "12 carried over from before the log" in lines
    assert "Signatures: 2 by work email, 2 by printed code" in lines
    assert "Withdrawals: 2" in lines
    assert "Codes committed: 3 in 1 batch (2 used)" in lines
    assert f"The petition page shows {GOOD_COUNT} signatures: it agrees (informational)." in lines
    root = merkle.root([merkle.leaf_hash(entry) for entry in GOOD])
    assert saved(state) == {log.origin: {"size": len(GOOD), "root": base64.b64encode(root).decode()}}
    assert result.stderr == ""


def test_every_page_of_entries_comes_over_one_connection(state: Path) -> None:
    entries = [signature() for _ in range(2500)]
    with StandInLog(entries).publish() as log:
        result = run(log.url, state)
        assert result.returncode == 0, result.stderr
        pages = [path for path in log.requests if "/log/entries" in path]
        assert pages == ["/api/v1/petitions/fair-pay-now/log/entries?start=0&end=1000",
                         "/api/v1/petitions/fair-pay-now/log/entries?start=1000&end=2000",
                         "/api/v1/petitions/fair-pay-now/log/entries?start=2000&end=2500"]  # fmt: skip
        assert log.connections == 1


def test_a_log_without_carried_over_signatures_says_nothing_of_them(state: Path) -> None:
    with StandInLog([signature(), signature(), withdrawal(1)], signature_count=5).publish() as log:
        result = run(log.url, state)
    assert result.returncode == 0, result.stderr
    assert "carried over" not in result.stdout
    assert "WARNING: the petition page shows 5 signatures, not the 1 its log holds" in result.stdout
    assert result.stdout.splitlines()[-1] == "consistent, 1 signatures"


def test_an_empty_log_is_consistent_with_no_signatures(state: Path) -> None:
    with StandInLog([]).publish() as log:
        result = run(log.url, state)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[-1] == "consistent, 0 signatures"
        log.publish([signature()])
        assert run(log.url, state).returncode == 0


def test_a_grown_log_is_consistent_with_the_checkpoint_saved_before(log: StandInLog, state: Path) -> None:
    assert run(log.url, state).returncode == 0
    log.publish([*GOOD, signature(), withdrawal(7)])
    result = run(log.url, state)
    assert result.returncode == 0, result.stderr
    assert f"The log only grew since the last check ({len(GOOD)} entries then, {len(GOOD) + 2} now)." in result.stdout
    assert result.stdout.splitlines()[-1] == f"consistent, {GOOD_COUNT} signatures"
    assert saved(state)[log.origin]["size"] == len(GOOD) + 2


def test_other_logs_in_the_state_file_are_kept(log: StandInLog, state: Path) -> None:
    other = {"size": 3, "root": base64.b64encode(bytes(32)).decode()}
    state.write_text(json.dumps({"elsewhere.example/p/other": other}))
    assert run(log.url, state).returncode == 0
    assert saved(state)["elsewhere.example/p/other"] == other
    assert set(saved(state)) == {"elsewhere.example/p/other", log.origin}


def test_the_default_state_file_is_in_the_home_folder(log: StandInLog, tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "petition.verify", log.url], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert log.origin in json.loads((tmp_path / ".petition-verify.json").read_text())


def test_a_retired_key_still_verifies_its_checkpoint(log: StandInLog, state: Path) -> None:
    log.rotate_key()
    result = run(log.url, state)
    assert result.returncode == 0, result.stderr
    assert "a retired key)" in result.stdout


def test_a_rewritten_entry_is_a_root_mismatch(log: StandInLog, state: Path) -> None:
    log.served = [*GOOD[:6], signature(EMAIL), *GOOD[7:]]
    assert failure(run(log.url, state)) == "root-mismatch"
    assert not state.exists(), "nothing is saved from a log that does not verify"


def test_a_log_serving_fewer_entries_than_it_signed_is_a_root_mismatch(log: StandInLog, state: Path) -> None:
    log.served = GOOD[:5]
    result = run(log.url, state)
    assert failure(result) == "root-mismatch"
    assert "counts 8 entries, but the log serves only 5" in result.stderr


def test_another_root_for_the_same_size_is_a_fork(log: StandInLog, state: Path) -> None:
    assert run(log.url, state).returncode == 0
    before = state.read_text()
    log.publish([*GOOD[:7], signature(EMAIL)])
    assert failure(run(log.url, state)) == "fork"
    assert state.read_text() == before, "the saved checkpoint stays the one that verified"


def test_a_different_history_is_a_fork(log: StandInLog, state: Path) -> None:
    assert run(log.url, state).returncode == 0
    before = state.read_text()
    log.publish([*GOOD[:3], signature(CODE), *GOOD[4:], signature(), signature()])
    result = run(log.url, state)
    assert failure(result) == "fork"
    assert f"The first {len(GOOD)} entries are not the ones checked last time" in result.stderr
    assert state.read_text() == before


def test_a_truncated_log_has_shrunk(log: StandInLog, state: Path) -> None:
    assert run(log.url, state).returncode == 0
    log.publish(GOOD[:5])
    assert failure(run(log.url, state)) == "shrunk"


def forged_signature(log: StandInLog) -> None:
    """The right key id, 64 bytes that are not its signature."""
    body, _, line = log.checkpoint.rpartition("\u2014 ")
    name, encoded = line.split()
    raw = base64.b64decode(encoded)
    log.checkpoint = f"{body}\u2014 {name} {base64.b64encode(raw[:4] + bytes(64)).decode()}\n"


def signed_by_another_key(log: StandInLog) -> None:
    """A key the log does not list, under the log's own name."""
    log.checkpoint = sign_note(log.body(), log.name, Ed25519PrivateKey.generate())


def signed_for_another_root(log: StandInLog) -> None:
    """The real signature of the real body, moved under a checkpoint with another root."""
    signature_line = log.checkpoint.rpartition("\n\n")[2]
    log.checkpoint = log.body(root=bytes(32)) + "\n" + signature_line


def signed_for_another_petition(log: StandInLog) -> None:
    log.checkpoint = sign_note(log.body(origin=f"{log.name}/p/another-petition"), log.name, log.key)


def verify_key_named(name: str) -> str:
    from .log_stand_in import vkey_of

    return vkey_of(name, Ed25519PrivateKey.generate())


def a_key_with_a_wrong_key_id(log: StandInLog) -> None:
    name, _, key = log.vkey.split("+", 2)
    log.retired = [f"{name}+00000000+{key}"]


def a_non_canonical_root(log: StandInLog) -> None:
    body = log.body()
    origin, size, root, _ = body.split("\n")
    log.checkpoint = sign_note(f"{origin}\n{size}\n{non_canonical(root)}\n", log.name, log.key)


def a_non_canonical_signature(log: StandInLog) -> None:
    body, _, line = log.checkpoint.rpartition("\u2014 ")
    name, encoded = line.split()
    log.checkpoint = f"{body}\u2014 {name} {non_canonical(encoded)}\n"


def non_canonical(encoded: str) -> str:
    """Base64 that decodes to the same bytes, with the unused bits of its last character set."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    data = encoded.rstrip("=")
    assert len(data) % 4, "only a length that is not a multiple of 3 bytes has unused bits"
    spelled = data[:-1] + alphabet[alphabet.index(data[-1]) + 1] + encoded[len(data) :]
    assert base64.b64decode(spelled) == base64.b64decode(encoded)
    return spelled


@pytest.mark.parametrize(
    "lie",
    [
        forged_signature,
        signed_by_another_key,
        signed_for_another_root,
        signed_for_another_petition,
        a_key_with_a_wrong_key_id,
        a_non_canonical_root,
        a_non_canonical_signature,
    ],
)
def test_a_checkpoint_that_does_not_verify_is_a_bad_signature(lie: object, log: StandInLog, state: Path) -> None:
    lie(log)  # type: ignore[operator]
    assert failure(run(log.url, state)) == "bad-signature"
    assert not state.exists()


@pytest.mark.parametrize(
    "entries",
    [
        [signature(CODE)],
        [code_batch(2), signature(CODE), signature(EMAIL), signature(CODE), signature(CODE)],
        # A withdrawn printed-code signature still used its code: a code works once.
        [code_batch(1), signature(CODE), withdrawal(1), signature(CODE)],
        [signature(CODE), code_batch(5)],
    ],
    ids=["no codes", "more than the batch", "withdrawn code reused", "batch after the signature"],
)
def test_more_code_signatures_than_codes_is_refused(entries: list[bytes], state: Path) -> None:
    with StandInLog(entries).publish() as log:
        assert failure(run(log.url, state)) == "codes-exceeded"


@pytest.mark.parametrize(
    "entries",
    [
        [signature(), withdrawal(5)],
        [signature(), withdrawal(1)],
        [code_batch(4), withdrawal(0)],
        [signature(), signature(), withdrawal(1), withdrawal(1)],
        [carried_over(2), withdrawal(0), withdrawal(0), withdrawal(0)],
        [carried_over(0), withdrawal(0)],
        [signature(), withdrawal(0), withdrawal(1)],
    ],
    ids=[
        "a later entry",
        "itself",
        "a code batch",
        "already withdrawn",
        "carried over more than N times",
        "nothing carried over",
        "a withdrawal",
    ],
)
def test_a_withdrawal_of_nothing_is_refused(entries: list[bytes], state: Path) -> None:
    with StandInLog(entries).publish() as log:
        assert failure(run(log.url, state)) == "withdrawal-of-nothing"


@pytest.mark.parametrize(
    "entry",
    [
        b"",
        b"\x06",
        b"\x00" + bytes(33),
        signature()[:-1],
        signature() + b"\x00",
        b"\x01\x03" + bytes(32),
        withdrawal(0)[:-1],
        code_batch(1) + b"\x00",
        carried_over(1)[:5],
        carried_over(1),
    ],
    ids=[
        "empty",
        "kind 0x06",
        "kind 0x00",
        "short signature",
        "long signature",
        "unknown method",
        "short withdrawal",
        "long code batch",
        "short carried over",
        "carried over after entry 0",
    ],
)
def test_an_unknown_kind_or_a_wrong_length_is_a_bad_entry(entry: bytes, state: Path) -> None:
    with StandInLog([signature(), entry]).publish() as log:
        result = run(log.url, state)
        assert failure(result) == "bad-entry"
        assert "entry 1 " in result.stderr


def test_a_purge_record_is_accepted_reported_and_leaves_the_count_as_it_was(log: StandInLog, state: Path) -> None:
    before = run(log.url, state)
    assert before.returncode == 0, before.stderr
    log.publish([*GOOD, purge()])
    result = run(log.url, state)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"Purge: identifying data destroyed (entry {len(GOOD)}, the log's last)." in lines
    assert [line for line in lines if not line.startswith(("Purge:", "Tree size:", "The log only grew"))] == [
        line for line in before.stdout.splitlines() if not line.startswith(("Tree size:", "First check"))
    ], "every other line, the count among them, is as before the purge"
    assert f"The log only grew since the last check ({len(GOOD)} entries then, {len(GOOD) + 1} now)." in lines
    assert lines[-1] == f"consistent, {GOOD_COUNT} signatures"


@pytest.mark.parametrize(
    ("purge_record", "page_says", "warning"),
    [
        (True, None, "WARNING: the petition page does not say its identifying data was destroyed; its log records"),
        (False, "2026-06-03T00:00:00Z", "WARNING: the petition page says its identifying data was destroyed"),
        (True, "2026-06-03T00:00:00Z", None),
        (False, None, None),
        (False, True, "WARNING: the petition page says its identifying data was destroyed (True)"),
    ],
)
def test_a_page_and_a_log_that_disagree_about_the_purge_are_warned_of(
    log: StandInLog, state: Path, purge_record: bool, page_says: object, warning: str | None
) -> None:
    log.publish([*GOOD, purge()] if purge_record else GOOD)
    log.purged_at = page_says
    result = run(log.url, state)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stdout.splitlines() if line.startswith("WARNING:")]
    if warning is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and warnings[0].startswith(warning), warnings


def test_a_log_without_a_purge_record_says_nothing_of_one(log: StandInLog, state: Path) -> None:
    result = run(log.url, state)
    assert result.returncode == 0 and "Purge" not in result.stdout and "destroyed" not in result.stdout


@pytest.mark.parametrize(
    "entry", [b"\x04\x00", b"\x04" + bytes(8), b"\x04" + bytes(32)], ids=["2 bytes", "9 bytes", "33 bytes"]
)
def test_a_purge_record_of_another_length_is_a_bad_entry(entry: bytes, state: Path) -> None:
    with StandInLog([signature(), entry]).publish() as log:
        result = run(log.url, state)
    assert failure(result) == "bad-entry"
    assert f"entry 1 is a purge record of {len(entry)} bytes, not 1." in result.stderr


def test_a_second_purge_record_is_a_bad_entry(state: Path) -> None:
    with StandInLog([signature(), purge(), purge()]).publish() as log:
        result = run(log.url, state)
    assert failure(result) == "bad-entry"
    assert "entry 2 is a second purge record (entry 1 was the first): identifying data is destroyed once." in (
        result.stderr
    )


@pytest.mark.parametrize(
    ("entry", "kind"),
    [
        (signature(EMAIL), "a signature"),
        (signature(CODE), "a signature"),
        (withdrawal(1), "a withdrawal"),
        (code_batch(5), "a code batch"),
        (carried_over(3), "a carried-over count"),
    ],
    ids=["work-email signature", "printed-code signature", "withdrawal", "code batch", "carried over"],
)
def test_any_entry_after_the_purge_record_is_a_bad_entry(entry: bytes, kind: str, state: Path) -> None:
    # The log is well formed and signed: only the purge rule refuses it.
    with StandInLog([code_batch(5), signature(CODE), signature(EMAIL), purge(), entry]).publish() as log:
        result = run(log.url, state)
    assert failure(result) == "bad-entry"
    assert f"entry 4 is {kind} after the purge record (entry 3): " in result.stderr
    assert not state.exists()


def test_non_canonical_base64_entry_data_is_a_bad_entry(log: StandInLog, state: Path) -> None:
    log.encoded[2] = non_canonical(base64.b64encode(GOOD[2]).decode())
    result = run(log.url, state)
    assert failure(result) == "bad-entry"
    assert "Entry 2 is not canonical base64" in result.stderr


@pytest.mark.parametrize("data", ["not base64!", "AQ", 7, None])
def test_entry_data_that_is_not_base64_is_a_bad_entry(data: object, log: StandInLog, state: Path) -> None:
    log.encoded[3] = data  # type: ignore[assignment]
    assert failure(run(log.url, state)) == "bad-entry"


def test_a_long_log_shows_a_progress_bar_on_standard_error(state: Path) -> None:
    with StandInLog([signature() for _ in range(10_001)]).publish() as log:
        result = run(log.url, state)
    assert result.returncode == 0, result.stderr
    assert "100% 10001/10001 entries\n" in result.stderr
    assert result.stdout.splitlines()[-1] == "consistent, 10001 signatures"


def test_a_short_log_shows_no_progress_bar(log: StandInLog, state: Path) -> None:
    assert run(log.url, state).stderr == ""


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "ftp://127.0.0.1/p/fair-pay-now",
        "http:///p/fair-pay-now",
        "http://127.0.0.1:99999/p/fair-pay-now",
        "http://127.0.0.1/fair-pay-now",
        "http://127.0.0.1/p/",
        "http://127.0.0.1/p/Fair Pay/sign",
    ],
)
def test_a_bad_url_is_a_usage_error(url: str, state: Path) -> None:
    result = run(url, state)
    assert result.returncode == 2
    assert result.stderr.startswith("cannot verify: ") and "Traceback" not in result.stderr
    assert "petition page" in result.stderr


def test_a_page_claiming_other_codes_than_the_log_commits_is_warned_of(log: StandInLog, state: Path) -> None:
    log.codes_issued = 1000
    result = run(log.url, state)
    assert result.returncode == 0, result.stderr
    assert "WARNING: the petition page says 1000 printed codes were issued; its log commits" in result.stdout


def test_a_key_named_after_another_address_of_the_service_verifies(log: StandInLog, state: Path) -> None:
    # A key is named after the address the service had when it signed (localhost, or before a move).
    log.retired = [verify_key_named("petitions.example.org")]
    result = run(log.url, state)
    assert result.returncode == 0, result.stderr


def test_an_address_with_a_password_is_refused_without_repeating_it(state: Path) -> None:
    result = run("http://someone:hunter2secret@127.0.0.1:1/p/fair-pay-now", state)
    assert result.returncode == 2 and "hunter2secret" not in result.stdout + result.stderr


def test_what_a_service_says_cannot_reach_the_terminal_as_control_characters() -> None:
    assert verify.printable("\x1b[2K\r\x1b[32mconsistent") == "\\x1b[2K\\r\\x1b[32mconsistent"
    message = json.dumps({"error": {"code": "x", "message": "\x1b[32mok"}}).encode()
    assert "\x1b" not in verify._error_message(message)


def test_json_nested_past_any_sense_is_not_json_and_no_crash(tmp_path: Path) -> None:
    assert verify._error_message(b"[" * 100_000) == ""
    nested = tmp_path / "state.json"
    nested.write_text("[" * 100_000)
    with pytest.raises(verify.CannotVerify):
        verify.load_state(nested)


def test_a_refused_connection_is_a_network_error(state: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run(f"http://127.0.0.1:{port}/p/fair-pay-now", state)
    assert result.returncode == 2
    assert result.stderr == f"cannot verify: cannot reach http://127.0.0.1:{port}: Connection refused\n"


def test_an_http_error_is_a_network_error_with_the_services_message(log: StandInLog, state: Path) -> None:
    result = run(log.url.replace("fair-pay-now", "no-such-petition"), state)
    assert result.returncode == 2
    assert "answered 404: There is no such page." in result.stderr and "Traceback" not in result.stderr


def test_a_moved_address_is_a_network_error_that_says_where_to(log: StandInLog, state: Path) -> None:
    log.moved_to = "https://petitions.example.org/p/fair-pay-now"
    result = run(log.url, state)
    assert result.returncode == 2
    assert "answered 301, moved to https://petitions.example.org/p/fair-pay-now: give that address" in result.stderr


@pytest.mark.parametrize("body", [b"<html>maintenance</html>", b'{"entries": "none"}', b"[1, 2"])
def test_an_answer_that_is_not_the_logs_json_is_a_network_error(body: bytes, log: StandInLog, state: Path) -> None:
    log.answers["/api/v1/petitions/fair-pay-now/log/entries"] = (200, body)
    result = run(log.url, state)
    assert result.returncode == 2
    assert result.stderr.startswith("cannot verify: ") and "Traceback" not in result.stderr


def test_an_unreadable_state_file_is_a_usage_error(log: StandInLog, state: Path) -> None:
    state.write_text("{not json")
    result = run(log.url, state)
    assert result.returncode == 2 and "cannot read the state file" in result.stderr
    state.write_text(json.dumps({log.origin: {"size": "8", "root": "x"}}))
    result = run(log.url, state)
    assert result.returncode == 2 and "malformed checkpoint" in result.stderr


def test_the_downloaded_file_runs_on_its_own(log: StandInLog, state: Path, tmp_path: Path) -> None:
    script = tmp_path / "download" / "verify.py"
    script.parent.mkdir()
    shutil.copy(ROOT / "petition" / "verify.py", script)
    env = {**os.environ, "HOME": str(tmp_path)}
    env.pop("PYTHONPATH", None)
    command = [sys.executable, "-I", str(script), log.url, "--state", str(state)]
    # -I: no PYTHONPATH, no current folder, no user site: only this file and installed packages.
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=script.parent, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"consistent, {GOOD_COUNT} signatures"


async def test_the_service_hands_out_the_verifier_to_save(client: httpx.AsyncClient) -> None:
    response = await client.get("/verify.py")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/x-python; charset=utf-8"
    assert response.headers["content-disposition"] == "attachment; filename=verify.py"
    assert response.content == (ROOT / "petition" / "verify.py").read_bytes()


def test_importing_the_verifier_loads_no_server_module() -> None:
    probe = (
        "import sys, petition.verify\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('starlette', 'uvicorn', 'pydantic', 'databases', 'jinja2', 'httpx', 'anyio', 'petition'))\n"
        "print(' '.join(loaded))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.split() == ["petition", "petition.verify"]


# -- What the service reuses: notes, keys, checkpoints, base64, the streaming root ----------------

# golang.org/x/mod/sumdb/note's own test note and keys (note_test.go): what Go verifies, we verify.
PETER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)


def test_notes_verify_as_gos_note_package_verifies_them() -> None:
    note = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert verify.verify_note(note, [PETER]) == TEXT, "a signature by an unknown key is ignored"
    assert verify.open_note(note, [PETER, ENOCH]) == (TEXT, [PETER, ENOCH])
    assert verify.verify_note(TEXT + "\n" + ENOCH_SIG, [PETER, ENOCH]) == TEXT
    bad_enoch = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    repeated = TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + bad_enoch
    assert verify.open_note(repeated, [PETER]) == (TEXT, [PETER])


@pytest.mark.parametrize(
    ("note", "match"),
    [
        (TEXT + "\n" + PETER_SIG + ENOCH_SIG, "no signature on the note is by a known key"),
        (TEXT + "\n" + PETER_SIG * 101, "more than 100"),
        (TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:], "does not verify"),
        (TEXT, "no signature block"),
        (TEXT + "\n", "does not end"),
        (TEXT + "\n" + PETER_SIG[:-1], "does not end"),
        ("\x01" + TEXT + "\n" + PETER_SIG, "control character"),
        (TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Peter Neumann"), "not base64"),
        (TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Peter+Neumann"), "not a signature line"),
        (TEXT + "\n" + PETER_SIG.replace("x08go/", "x08go+"), "does not verify"),
        (TEXT + "\n" + PETER_SIG.replace("AM=", "AN="), "not canonical base64"),
        (TEXT + "\n" + PETER_SIG + "Unexpected line.\n", "not a signature line"),
        (TEXT + "\n" + PETER_SIG.replace("\u2014", "-"), "not a signature line"),
        (TEXT.replace("problem,", "problem;") + "\n" + PETER_SIG, "does not verify"),
    ],
)
def test_a_note_that_go_refuses_is_refused(note: str, match: str) -> None:
    known = [] if "known key" in match else [PETER]
    with pytest.raises(verify.NoteError, match=match):
        verify.verify_note(note, known)


def test_verifier_keys_are_read_as_gos_and_every_mangling_refused() -> None:
    name, key_id, public_key = verify.parse_vkey(PETER)
    assert (name, key_id.hex(), len(public_key)) == ("PeterNeumann", "c74f20a3", 32)
    assert verify.key_id(name, public_key) == key_id
    manglings = [PETER[i:j] for i in range(len(PETER) + 1) for j in range(i + 1, len(PETER) + 1)]
    manglings += [PETER[:i] + chr(ord(PETER[i]) + 1) + PETER[i + 1 :] for i in range(len(PETER))]
    manglings += [
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",  # a key of the wrong length
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # an unknown algorithm
    ]
    for mangled in manglings:
        if mangled == PETER:
            continue
        with pytest.raises(verify.NoteError):
            verify.parse_vkey(mangled)


def test_checkpoints_are_read_as_c2sp_writes_them() -> None:
    root = base64.b64encode(bytes(range(32))).decode()
    assert verify.parse_checkpoint(f"example.org/p/a\n42\n{root}\n") == ("example.org/p/a", 42, bytes(range(32)))
    assert verify.parse_checkpoint(f"o\n0\n{root}\nan extension line\n")[1] == 0


@pytest.mark.parametrize(
    "body",
    [
        "o\n42\n{root}",
        "o\n42\n",
        "o\n042\n{root}\n",
        "o\n-1\n{root}\n",
        "o\n\uff14\uff12\n{root}\n",
        f"o\n{2**64}\n{{root}}\n",
        "\n42\n{root}\n",
        "o\n42\n{root}\n\nextension\n",
        "o\n42\n" + base64.b64encode(bytes(31)).decode() + "\n",
        "o\n42\n{non_canonical}\n",
    ],
)
def test_a_body_that_is_not_a_checkpoint_is_refused(body: str) -> None:
    root = base64.b64encode(bytes(range(32))).decode()
    with pytest.raises(verify.NoteError):
        verify.parse_checkpoint(body.format(root=root, non_canonical=non_canonical(root)))


@pytest.mark.parametrize("text", ["AQ=", "AQ", "AR==", "AQ==\n", " AQ==", "AQ=\u00e9", "A===", "-_8="])
def test_base64_is_refused_unless_canonical(text: str) -> None:
    with pytest.raises(ValueError):
        verify.b64decode_canonical(text)


def test_canonical_base64_decodes() -> None:
    for size in range(40):
        data = bytes(range(size))
        assert verify.b64decode_canonical(base64.b64encode(data).decode()) == data
        assert verify.b64decode_canonical(base64.b64encode(data)) == data


def test_the_streaming_root_matches_the_tree_head_at_every_size() -> None:
    leaves = [merkle.leaf_hash(n.to_bytes(2, "big")) for n in range(130)]
    tree = verify.CompactRange()
    assert tree.root() == merkle.EMPTY_ROOT
    for size, leaf in enumerate(leaves, 1):
        tree.append(leaf)
        assert (tree.size, tree.root()) == (size, merkle.root(leaves[:size]))
    assert len(tree._heads) == bin(130).count("1"), "one head a bit of the size: O(log n) memory"
    with pytest.raises(ValueError):
        tree.append(b"short")


def test_a_service_trickling_its_answer_cannot_hold_the_verifier_for_ever() -> None:
    # A byte every 0.2 s: each read is well within the socket's timeout, the whole answer is not.
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            while not stop.wait(0.2):
                try:
                    connection.sendall(b"x")
                except OSError:
                    return

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    client = verify.Client(verify.Petition.from_url(f"http://127.0.0.1:{port}/p/fair-pay-now"), timeout=0.5)
    started = time.monotonic()
    try:
        with pytest.raises(verify.CannotVerify, match="longer than"):
            client.get("/api/v1/log/key")
    finally:
        stop.set()
        client.close()
        listener.close()
    assert time.monotonic() - started < 3
