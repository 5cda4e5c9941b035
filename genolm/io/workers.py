"""Work spread over the machine's cores: how many there are (the ones this process may use), and an
ordered map over forked worker processes for jobs that hold the GIL (ORF calling, alignment
set-up, k-mer sets), with a progress callback as results arrive.

>>> fork_map(abs, [-2, 3, -1], workers=2)
[2, 3, 1]
"""

from __future__ import annotations

import multiprocessing as mp
import os
from typing import Callable, Iterable

_FN: Callable | None = None  # the function the forked workers run (inherited, so it need not pickle)


def cpu_count() -> int:
    """The cores this process may run on (its affinity mask where the system has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return os.cpu_count() or 1


def _call(item):
    return _FN(item)


def fork_map(fn: Callable, items: Iterable, workers: int = 0, progress: Callable[[int], object] | None = None,
             chunksize: int = 1) -> list:
    """``[fn(x) for x in items]`` over ``workers`` forked processes (0: one per core), in order.
    Serial where there is one item or worker, or no ``fork`` (Windows); ``fn`` may be a closure,
    while items and results must pickle."""
    global _FN
    items = list(items)
    n = min(workers or cpu_count(), len(items))
    if n <= 1 or "fork" not in mp.get_all_start_methods():
        out = []
        for x in items:
            out.append(fn(x))
            if progress:
                progress(1)
        return out
    _FN = fn
    try:
        with mp.get_context("fork").Pool(n) as pool:
            out = []
            for r in pool.imap(_call, items, chunksize):
                out.append(r)
                if progress:
                    progress(1)
            return out
    finally:
        _FN = None
