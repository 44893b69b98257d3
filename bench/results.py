"""How long a feedback round's results take on a large round, on one core.

    .venv/bin/python bench/results.py [--participants 5000] [--statements 200] [--rounds 3] [--worker]

Plants four opinion groups, lets every participant vote on a random 60 % of the statements as their
group leans (a tenth of the votes random), then times `petition.feedback.results.compute` on them and
prints the best wall time of `--rounds` and the peak memory (Python's tracemalloc, which numpy reports
to, and the process' maximum resident size). The target is under 2 s.

With --worker, the computation goes as the service sends it: through the worker process
(petition.feedback.results_worker, "spawn", one thread), the votes as an int array; it prints the
worker's start with its first computation, the best of `--rounds` after it, and the worker's peak
resident size (getrusage of the children, once it has stopped).
"""

from __future__ import annotations

import os

# One core, as the service's worker would give it: set before numpy loads its BLAS and OpenMP pools.
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = "1"

import argparse  # noqa: E402
import asyncio  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from petition.feedback.results import compute  # noqa: E402


def planted_votes(participants: int, statements: int, *, seed: int = 1) -> list[tuple[int, int, int]]:
    """(participant, statement, vote) from four planted groups, each participant on 60 % of the statements."""
    rng = np.random.default_rng(seed)
    leanings = rng.choice([-1, 0, 1], size=(4, statements), p=[0.4, 0.2, 0.4])
    groups = rng.choice(4, size=participants)
    per_participant = int(statements * 0.6)
    votes = []
    for participant in range(participants):
        chosen = rng.choice(statements, size=per_participant, replace=False)
        leaning = leanings[groups[participant], chosen]
        noisy = rng.random(per_participant) < 0.1
        cast = np.where(noisy, rng.choice([-1, 0, 1], size=per_participant), leaning)
        votes.extend(zip([participant] * per_participant, chosen.tolist(), cast.tolist(), strict=True))
    return votes


async def through_worker(votes: np.ndarray, statements: int, rounds: int) -> None:
    """Time the computation through the service's worker process, and report the worker's peak memory."""
    from petition.feedback.results_worker import ResultsWorker

    worker = ResultsWorker()
    try:
        started = time.perf_counter()
        results = await worker.compute(votes, statements, min_cell_size=5)
        first = time.perf_counter() - started
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            results = await worker.compute(votes, statements, min_cell_size=5)
            times.append(time.perf_counter() - started)
    finally:
        await worker.close()
    assert results is not None
    print(f"groups: {[group.size for group in results.groups]}")
    print(f"worker start and first computation: {first:.2f} s")
    print(f"through the worker, best of {rounds}: {min(times):.2f} s (all: {', '.join(f'{t:.2f}' for t in times)})")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"the worker's maximum resident size: {peak:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=5000)
    parser.add_argument("--statements", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help="compute through the service's worker process")
    arguments = parser.parse_args()
    votes = planted_votes(arguments.participants, arguments.statements)
    statements = list(range(arguments.statements))
    print(f"{arguments.participants} participants x {arguments.statements} statements, {len(votes)} votes")
    if arguments.worker:
        asyncio.run(through_worker(np.array(votes, dtype=np.int64), arguments.statements, arguments.rounds))
        return
    times = []
    for _ in range(arguments.rounds):
        started = time.perf_counter()
        results = compute(votes, statements, min_cell_size=5)
        times.append(time.perf_counter() - started)
    tracemalloc.start()
    compute(votes, statements, min_cell_size=5)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert results is not None
    print(f"groups: {[group.size for group in results.groups]}")
    print(f"best of {arguments.rounds}: {min(times):.2f} s (all: {', '.join(f'{t:.2f}' for t in times)})")
    print(f"peak traced memory in compute: {peak / 2**20:.0f} MiB")
    print(f"maximum resident size of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
