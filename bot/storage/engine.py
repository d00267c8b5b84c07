"""Database URL handling and engine creation (SQLite file by default, PostgreSQL via psycopg 3)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

from bot.config import db_pool_sizes, default_sqlite_path
from bot.storage.errors import StorageError

__all__ = ["create_store_engine", "default_sqlite_path", "normalize_url", "safe_url"]

SQLITE_BUSY_TIMEOUT_MS = 30_000
# How long a writer sleeps between tries for SQLite's write lock while another process holds
# it. SQLite's own busy handler backs off to 100 ms sleeps (1, 2, 5, 10, ... ms), which
# under steady load from two workers made every transaction wait about 10 ms for a lock held
# for well under one. Shorter takes the lock sooner when it is freed; each try costs a few
# microseconds of CPU.
SQLITE_LOCK_RETRY_SECONDS = 0.0005


def safe_url(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def normalize_url(raw: str | URL) -> URL:
    """Parse a database URL; Heroku's ``postgres://`` and bare ``postgresql://`` use psycopg 3.

    Raises StorageError with a one-line message that never contains the password.
    """
    if isinstance(raw, URL):
        url = raw
    else:
        text = raw.strip()
        try:
            url = make_url(text)
        except (ArgumentError, ValueError):
            # The raw text may hold a password: describe it, do not echo it.
            scheme = text.split("://", 1)[0] if "://" in text else ""
            hint = f" (scheme {scheme!r})" if scheme and len(scheme) < 30 else ""
            raise StorageError(
                f"invalid database URL{hint}: expected sqlite:///path/to/file.db or "
                "postgresql://user:password@host:port/dbname"
            ) from None
    if url.host and "@" in url.host:
        # An unencoded "@" in the password splits it: part of it would show as the host.
        raise StorageError(
            "invalid database URL: percent-encode special characters in the password (@ is %40)"
        )
    backend, _, driver = url.drivername.partition("+")
    if backend in ("postgres", "postgresql"):
        # Heroku still hands out postgres://, which SQLAlchemy 1.4+ no longer accepts.
        if not driver or backend == "postgres":
            url = url.set(drivername="postgresql+psycopg")
        if not url.database:
            raise StorageError(f"database URL {safe_url(url)} names no database")
    elif backend == "sqlite":
        if url.database and url.database.startswith("~"):
            url = url.set(database=str(Path(url.database).expanduser()))
    else:
        raise StorageError(
            f"unsupported database {backend!r} in {safe_url(url)}: use sqlite:/// or postgresql://"
        )
    return url


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:")


def _sqlite_connect_options(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    # Let SQLAlchemy (the "begin" hook below) own transactions: pysqlite's own BEGIN is
    # deferred, and a deferred transaction that later writes fails with SQLITE_BUSY at once
    # (no busy wait) when another process committed meanwhile.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    # The busy timeout first, so the WAL switch waits for concurrent starters.
    cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA journal_mode = WAL")
    # NORMAL is durable in WAL mode except for the last transactions on power loss.
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    # Writers take the write lock up front, so they wait for it here instead of failing
    # later; reads (Store._read) stay deferred and never block writers in WAL mode.
    if conn.get_execution_options().get("awssec_readonly"):
        conn.exec_driver_sql("BEGIN")
        return
    raw = conn.connection.dbapi_connection
    if raw is not None and _try_write_lock(raw, SQLITE_BUSY_TIMEOUT_MS / 1000):
        return
    # Still locked after the whole busy timeout (or no raw connection): one last try the
    # ordinary way, so the failure is SQLAlchemy's OperationalError (the breaker's outage).
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _try_write_lock(raw: Any, timeout: float) -> bool:
    """BEGIN IMMEDIATE, retried every SQLITE_LOCK_RETRY_SECONDS for up to `timeout`: True
    once the transaction began, False when it never could."""
    give_up = time.monotonic() + timeout
    raw.execute("PRAGMA busy_timeout = 0")
    try:
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return True
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
            if time.monotonic() >= give_up:
                return False
            time.sleep(SQLITE_LOCK_RETRY_SECONDS)
    finally:
        raw.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")


def create_store_engine(url: URL) -> Engine:
    """An engine tuned for the backend: WAL + busy timeout for SQLite, a checked pool for PG."""
    if url.get_backend_name() == "sqlite":
        if url.database is None or _is_memory(url):
            engine = create_engine(
                url, poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
        else:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(
                url,
                # Cheap local connections; a small pool per process is plenty.
                pool_size=5,
                max_overflow=5,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            )
        event.listen(engine, "connect", _sqlite_connect_options)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # Each gunicorn worker has its own pool: keep it small (Heroku plans cap connections).
    pool_size, max_overflow = db_pool_sizes()
    return create_engine(
        url,
        # Heroku and managed PG drop idle connections; pre_ping + recycle hide that.
        pool_pre_ping=True,
        pool_recycle=1800,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=5,
        connect_args={
            "connect_timeout": 3,
            "application_name": "awssec",
            # A hung server must not hold a listener thread for long: bound statements and
            # locks, and notice a dead connection through TCP keepalives.
            "options": "-c statement_timeout=10000 -c lock_timeout=3000",
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
            "tcp_user_timeout": 10000,
        },
    )
