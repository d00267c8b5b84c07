"""A circuit breaker for the database calls made while answering (claims and recording).

When the database fails or hangs, every event would otherwise wait for it: the listener
threads pile up behind connect and busy timeouts and replies stall. After one failure (an
exception, or no answer within `deadline` seconds) the breaker opens: for `cooldown` seconds
callers skip the database at once (de-duplication falls back to memory, answers are not
recorded), and it is logged once. Then a single call probes the database; success closes the
breaker, failure opens it for another `cooldown`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_COOLDOWN_SECONDS = 30.0
# A claim or an insert takes milliseconds; SQLite under heavy write load, tens to hundreds.
DEFAULT_DEADLINE_SECONDS = 5.0
# Threads making the guarded calls. A hung call keeps its thread; with the breaker open no
# new calls arrive, and a probe stuck behind hung calls just times out again.
CALL_THREADS = 4


class DatabaseSkipped(Exception):
    """The guarded call was not made (breaker open), failed, or timed out."""


class DatabaseBreaker:
    def __init__(
        self,
        cooldown: float = DEFAULT_COOLDOWN_SECONDS,
        deadline: float | None = DEFAULT_DEADLINE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cooldown = cooldown
        self.deadline = deadline
        self._clock = clock
        self._lock = threading.Lock()
        self._open_until: float | None = None  # None: closed (the database is in use)
        self._probing = False
        self._pool = _DaemonPool(CALL_THREADS)

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._open_until is not None

    def call(self, what: str, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`func(*args, **kwargs)`, or DatabaseSkipped when the database is to be left alone.

        Exceptions that mean "the database answered, and said no" (LookupError, e.g. an
        unknown answer id) pass through without opening the breaker.
        """
        probe = self._admit()
        try:
            result = self._run(func, args, kwargs)
        except LookupError:
            self._succeeded(probe)
            raise
        except Exception as exc:
            self._failed(what, exc, probe)
            raise DatabaseSkipped(what) from exc
        self._succeeded(probe)
        return result

    def _admit(self) -> bool:
        """True for a probe after the cooldown; False for a normal call; raises when open."""
        with self._lock:
            if self._open_until is None:
                return False
            if self._probing or self._clock() < self._open_until:
                raise DatabaseSkipped("the database is being skipped after a failure")
            self._probing = True
            return True

    def _run(self, func: Callable[..., T], args: tuple, kwargs: dict) -> T:
        if self.deadline is None:
            return func(*args, **kwargs)
        future = self._pool.submit(func, args, kwargs)
        try:
            return future.result(timeout=self.deadline)
        except FutureTimeout:
            future.cancel()  # if it is still queued behind hung calls, never run it
            raise TimeoutError(f"no answer within {self.deadline:g} s") from None

    def _succeeded(self, probe: bool) -> None:
        if not probe:
            return
        with self._lock:
            self._probing = False
            self._open_until = None
        log.info("the database answers again; recording and de-duplication resume")

    def _failed(self, what: str, exc: BaseException, probe: bool) -> None:
        with self._lock:
            already_open = self._open_until is not None and not probe
            self._open_until = self._clock() + self.cooldown
            if probe:
                self._probing = False
        if not already_open:
            log.error(
                "database failed (%s: %s); for %g s answers are not recorded and "
                "de-duplication uses memory",
                what,
                describe_error(exc),
                self.cooldown,
            )


def describe_error(exc: BaseException) -> str:
    """One line about a (database) error, without the SQL or its parameters."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return f"{type(orig).__name__}: {lines[0][:200]}" if lines else type(orig).__name__


class _DaemonPool:
    """A few daemon threads running calls: a call that never returns cannot block exit."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._jobs: queue.SimpleQueue[tuple[Future, Callable, tuple, dict]] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, func: Callable[..., T], args: tuple, kwargs: dict) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            # Started lazily, so threads are created in the process that uses them (after
            # gunicorn forks its workers).
            if len(self._threads) < self.size:
                thread = threading.Thread(target=self._work, name="awssec-db", daemon=True)
                thread.start()
                self._threads.append(thread)
        self._jobs.put((future, func, args, kwargs))
        return future

    def _work(self) -> None:
        while True:
            future, func, args, kwargs = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(func(*args, **kwargs))
            except BaseException as exc:  # handed to the caller
                future.set_exception(exc)
