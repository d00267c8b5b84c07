"""Learned questions and expert drafts: what admins and experts taught the bot.

A learned question is a wording taught to a topic (from the report, a correction, an expert
or the CLI); the matcher uses it as one more example question of that topic. A draft is an
expert's written answer, kept for review and never served. Both are mixed into `Store`
(`LearnedMixin`); the ``*_in(conn, ...)`` functions do the same inside a caller's own
transaction (e.g. teaching plus its DM claims, all or nothing).

Every text goes through bot/guard.py before it is stored. ``learned_version()`` changes on
every add and remove (a counter bumped in the same transaction), so each process can notice
a change with one primary-key read.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from bot import guard
from bot.storage.breaker import StorageBreaker, guarded
from bot.storage.errors import BadRecordError
from bot.storage.schema import drafts, learned_questions, learned_state

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = [
    "LEARNED_SOURCES",
    "Draft",
    "LearnedMixin",
    "LearnedQuestion",
    "add_draft_in",
    "add_learned_in",
    "normalise_question",
]

# Where a learned question came from (the contract in /tmp/briefs/shared-api.md).
LEARNED_SOURCES = ("report", "correction", "expert", "cli")
# Caps: a learned question is a question, not an essay; an expert's answer may be longer.
MAX_QUESTION_CHARS = 1000
MAX_ANSWER_CHARS = 8000
_MAX_ID_CHARS = 64
_MAX_KEY_CHARS = 255
_STATE_ROW = 1

_NOT_WORD = re.compile(r"[^\w]+")


@dataclass(frozen=True)
class LearnedQuestion:
    id: int
    question: str
    topic_id: str
    taught_by: str | None
    source: str
    group_key: str | None
    team_id: str | None
    created_at: datetime
    enterprise_id: str | None = None


@dataclass(frozen=True)
class Draft:
    id: int
    question: str
    answer_text: str
    expert_id: str
    team_id: str | None
    created_at: datetime
    enterprise_id: str | None = None
    handoff_key: str | None = None


def normalise_question(text: str) -> str:
    """The wording as compared for idempotency: case, accents' forms, punctuation and spacing
    do not matter ("What is KMS?" == "what is kms")."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _NOT_WORD.sub(" ", folded).strip()


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _clean(value: str, cap: int) -> str:
    # NUL is unstorable in PostgreSQL text; redact before capping (a cut could hide a key).
    return guard.redact(str(value).replace("\x00", "")).strip()[:cap]


def _clip(value: str | None, cap: int = _MAX_ID_CHARS) -> str | None:
    if value is None:
        return None
    value = str(value).replace("\x00", "")
    return value[:cap] or None


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def _insert_for(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def _bump(conn: Connection) -> None:
    """Advance the learned version, inside the caller's transaction."""
    stmt = _insert_for(conn)(learned_state).values(id=_STATE_ROW, version=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[learned_state.c.id],
        set_={"version": learned_state.c.version + 1},
    )
    conn.execute(stmt)


def add_learned_in(
    conn: Connection,
    question: str,
    topic_id: str,
    *,
    taught_by: str | None,
    source: str,
    team_id: str | None = None,
    enterprise_id: str | None = None,
    group_key: str | None = None,
) -> int | None:
    """`LearnedMixin.add_learned` inside the caller's transaction on ``conn``."""
    if source not in LEARNED_SOURCES:
        raise BadRecordError(f"learned source must be one of {', '.join(LEARNED_SOURCES)}")
    cleaned = _clean(question, MAX_QUESTION_CHARS)
    wording = normalise_question(cleaned)
    if not wording:
        raise BadRecordError("a learned question needs words")
    topic = _clip(str(topic_id).strip())
    if not topic:
        raise BadRecordError("a learned question needs a topic id")
    team = _clip(team_id)
    wording_key = _digest(team or "", wording)
    learned_key = _digest(team or "", topic, wording)
    stmt = (
        _insert_for(conn)(learned_questions)
        .values(
            question=cleaned,
            learned_key=learned_key,
            wording_key=wording_key,
            topic_id=topic,
            taught_by=_clip(taught_by),
            source=source,
            group_key=_clip(group_key, _MAX_KEY_CHARS),
            team_id=team,
            enterprise_id=_clip(enterprise_id),
            created_at=_utcnow(),
        )
        # Atomic on both backends: a double click or a retry racing us inserts nothing.
        .on_conflict_do_nothing(index_elements=[learned_questions.c.learned_key])
        .returning(learned_questions.c.id)
    )
    new_id = conn.execute(stmt).scalar()
    if new_id is None:
        return None
    # The latest teaching wins: the same wording taught to another topic in the same team
    # (a correction) no longer counts for the old one, so the matcher is not told both.
    conn.execute(
        delete(learned_questions).where(
            learned_questions.c.wording_key == wording_key,
            learned_questions.c.id != new_id,
        )
    )
    _bump(conn)
    return int(new_id)


def add_draft_in(
    conn: Connection,
    *,
    question: str,
    answer_text: str,
    expert_id: str,
    team_id: str | None,
    enterprise_id: str | None = None,
    handoff_key: str | None = None,
) -> int | None:
    """`LearnedMixin.add_draft` inside the caller's transaction on ``conn``."""
    cleaned_question = _clean(question, MAX_QUESTION_CHARS)
    cleaned_answer = _clean(answer_text, MAX_ANSWER_CHARS)
    if not normalise_question(cleaned_question) or not cleaned_answer:
        raise BadRecordError("a draft needs a question and an answer")
    expert = _clip(expert_id)
    if not expert:
        raise BadRecordError("a draft needs the expert's id")
    key = handoff_key
    if key is not None and len(key) > _MAX_KEY_CHARS:
        key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    stmt = (
        _insert_for(conn)(drafts)
        .values(
            question=cleaned_question,
            answer_text=cleaned_answer,
            expert_id=expert,
            team_id=_clip(team_id),
            enterprise_id=_clip(enterprise_id),
            handoff_key=_clip(key, _MAX_KEY_CHARS),
            created_at=_utcnow(),
        )
        .on_conflict_do_nothing(index_elements=[drafts.c.handoff_key])
        .returning(drafts.c.id)
    )
    new_id = conn.execute(stmt).scalar()
    return None if new_id is None else int(new_id)


def _learned_row(row: Any) -> LearnedQuestion:
    return LearnedQuestion(
        id=int(row.id),
        question=row.question,
        topic_id=row.topic_id,
        taught_by=row.taught_by,
        source=row.source,
        group_key=row.group_key,
        team_id=row.team_id,
        created_at=row.created_at,
        enterprise_id=row.enterprise_id,
    )


def _draft_row(row: Any) -> Draft:
    return Draft(
        id=int(row.id),
        question=row.question,
        answer_text=row.answer_text,
        expert_id=row.expert_id,
        team_id=row.team_id,
        created_at=row.created_at,
        enterprise_id=row.enterprise_id,
        handoff_key=row.handoff_key,
    )


class LearnedMixin:
    """The learned-question and draft methods of `Store` (it provides ``engine``/``_read``)."""

    engine: Engine
    # Every method runs under the Store's breaker (bot/storage/breaker.py), like the others.
    breaker: StorageBreaker

    def _read(self) -> Connection:  # pragma: no cover - Store overrides it
        return self.engine.connect()

    @guarded("teaching a question")
    def add_learned(
        self,
        question: str,
        topic_id: str,
        *,
        taught_by: str | None,
        source: str,
        team_id: str | None = None,
        enterprise_id: str | None = None,
        group_key: str | None = None,
    ) -> int | None:
        """Teach ``question`` to ``topic_id``; the new id, or None when that wording
        (normalised) is already learned for that topic in that team (idempotent).

        The question is redacted by the credential guard before it is stored. The same
        wording previously taught to another topic in the same team is replaced (the latest
        teaching wins). Team None applies to every team. Raises BadRecordError for an
        unknown ``source`` or a question with no words.
        """
        with self.engine.begin() as conn:
            return add_learned_in(
                conn,
                question,
                topic_id,
                taught_by=taught_by,
                source=source,
                team_id=team_id,
                enterprise_id=enterprise_id,
                group_key=group_key,
            )

    @guarded("reading learned questions")
    def learned(self, team_id: str | None = None) -> list[LearnedQuestion]:
        """Learned questions that apply to ``team_id`` (its own and team None's), oldest
        first; with ``team_id`` None, only team None's."""
        stmt = select(learned_questions)
        if team_id is None:
            stmt = stmt.where(learned_questions.c.team_id.is_(None))
        else:
            stmt = stmt.where(
                or_(
                    learned_questions.c.team_id.is_(None),
                    learned_questions.c.team_id == _clip(team_id),
                )
            )
        with self._read() as conn:
            return [_learned_row(r) for r in conn.execute(stmt.order_by(learned_questions.c.id))]

    @guarded("reading every learned question", deadline=False)
    def all_learned(self) -> list[LearnedQuestion]:
        """Every learned question of every team, oldest first (CLI listing and export)."""
        stmt = select(learned_questions).order_by(learned_questions.c.id)
        with self._read() as conn:
            return [_learned_row(r) for r in conn.execute(stmt)]

    @guarded("removing a learned question")
    def remove_learned(self, learned_id: int) -> bool:
        """Forget one learned question; False when there is no such id."""
        with self.engine.begin() as conn:
            removed = conn.execute(
                delete(learned_questions).where(learned_questions.c.id == int(learned_id))
            ).rowcount
            if removed:
                _bump(conn)
        return bool(removed)

    @guarded("reading the learned version")
    def learned_version(self) -> int:
        """A number that changes on every add and remove (one primary-key read)."""
        stmt = select(learned_state.c.version).where(learned_state.c.id == _STATE_ROW)
        with self._read() as conn:
            return int(conn.execute(stmt).scalar() or 0)

    @guarded("saving a draft")
    def add_draft(
        self,
        *,
        question: str,
        answer_text: str,
        expert_id: str,
        team_id: str | None,
        enterprise_id: str | None = None,
        handoff_key: str | None = None,
    ) -> int | None:
        """Save an expert's written answer; the new id, or None when a draft with that
        ``handoff_key`` exists (idempotent). Both texts are redacted by the guard."""
        with self.engine.begin() as conn:
            return add_draft_in(
                conn,
                question=question,
                answer_text=answer_text,
                expert_id=expert_id,
                team_id=team_id,
                enterprise_id=enterprise_id,
                handoff_key=handoff_key,
            )

    @guarded("reading drafts", deadline=False)
    def drafts(self, team_id: str | None = None) -> list[Draft]:
        """Drafts, oldest first: of ``team_id`` when given, else of every team."""
        stmt = select(drafts)
        if team_id is not None:
            stmt = stmt.where(drafts.c.team_id == _clip(team_id))
        with self._read() as conn:
            return [_draft_row(r) for r in conn.execute(stmt.order_by(drafts.c.id))]
