"""Compiled work on several cores: plain Python threads, started once and kept by the process.

The compiled functions release the GIL (numba's ``nogil=True``), so threads run them at the same time.
Plain threads rather than numba's ``parallel=True``: the code is the same, but each parallel function,
with the copies of its callees that numba compiles into it, took seconds to compile on first use.
Waking a waiting thread costs a few tens of microseconds more than numba's OpenMP threads (which spin),
against passes of 0.2-8 ms; on a busy machine it is much faster than OpenMP's spinning threads. Kept,
not started per call: a pool started and joined for one call costs about 0.7 ms, a kept one 0.13 ms.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial

_POOL = {}  # "pid", "size", "executor": the worker threads


def _pool(size) -> ThreadPoolExecutor:
    """The worker threads, at least ``size`` of them."""
    pool = _POOL.get("executor")
    if pool is None or _POOL["pid"] != os.getpid() or _POOL["size"] < size:
        # New, or too small, or inherited by a forked child (whose copy has no threads).
        if pool is not None and _POOL["pid"] == os.getpid():
            pool.shutdown(wait=False)
        pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="kqbench-lanes")
        _POOL.update(pid=os.getpid(), size=size, executor=pool)
    return pool


def _wait(futures) -> None:
    for future in futures:
        future.exception()  # waits; a worker's error is raised by the caller's result()


def run_tasks(tasks) -> list:
    """[task() for task in tasks], each on a thread of its own (the first on the calling thread)."""
    if len(tasks) == 1:
        return [tasks[0]()]
    others = [_pool(len(tasks) - 1).submit(task) for task in tasks[1:]]
    try:
        first = tasks[0]()
    finally:  # the workers write into the caller's arrays: never return before they end
        _wait(others)
    return [first] + [future.result() for future in others]


def run_lanes(n_lanes, lane, *args) -> None:
    """``lane(t, *args)`` for t in range(n_lanes), each on a thread of its own (lane 0 on the calling
    thread); returns when all are done."""
    run_tasks([partial(lane, t, *args) for t in range(n_lanes)])


def in_background(fn, *args) -> Future:
    """``fn(*args)`` on a worker thread while the caller goes on; its result is :func:`finished`'s."""
    return _pool(1).submit(fn, *args)


def finished(result):
    """``result``, or if it is :func:`in_background`'s future, its result once it has one."""
    return result.result() if isinstance(result, Future) else result
