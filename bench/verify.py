"""How long the journalists' verifier takes on a long log.

    .venv/bin/python bench/verify.py [--entries 1000000] [--rounds 1]

Builds a log of `--entries` entries (a carried-over count, a code batch every 10,000 entries,
printed-code and work-email signatures, a withdrawal every 50), serves it from the tests' stand-in
(the standard library's HTTP server on 127.0.0.1, one thread a connection, pages of 1000), and
times `python -m petition.verify` on it, as a process of its own, from start to exit: the first
run (no state file) and a second run that also recomputes the saved checkpoint's root. The
stand-in's own cost (JSON for each page) is in the figure, as the service's would be.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.log_stand_in import StandInLog, carried_over, code_batch, signature, withdrawal  # noqa: E402

CODES_PER_BATCH = 10_000


def entries(count: int) -> list[bytes]:
    """A log that follows every rule: codes committed before they are used, withdrawals of live signatures."""
    made = [carried_over(1000)]
    while len(made) < count:
        index = len(made)
        if index % CODES_PER_BATCH == 1:
            made.append(code_batch(CODES_PER_BATCH))
        elif index % 50 == 0:
            made.append(withdrawal(index - 1 if made[index - 1][0] == 0x01 else 0))
        else:
            made.append(signature(0x02 if index % 3 else 0x01))
    return made


# `python -m petition.verify`, telling its peak memory on the way out. VmHWM (Linux) is the
# process's own: ru_maxrss would count the pages it shared with this one before exec.
MEASURED = """
import atexit, runpy, sys
def peak():
    status = open("/proc/self/status").read()
    print("peak-kib", status.split("VmHWM:")[1].split()[0], file=sys.stderr)
atexit.register(peak)
sys.argv = ["verify", *sys.argv[1:]]
runpy.run_module("petition.verify", run_name="__main__")
"""


def run(url: str, state: Path) -> tuple[float, str, int]:
    """(seconds, the verdict's last line, peak memory in MiB) of one run."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", MEASURED, url, "--state", str(state)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"the verifier failed ({result.returncode}): {result.stderr[-500:]}")
    peak = int(result.stderr.split("peak-kib ")[1].split()[0]) // 1024
    return seconds, result.stdout.splitlines()[-1], peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    start = time.perf_counter()
    log_entries = entries(args.entries)
    stand_in = StandInLog(log_entries).publish()
    print(f"built and signed a log of {len(log_entries)} entries in {time.perf_counter() - start:.1f} s")
    with stand_in, tempfile.TemporaryDirectory() as folder:
        state = Path(folder) / "state.json"
        for round_ in range(1, args.rounds + 1):
            state.unlink(missing_ok=True)
            first, verdict, peak = run(stand_in.url, state)
            second, _, second_peak = run(stand_in.url, state)
            print(
                f"round {round_}: first run {first:.1f} s, second run (saved prefix) {second:.1f} s, "
                f"peak memory {max(peak, second_peak)} MiB: {verdict}"
            )
        print(f"connections: {stand_in.connections} for {2 * args.rounds} runs; machine: {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
