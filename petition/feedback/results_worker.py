"""A round's results computed in a worker process of their own, with one thread, so no request waits.

One process (`concurrent.futures.ProcessPoolExecutor(max_workers=1)`, "spawn" context) is started at
the first computation and kept: spawning one and loading numpy and scikit-learn takes a second or two.
Its BLAS and OpenMP pools are held to one thread, so a computation takes one core, never all of them
from the requests. The worker is handed plain integers (participants and statements numbered 0..n-1 by
the app process), never a participant key. A worker that dies (BrokenProcessPool) is replaced at the
next computation.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy and scikit-learn load in the worker, after its thread limits are set
    import numpy as np

    from .results import Results

# Read by OpenBLAS, MKL and OpenMP when they load: set in the worker before numpy is imported there.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def one_thread() -> None:
    """The worker's initializer: BLAS and OpenMP keep to one thread (the variables for the libraries
    yet to load, threadpoolctl for any already loaded), then numpy and scikit-learn are loaded."""
    for variable in THREAD_VARIABLES:
        os.environ[variable] = "1"
    from threadpoolctl import threadpool_limits

    from . import results  # noqa: F401 (loads numpy and scikit-learn now, under the variables)

    threadpool_limits(limits=1)


def compute_numbered(votes: np.ndarray, statement_count: int, min_cell_size: int) -> Results | None:
    """In the worker: results.compute on votes (an int array of rows (participant, statement, vote)) and
    statements 0..statement_count-1."""
    from .results import compute

    return compute(votes, range(statement_count), min_cell_size=min_cell_size)


class ResultsWorker:
    """The one worker process of this app process, started lazily and replaced when it dies."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    @property
    def started(self) -> bool:
        return self._pool is not None

    async def compute(self, votes: np.ndarray, statement_count: int, *, min_cell_size: int) -> Results | None:
        """results.compute in the worker: `votes` an int array of rows (participant number, statement
        number, vote 1 / -1 / 0), statements numbered 0..statement_count-1; the Results, or None below
        `min_cell_size` participants. Raises what the computation raised (ValueError for a bad vote),
        and BrokenProcessPool when the worker died (the next call starts another)."""
        pool = self._pool
        if pool is None:
            pool = self._pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=one_thread
            )
        try:
            return await asyncio.get_running_loop().run_in_executor(
                pool, compute_numbered, votes, statement_count, min_cell_size
            )
        except BrokenProcessPool:
            if self._pool is pool:
                self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            raise

    async def close(self) -> None:
        """Stop the worker, once the computation it is in (if any) ends."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
