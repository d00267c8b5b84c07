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

Writes on the reply path (`StorageBreaker.write`) go through one writer thread per process
and database, which commits whatever has queued meanwhile in one transaction (group
commit): under load a worker makes a few transactions per second instead of four per event,
and on SQLite its threads no longer fight each other (and the other workers) for the file's
write lock, whose busy handler sleeps up to 100 ms per try. The caller still waits for its
own commit (a claim is durable before the ack, an answer id is known before the post)
unless it asks not to (`wait=False`, for deletes nobody reads back).
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from sqlalchemy import Connection, Engine
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
# Writes committed together in one transaction at most (group commit). More makes fewer
# transactions under load but a longer one (every waiting caller waits for all of it) and a
# bigger redo when one record in it is refused.
MAX_BATCH_WRITES = 128
# A write that misses its deadline opens the breaker only if the writer has been stuck in
# one transaction for this share of the deadline: then the database does not answer. A
# writer committing batch after batch is busy, not down (the late call fails alone).
# Lower trips sooner on a stall; higher tolerates a longer single transaction.
STALL_SHARE_OF_DEADLINE = 0.5
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


# PostgreSQL's deadlock and serialization failures: the server answered, and chose this
# transaction as the one to abort. Not an outage (psycopg raises them as OperationalError).
_CONFLICT_SQLSTATES = frozenset({"40P01", "40001"})


def is_connection_error(exc: BaseException) -> bool:
    """True for failures of the connection (an outage), False for errors about the data."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if getattr(getattr(exc, "orig", None), "sqlstate", None) in _CONFLICT_SQLSTATES:
        return False  # a write conflict: a batch is redone write by write (see below)
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
        self._batchers: dict[int, _WriteBatcher] = {}  # per engine (normally one)
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
        except FutureTimeout:
            self._failed(what, f"no answer within {limit:g} s", probe)
            raise StorageUnavailable(
                f"{what}: the database did not answer within {limit:g} s"
            ) from None
        except Exception as exc:
            error = self._classified(what, exc, probe)
            if error is exc:
                raise
            raise error from exc
        self._succeeded(probe)
        return result

    def write(
        self,
        what: str,
        engine: Engine,
        job: Callable[[Connection], T],
        *,
        deadline: float | bool | None = True,
        wait: bool = True,
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> T | None:
        """`job(conn)` inside the next group-committed write transaction on `engine`.

        Waits for the commit and returns the job's result, or raises as `call` does.
        `job` may be run twice (its batch rolled back because another record in it was
        refused, then alone): it must only execute statements on `conn`.
        `wait=False` returns None at once; a failure is then classified and logged (and
        opens the breaker if it is an outage) and handed to `on_failure` (in the writer
        thread). Raises StorageUnavailable at once while the breaker is open, either way.
        """
        if getattr(self._inside, "active", False):
            with engine.begin() as conn:  # already inside a guarded call: run it there
                return job(conn)
        probe = self._admit(what)
        batcher = self._batcher(engine)
        future = batcher.submit(job)
        if not wait:
            future.add_done_callback(functools.partial(self._settle, what, probe, on_failure))
            return None
        limit = self.deadline if deadline is True else (deadline or None)
        try:
            result = future.result(timeout=limit)
        except FutureTimeout:
            future.cancel()  # if its batch has not begun; otherwise it commits later
            assert limit is not None
            if probe or batcher.stalled_for() >= limit * STALL_SHARE_OF_DEADLINE:
                self._failed(what, f"no answer within {limit:g} s", probe)
            raise StorageUnavailable(
                f"{what}: the database did not answer within {limit:g} s"
            ) from None
        except Exception as exc:
            error = self._classified(what, exc, probe)
            if error is exc:
                raise
            raise error from exc
        self._succeeded(probe)
        return result

    def _settle(
        self,
        what: str,
        probe: bool,
        on_failure: Callable[[BaseException], None] | None,
        future: Future,
    ) -> None:
        # A write nobody waits for: classify (and log) its outcome like a waited-for one.
        exc = future.exception()
        if exc is None:
            self._succeeded(probe)
            return
        error = self._classified(what, exc, probe)
        if on_failure is not None:
            try:
                on_failure(error)
            except Exception:  # the writer thread must go on
                log.exception("storage: a write's failure handler failed")

    def _classified(self, what: str, exc: BaseException, probe: bool) -> BaseException:
        """The error a guarded call raises for `exc` (the breaker updated, logged once)."""
        if isinstance(exc, StorageError):
            self._succeeded(probe)  # the database answered (and said no)
            return exc
        if is_connection_error(exc):
            self._failed(what, describe_error(exc), probe)
            return StorageUnavailable(f"{what}: {describe_error(exc)}")
        self._succeeded(probe)
        if isinstance(exc, (sa_exc.SQLAlchemyError, ValueError, OverflowError)):
            # The database (or the driver, adapting a value) refused this record.
            message = f"{what}: {describe_error(exc)}"
            self._log_bad_record(what, exc, message)
            return BadRecordError(message)
        return exc

    def _batcher(self, engine: Engine) -> _WriteBatcher:
        batcher = self._batchers.get(id(engine))
        if batcher is None or batcher.engine is not engine:
            with self._lock:
                batcher = self._batchers.get(id(engine))
                if batcher is None or batcher.engine is not engine:
                    batcher = _WriteBatcher(engine, self)
                    self._batchers[id(engine)] = batcher
        return batcher

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


class _WriteBatcher:
    """One writer thread per process and engine: runs queued write jobs, many to one
    transaction (group commit), and hands each caller its own result or error."""

    def __init__(self, engine: Engine, breaker: StorageBreaker) -> None:
        self.engine = engine
        self._breaker = breaker
        self._jobs: deque[tuple[Callable[[Connection], Any], Future]] = deque()
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._batch_began: float | None = None  # monotonic; None while idle

    def submit(self, job: Callable[[Connection], T]) -> Future[T]:
        future: Future[T] = Future()
        with self._ready:
            # Started in the process that writes (after gunicorn forks), once.
            if self._thread is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._work, name="awssec-db-writer", daemon=True
                )
                self._thread.start()
            self._jobs.append((job, future))
            self._ready.notify()
        return future

    def stalled_for(self) -> float:
        """Seconds the current transaction has been running (0 while idle)."""
        began = self._batch_began
        return 0.0 if began is None else time.monotonic() - began

    def _work(self) -> None:
        while True:
            with self._ready:
                while not self._jobs:
                    self._ready.wait()
                batch: list[tuple[Callable[[Connection], Any], Future]] = []
                while self._jobs and len(batch) < MAX_BATCH_WRITES:
                    batch.append(self._jobs.popleft())
            # Callers that gave up before the batch began are dropped (never written).
            batch = [(job, f) for job, f in batch if f.set_running_or_notify_cancel()]
            if not batch:
                continue
            self._batch_began = time.monotonic()
            try:
                self._commit(batch)
            finally:
                self._batch_began = None

    def _commit(self, batch: list[tuple[Callable[[Connection], Any], Future]]) -> None:
        if len(batch) == 1:
            self._commit_alone(*batch[0])
            return
        results = []
        try:
            self._breaker._inside.active = True
            with self.engine.begin() as conn:
                for job, _ in batch:
                    results.append(job(conn))
        except BaseException as exc:
            if is_connection_error(exc) or not isinstance(exc, Exception):
                for _, future in batch:
                    future.set_exception(exc)
                return
            # One record was refused and the whole batch rolled back: each again on its
            # own, so only the bad one fails (rare: the edge cleans data before writing).
            for job, future in batch:
                self._commit_alone(job, future)
            return
        finally:
            self._breaker._inside.active = False
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)

    def _commit_alone(self, job: Callable[[Connection], Any], future: Future) -> None:
        try:
            self._breaker._inside.active = True
            with self.engine.begin() as conn:
                result = job(conn)
        except BaseException as exc:  # handed to the caller
            future.set_exception(exc)
        else:
            future.set_result(result)
        finally:
            self._breaker._inside.active = False
