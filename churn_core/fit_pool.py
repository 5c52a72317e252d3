"""Threads for the independent model fits of one training run (CV folds, backtest, final fit).

A training run fits the same pipeline about ten times on different rows: five CV folds, the
backtest's folds and refit, the RFM baseline, the final model. None needs another's result, so
they run side by side in threads, each with a single BLAS thread: numpy and BLAS release the
GIL, and on small matrices one BLAS thread per fit wastes far less time than two BLAS threads
per fit in turn (on a busy 2-core machine OpenBLAS' spinning threads cost 2-3x the CPU).

Pipelines with a sequence encoder are fitted in turn (``fit_pool`` yields None): torch runs its
own threads, and its per-batch progress must reach the caller's progress bar in order.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from churn_core.config import EncoderConfig

T = TypeVar("T")

MAX_FIT_THREADS = 4  # a run has about ten fits; more threads than that buy nothing


def fit_threads() -> int:
    """How many fits run at once: the cores this process may use, at most ``MAX_FIT_THREADS``."""
    try:
        cores = len(os.sched_getaffinity(0))  # honours taskset / container CPU sets
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_FIT_THREADS, cores))


@contextmanager
def fit_pool(encoder_cfg: EncoderConfig | None = None) -> Iterator[Executor | None]:
    """A thread pool for independent fits, BLAS limited to one thread per fit while it is
    open; None when fits should run in turn (one core, or a sequence encoder)."""
    n = fit_threads()
    if n < 2 or (encoder_cfg is not None and encoder_cfg.kind != "none"):
        yield None
        return
    from threadpoolctl import threadpool_limits

    pool = ThreadPoolExecutor(n, thread_name_prefix="churn-fit")
    try:
        with threadpool_limits(1):
            yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def submit(pool: Executor | None, fn: Callable[..., T], *args) -> Future[T]:
    """``fn(*args)`` in the pool, or right now (a finished future) without one."""
    if pool is not None:
        return pool.submit(fn, *args)
    done: Future[T] = Future()
    try:
        done.set_result(fn(*args))
    except Exception as exc:  # handed to whoever asks for the result, as the pool does
        done.set_exception(exc)
    return done
