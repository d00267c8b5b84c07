"""Store: records answers, votes and comments, de-duplicates events, purges old records."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    Insert,
    bindparam,
    column,
    delete,
    select,
    table,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from bot import config, guard
from bot.storage import schema
from bot.storage.breaker import StorageBreaker, guarded
from bot.storage.engine import create_store_engine, default_sqlite_path, normalize_url, safe_url
from bot.storage.errors import StorageError, UnknownAnswerError
from bot.storage.learned import LearnedMixin
from bot.storage.report import stored_tidy
from bot.storage.schema import answers, comments, events, votes

__all__ = [
    "DEFAULT_RETENTION_DAYS",
    "MAX_TEXT_CHARS",
    "AnswerRow",
    "Store",
    "retention_days_from_env",
]

log = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = config.DEFAULT_RETENTION_DAYS
MAX_TEXT_CHARS = 4000
PURGE_INTERVAL_SECONDS = 3600
_MAX_ID_CHARS = 64
# slack_sdk's OAuth state table (bot/storage/installations.py), just what purge needs.
_OAUTH_STATES = table("slack_oauth_states", column("expire_at", DateTime()))
_MAX_KEY_CHARS = 255


def utcnow() -> datetime:
    """Naive UTC, the convention of every timestamp column."""
    return datetime.now(UTC).replace(tzinfo=None)


def retention_days_from_env() -> int:
    """``$AWSSEC_RETENTION_DAYS`` (read by bot.config), default 90; StorageError when bad."""
    try:
        return config.retention_days()
    except config.SettingsError as exc:
        raise StorageError(str(exc)) from None


def _clean_text(value: str) -> str:
    # Redact before capping: a cut could split a key and hide it from the guard.
    return storable(guard.redact(value))[:MAX_TEXT_CHARS]


def _clip(value: str | None) -> str | None:
    return None if value is None else storable(str(value))[:_MAX_ID_CHARS]


# The largest id a BIGINT column holds: a vote naming a bigger one names no answer (and must
# not reach the driver, which would fail on it).
_MAX_ROW_ID = 2**63 - 1


def storable(value: str) -> str:
    """`value` as every backend stores it: without NUL characters (PostgreSQL refuses them
    in text) and with lone surrogates (not encodable as UTF-8) replaced by U+FFFD."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
    return value


def row_id(value: object) -> int | None:
    """`value` as a row id (1 .. 2**63-1), or None when it cannot name a row."""
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return None
    return number if 0 < number <= _MAX_ROW_ID else None


@dataclass(frozen=True)
class AnswerRow:
    id: int
    created_at: datetime
    question: str
    topic_ids: list[str]
    suggestion_ids: list[str]
    confidence: float
    is_miss: bool
    surface: str


class Store(LearnedMixin):
    """All reads and writes of awssec's records. Thread-safe; one per process.

    After a fork (gunicorn preload), call :meth:`dispose` in the child so it opens its own
    connections.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        retention_days: int | None = None,
        auto_purge: bool = True,
    ) -> None:
        self.engine = engine
        self.retention_days = (
            retention_days if retention_days is not None else retention_days_from_env()
        )
        self.auto_purge = auto_purge
        self._next_purge = 0.0
        self._purge_lock = threading.Lock()
        self._purge_thread: threading.Thread | None = None
        # Every public method touching the database runs under this (bot/storage/breaker.py):
        # connection failures open it, bad data does not.
        self.breaker = StorageBreaker()
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        # The two writes made for every Slack event, built once: constructing a statement per
        # call cost more CPU than running it (measured ~60% of record_answer + claim_event).
        self._answer_insert = answers.insert()
        claim = self._insert(events).values(
            key=bindparam("key"), expires_at=bindparam("expires_at")
        )
        # On conflict, take over the row only if the old claim has expired. Under concurrency
        # PostgreSQL re-checks the WHERE against the committed row, so exactly one wins.
        # RETURNING rather than rowcount: drivers disagree on rowcount for upserts.
        self._claim_event = claim.on_conflict_do_update(
            index_elements=[events.c.key],
            set_={"expires_at": claim.excluded.expires_at},
            where=events.c.expires_at <= bindparam("now", type_=DateTime()),
        ).returning(events.c.key)

    @classmethod
    def from_url(
        cls,
        url: str | URL | None = None,
        *,
        retention_days: int | None = None,
        auto_purge: bool = True,
    ) -> Store:
        """Open (and create or upgrade) the database at ``url``, ``$DATABASE_URL`` or the default
        SQLite file; purge records past retention.

        Raises StorageError (one line, no password) for a bad URL or an unreachable database.
        """
        raw = url if url is not None else config.database_url()
        if raw is None:
            parsed = URL.create("sqlite", database=str(default_sqlite_path()))
        else:
            parsed = normalize_url(raw)
        try:
            engine = create_store_engine(parsed)
        except (ImportError, SQLAlchemyError, OSError) as exc:
            raise StorageError(f"cannot open {safe_url(parsed)}: {_first_line(exc)}") from None
        try:
            schema.migrate(engine)
        except SQLAlchemyError as exc:
            engine.dispose()
            raise StorageError(
                f"cannot use database {safe_url(parsed)}: {_first_line(exc)}"
            ) from None
        store = cls(engine, retention_days=retention_days, auto_purge=auto_purge)
        store._maybe_purge(background=False)  # start-up, not a request: purge before serving
        return store

    @property
    def url(self) -> str:
        """The database URL with the password hidden, for logs and `awssec check`."""
        return safe_url(self.engine.url)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def dispose(self) -> None:
        self.engine.dispose()

    # --- writes -------------------------------------------------------------------------------

    def record_answer(
        self,
        *,
        question: str,
        topic_ids: list[str],
        suggestion_ids: list[str],
        confidence: float,
        team_id: str | None,
        user_id: str | None,
        channel_id: str | None,
        surface: str,
        enterprise_id: str | None = None,
    ) -> int:
        """Record an answer (no topic ids = a miss) and return its id for the feedback buttons."""
        values: dict[str, Any] = {
            "created_at": utcnow(),
            "question": _clean_text(question),
            "topic_ids": [str(t) for t in topic_ids],
            "suggestion_ids": [str(s) for s in suggestion_ids],
            "confidence": float(confidence),
            "is_miss": not topic_ids,
            "team_id": _clip(team_id),
            "user_id": _clip(user_id),
            "channel_id": _clip(channel_id),
            "surface": str(surface)[:32],
            "enterprise_id": _clip(enterprise_id),
        }
        # Tidied from the guarded question, never the typed one: it can hold no secret the stored
        # question does not. Misses only, the rows a report groups.
        values["question_tidied"] = stored_tidy(values["question"]) if values["is_miss"] else None

        def insert(conn: Connection) -> int:
            key = conn.execute(self._answer_insert, values).inserted_primary_key
            if key is None:  # never for a one-row INSERT; SQLAlchemy's type allows it
                raise StorageError("the database returned no id for a recorded answer")
            return int(key[0])

        # Under the breaker, group-committed with the other writes of the reply path; the
        # id is known (committed) before the reply carrying it in its buttons is posted.
        answer_id = self.breaker.write("recording an answer", self.engine, insert)
        assert answer_id is not None
        self._maybe_purge()
        return answer_id

    @guarded("recording a vote")
    def record_vote(
        self,
        *,
        answer_id: int,
        team_id: str | None,
        user_id: str,
        channel_id: str | None,
        helpful: bool,
        enterprise_id: str | None = None,
    ) -> None:
        """Record a user's vote on an answer; a later click by the same user replaces it.

        Raises UnknownAnswerError when the answer does not exist (e.g. purged).
        """
        answer_id = _known_answer_id(answer_id)
        now = utcnow()
        stmt = self._insert(votes).values(
            answer_id=answer_id,
            team_id=_clip(team_id),
            user_id=_clip(user_id),
            channel_id=_clip(channel_id),
            helpful=bool(helpful),
            created_at=now,
            updated_at=now,
            enterprise_id=_clip(enterprise_id),
        )
        # The upsert is one atomic statement on both backends: two clicks racing each other
        # cannot produce two rows or a unique-violation error.
        stmt = stmt.on_conflict_do_update(
            index_elements=[votes.c.answer_id, votes.c.user_id],
            set_={
                "helpful": stmt.excluded.helpful,
                "updated_at": stmt.excluded.updated_at,
                "team_id": stmt.excluded.team_id,
                "channel_id": stmt.excluded.channel_id,
                "enterprise_id": stmt.excluded.enterprise_id,
            },
        )
        self._write_for_answer(stmt, answer_id)

    @guarded("recording a comment")
    def record_comment(
        self,
        *,
        answer_id: int,
        user_id: str,
        comment: str,
        team_id: str | None = None,
        enterprise_id: str | None = None,
    ) -> None:
        """Record the optional "Not helpful" comment (redacted and capped like questions)."""
        answer_id = _known_answer_id(answer_id)
        stmt = comments.insert().values(
            answer_id=answer_id,
            user_id=_clip(user_id),
            comment=_clean_text(comment),
            created_at=utcnow(),
            team_id=_clip(team_id),
            enterprise_id=_clip(enterprise_id),
        )
        self._write_for_answer(stmt, answer_id)

    def _write_for_answer(self, stmt: Insert, answer_id: int) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(stmt)
        except IntegrityError:
            # Only the foreign key can fail here: the answer is gone or never existed.
            raise UnknownAnswerError(f"no answer with id {answer_id}") from None
        self._maybe_purge()

    def claim_event(self, key: str, ttl_seconds: int = 600) -> bool:
        """True exactly once per ``key`` among all processes while the claim is live.

        Slack retries deliveries and several workers may receive the same event; the first
        caller to insert the key wins. An expired claim can be won again.
        """
        if len(key) > _MAX_KEY_CHARS or storable(key) != key:
            # Hashed rather than cut: two long keys sharing a prefix stay distinct.
            key = "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        now = utcnow()
        params = {"key": key, "expires_at": now + timedelta(seconds=ttl_seconds), "now": now}

        def claim(conn: Connection) -> bool:
            return conn.execute(self._claim_event, params).first() is not None

        # Under the breaker, group-committed (bot/storage/breaker.py).
        return bool(self.breaker.write("claiming an event", self.engine, claim))

    # --- retention ----------------------------------------------------------------------------

    def purge(self, retention_days: int) -> int:
        """Delete answers (with their votes and comments) older than ``retention_days`` days and
        expired event claims. Returns the number of answers, votes and comments deleted."""
        if retention_days < 1:
            raise ValueError("retention_days must be at least 1")
        now = utcnow()
        cutoff = now - timedelta(days=retention_days)
        old_ids = select(answers.c.id).where(answers.c.created_at < cutoff)
        deleted = 0
        with self.engine.begin() as conn:
            # Explicit child deletes: do not rely on ON DELETE CASCADE (SQLite needs a pragma).
            deleted += conn.execute(delete(votes).where(votes.c.answer_id.in_(old_ids))).rowcount
            deleted += conn.execute(
                delete(comments).where(comments.c.answer_id.in_(old_ids))
            ).rowcount
            deleted += conn.execute(delete(answers).where(answers.c.created_at < cutoff)).rowcount
            conn.execute(delete(events).where(events.c.expires_at < now))
            # Install links nobody finished (slack_sdk's OAuth state store only deletes the
            # states it consumes): bounds what anonymous GET /slack/install can add.
            conn.execute(delete(_OAUTH_STATES).where(_OAUTH_STATES.c.expire_at < now))
            # Teaching's records past retention (the groups and hand-offs hold questions as
            # asked; the DM claims only ids), and threads whose follow-up window has ended.
            # Learned questions, drafts and auto-answer channels are kept: they are settings.
            teaching = (
                (schema.teach_claims, schema.teach_claims.c.created_at),
                (schema.teach_groups, schema.teach_groups.c.updated_at),
                (schema.handoffs, schema.handoffs.c.created_at),
            )
            for old_table, created in teaching:
                conn.execute(delete(old_table).where(created < cutoff))
            conn.execute(delete(schema.threads).where(schema.threads.c.expires_at < now))
        return deleted

    def _maybe_purge(self, *, background: bool = True) -> None:
        """Purge at start-up and then at most once an hour; a clock check per write.

        Writes ask with ``background=True``: the purge (which may delete many rows) runs in a
        thread of its own, at most one at a time per process, never in the caller's thread.
        """
        if not self.auto_purge or time.monotonic() < self._next_purge:
            return
        if not self._purge_lock.acquire(blocking=False):
            return  # a purge is running (or being started)
        self._next_purge = time.monotonic() + PURGE_INTERVAL_SECONDS
        if not background:
            self._purge_locked()
            return
        try:
            thread = threading.Thread(target=self._purge_locked, name="awssec-purge", daemon=True)
            self._purge_thread = thread
            thread.start()
        except BaseException:
            self._purge_lock.release()
            raise

    def _purge_locked(self) -> None:
        """The purge itself; releases the purge lock taken by `_maybe_purge`."""
        try:
            deleted = self.purge(self.retention_days)
            if deleted:
                log.info(
                    "storage: purged %d records older than %d days", deleted, self.retention_days
                )
        except SQLAlchemyError as exc:
            # Another process purging at the same moment may deadlock us: it will be retried.
            log.warning("storage: purge failed: %s", _first_line(exc))
        finally:
            self._purge_lock.release()

    # --- reads (reports) ----------------------------------------------------------------------

    def _read(self) -> Connection:
        # A read-only connection: on SQLite it begins DEFERRED, so reports never hold the
        # write lock that writers queue on.
        return self.engine.connect().execution_options(awssec_readonly=True)

    @guarded("reading an answer")
    def get_answer(self, answer_id: int) -> AnswerRow | None:
        """One recorded answer (to re-render it after a vote), or None if it does not exist."""
        number = row_id(answer_id)
        if number is None:
            return None  # no row can have this id (and the driver would fail on it)
        with self._read() as conn:
            row = conn.execute(select(answers).where(answers.c.id == number)).first()
        if row is None:
            return None
        return _answer_row(row)

    def ping(self) -> str | None:
        """None when the database answers a trivial query, else a one-line reason."""
        try:
            with self._read() as conn:
                conn.exec_driver_sql("SELECT 1").scalar()
        except SQLAlchemyError as exc:
            return _first_line(exc)
        return None


def _known_answer_id(value: object) -> int:
    number = row_id(value)
    if number is None:
        # Rejected at the edge, before the driver: an id that overflows BIGINT is bad data.
        raise UnknownAnswerError(f"no answer with id {str(value)[:40]}")
    return number


def _naive_utc(value: datetime) -> datetime:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _first_line(exc: BaseException) -> str:
    # SQLAlchemy appends the SQL and a docs link; keep the driver's own first line.
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__


def _answer_row(row: Any) -> AnswerRow:
    return AnswerRow(
        id=row.id,
        created_at=row.created_at,
        question=row.question,
        topic_ids=list(row.topic_ids or []),
        suggestion_ids=list(row.suggestion_ids or []),
        confidence=row.confidence,
        is_miss=bool(row.is_miss),
        surface=row.surface,
    )
