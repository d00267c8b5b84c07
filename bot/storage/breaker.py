"""The storage breaker: one wrapper around every Store method that touches the database.

When the database is down or hangs, every caller would otherwise wait for it: listener
threads pile up behind connect and busy timeouts and replies stall. After one
*connection-level* failure (the driver cannot reach the server, the connection dropped, a
pool or busy timeout, or no answer within the deadline) the breaker opens: for `cooldown`
seconds guarded calls raise `StorageUnavailable` at once, without touching the database, and
the outage is logged once. Then a single call probes the database; success closes the
breaker, failure opens it for another `cooldown`.

Bad data is not an outage: an integrity, data or programming error raised for one record
(a NUL character PostgreSQL refuses, an id that overflows its column) becomes
`BadRecordError`, is logged once per kind of problem, and leaves the breaker closed, so
recording and cross-worker de-duplication go on for every other event.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from sqlalchemy import exc as sa_exc

from bot.storage.errors import BadRecordError, StorageError, StorageUnavailable

__all__ = [
    "DEFAULT_COOLDOWN_SECONDS",
    "DEFAULT_DEADLINE_SECONDS",
    "StorageBreaker",
    "describe_error",
    "guarded",
    "is_connection_error",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
P = ParamSpec("P")

# How long the database is left alone after a connection failure: shorter notices recovery
# sooner, longer spares a struggling server (and the log) more probes.
DEFAULT_COOLDOWN_SECONDS = 30.0
# A claim or an insert takes milliseconds; SQLite under heavy write load, tens to hundreds.
# Longer tolerates a slow database; shorter frees a listener thread sooner when it hangs.
DEFAULT_DEADLINE_SECONDS = 5.0
# Threads making the guarded calls (per process). A hung call keeps its thread; with the
# breaker open no new calls arrive, and a probe stuck behind hung calls just times out again.
# More threads allow more concurrent database calls; each costs a little memory.
CALL_THREADS = 8
# Distinct bad-record problems remembered so each is logged once; past this, new kinds are
# logged at debug level only (a flood of odd rows cannot flood the log).
MAX_LOGGED_PROBLEMS = 256

# Errors that mean "the database could not be reached or did not answer in time".
# OperationalError covers refused connections, dropped connections, SQLite's "database is
# locked" after its busy timeout and PostgreSQL's statement/lock timeouts; sqlalchemy's
# TimeoutError is the connection pool's; DisconnectionError a connection found dead.
_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
    TimeoutError,
    ConnectionError,
)


def is_connection_error(exc: BaseException) -> bool:
    """True for failures of the connection (an outage), False for errors about the data."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, _CONNECTION_ERRORS)


def describe_error(exc: BaseException) -> str:
    """One line about a (database) error, without the SQL or its parameters."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return f"{type(orig).__name__}: {lines[0][:200]}" if lines else type(orig).__name__


class StorageBreaker:
    """Classifies database errors and keeps callers away from a database that is down."""

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
        self._logged: set[str] = set()
        # Set while a thread runs a guarded call: nested guarded calls run directly (a
        # Store method calling another must not wait for a second pool thread).
        self._inside = threading.local()

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._open_until is not None

    def call(
        self,
        what: str,
        func: Callable[..., T],
        *args: Any,
        deadline: float | bool | None = True,
        **kwargs: Any,
    ) -> T:
        """`func(*args, **kwargs)` under the breaker.

        Raises `StorageUnavailable` when the breaker is open or the call fails at the
        connection level (or misses the deadline; `deadline=False` waits as long as the
        driver does, for long report reads), `BadRecordError` for an error about the data.
        `StorageError`s raised by `func` itself (e.g. `UnknownAnswerError`) pass through.
        """
        if getattr(self._inside, "active", False):
            return func(*args, **kwargs)
        probe = self._admit(what)
        limit = self.deadline if deadline is True else (deadline or None)
        try:
            result = self._run(func, args, kwargs, limit)
        except StorageError:
            self._succeeded(probe)  # the database answered (and said no)
            raise
        except FutureTimeout:
            self._failed(what, f"no answer within {limit:g} s", probe)
            raise StorageUnavailable(
                f"{what}: the database did not answer within {limit:g} s"
            ) from None
        except Exception as exc:
            if is_connection_error(exc):
                self._failed(what, describe_error(exc), probe)
                raise StorageUnavailable(f"{what}: {describe_error(exc)}") from exc
            if isinstance(exc, (sa_exc.SQLAlchemyError, ValueError, OverflowError)):
                # The database (or the driver, adapting a value) refused this record.
                self._succeeded(probe)
                message = f"{what}: {describe_error(exc)}"
                self._log_bad_record(what, exc, message)
                raise BadRecordError(message) from exc
            self._succeeded(probe)
            raise
        self._succeeded(probe)
        return result

    def _admit(self, what: str) -> bool:
        """True for a probe after the cooldown; False for a normal call; raises when open."""
        with self._lock:
            if self._open_until is None:
                return False
            if self._probing or self._clock() < self._open_until:
                raise StorageUnavailable(f"{what}: the database is unavailable (breaker open)")
            self._probing = True
            return True

    def _run(self, func: Callable[..., T], args: tuple, kwargs: dict, limit: float | None) -> T:
        if limit is None:
            return self._inline(func, args, kwargs)
        future = self._pool.submit(self._inline, (func, args, kwargs), {})
        try:
            return future.result(timeout=limit)
        except FutureTimeout:
            future.cancel()  # if it never started; a started call finishes in its thread
            raise

    def _inline(self, func: Callable[..., T], args: tuple, kwargs: dict) -> T:
        self._inside.active = True
        try:
            return func(*args, **kwargs)
        finally:
            self._inside.active = False

    def _succeeded(self, probe: bool) -> None:
        if not probe:
            return
        with self._lock:
            self._probing = False
            self._open_until = None
        log.info("storage: the database answers again; recording and de-duplication resume")

    def _failed(self, what: str, reason: str, probe: bool) -> None:
        with self._lock:
            already_open = self._open_until is not None and not probe
            self._open_until = self._clock() + self.cooldown
            if probe:
                self._probing = False
        if not already_open:
            log.error(
                "storage: database unavailable (%s: %s); for %g s answers are not recorded "
                "and de-duplication uses memory",
                what,
                reason,
                self.cooldown,
            )

    def _log_bad_record(self, what: str, exc: BaseException, message: str) -> None:
        orig = getattr(exc, "orig", None) or exc
        kind = f"{what}:{type(orig).__name__}"
        with self._lock:
            first = kind not in self._logged and len(self._logged) < MAX_LOGGED_PROBLEMS
            if first:
                self._logged.add(kind)
        # Once per kind of problem: one odd row per event must not flood the log. The
        # message holds the driver's first line only (no SQL, no parameters).
        log.log(
            logging.WARNING if first else logging.DEBUG,
            "storage: a record was rejected, the database stays in use (%s)",
            message,
        )


class _HasBreaker(Protocol):
    breaker: StorageBreaker


S = TypeVar("S", bound=_HasBreaker)


def guarded(
    what: str, *, deadline: bool = True
) -> Callable[[Callable[Concatenate[S, P], T]], Callable[Concatenate[S, P], T]]:
    """Decorate a Store method so that it runs under `self.breaker` (see `StorageBreaker.call`).

    `deadline=False` for reads that may legitimately take long (reports): they still
    respect the breaker and its error classification, but wait as long as the driver does.
    """

    def decorate(method: Callable[Concatenate[S, P], T]) -> Callable[Concatenate[S, P], T]:
        @functools.wraps(method)
        def wrapper(self: S, *args: P.args, **kwargs: P.kwargs) -> T:
            return self.breaker.call(what, method, self, *args, deadline=bool(deadline), **kwargs)

        return wrapper

    return decorate


class _DaemonPool:
    """A few daemon threads running calls: a call that never returns cannot block exit."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._jobs: queue.SimpleQueue[tuple[Future, Callable, tuple, dict]] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()

    def submit(self, func: Callable[..., T], args: tuple, kwargs: dict) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            # Started lazily and only when none is idle, so threads are created in the
            # process that uses them (after gunicorn forks its workers).
            if self._idle == 0 and len(self._threads) < self.size:
                thread = threading.Thread(target=self._work, name="awssec-db", daemon=True)
                self._threads.append(thread)
                thread.start()
            else:
                self._idle -= 1 if self._idle else 0
        self._jobs.put((future, func, args, kwargs))
        return future

    def _work(self) -> None:
        while True:
            future, func, args, kwargs = self._jobs.get()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(func(*args, **kwargs))
                except BaseException as exc:  # handed to the caller
                    future.set_exception(exc)
            with self._lock:
                self._idle += 1
