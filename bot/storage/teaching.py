"""Teaching from Slack: the report's groups as an admin saw them, exactly-once claims for the
DMs to askers, corrections of "Not helpful" answers, and hand-offs to the security team.

Every action is one transaction: the learned questions (bot/storage/learned.py's
``add_learned_in``), the drafts and the claims of one click commit together or not at all,
so a database outage mid-click leaves nothing half-saved and the click can simply be made
again. Connection-level trouble raises `StorageUnavailable`; every text stored goes through
bot/guard.py first.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bot import guard
from bot.storage.breaker import guarded
from bot.storage.errors import StorageUnavailable
from bot.storage.learned import add_draft_in, add_learned_in
from bot.storage.report import MAX_CLUSTER_WORDINGS, MAX_QUESTION_CHARS, tidy_question
from bot.storage.schema import (
    answers,
    handoffs,
    learned_questions,
    teach_claims,
    teach_groups,
    votes,
)

if TYPE_CHECKING:
    from bot.storage.report import MissCluster
    from bot.storage.store import Store

__all__ = [
    "AlreadyAnswered",
    "Asker",
    "Handoff",
    "MissRow",
    "NotHelpfulVote",
    "Taught",
    "TeachGroup",
    "TeachResult",
    "claim_handoff",
    "claim_handoff_answer",
    "correct_answer",
    "corrections_of",
    "drop_handoff",
    "get_handoff",
    "group_key_of",
    "miss_for_handoff",
    "not_helpful_votes",
    "release_dm",
    "release_handoff_answer",
    "remember_groups",
    "set_experts_message",
    "taught_groups",
    "teach_group",
]

# Wordings of a group kept for teaching: all the report found (MissCluster.wordings, most
# asked first, capped there by MAX_CLUSTER_WORDINGS), so a teach covers the whole group.
MAX_GROUP_WORDINGS = MAX_CLUSTER_WORDINGS
# People told per taught group. Trade: more reach everyone who asked, at one chat.postMessage
# each inside one click (Slack's rate limit for posting is about one per second per channel,
# and every asker is a channel of their own).
MAX_NOTIFIED_ASKERS = 50
# "Not helpful" votes shown in the report. Trade: more to correct per screen, at more blocks
# (a Slack message holds 50, a Home tab 100, shared with the missed groups).
DEFAULT_VOTES_SHOWN = 5
# Hex characters of a group key: 128 bits, never colliding in practice, short enough to sit
# in a block id with a prefix and a fresh suffix (Slack allows 255).
_GROUP_KEY_CHARS = 32
_MAX_ID_CHARS = 64
_MAX_KEY_CHARS = 255
_MAX_TS_CHARS = 32
CORRECTION_GROUP_PREFIX = "correction:"
HANDOFF_KEY_PREFIX = "answer:"


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _clip(value: Any, cap: int = _MAX_ID_CHARS) -> str | None:
    if value is None:
        return None
    text = str(value).replace("\x00", "")[:cap]
    return text or None


def _clean(text: str) -> str:
    # Redact before capping: a cut could split a key and hide it from the guard.
    return guard.redact(str(text).replace("\x00", ""))[: MAX_QUESTION_CHARS * 8]


def _insert_for(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def _read(store: Store) -> Connection:
    return store._read()


class _Clock:
    """Rolls a transaction back when it ends after the breaker's deadline: the caller was
    told "couldn't save" by then, so a call that waited out a hung database and went on
    must not commit behind its back (claims with nobody told, a reply never posted)."""

    def __init__(self, store: Store) -> None:
        breaker = getattr(store, "breaker", None)
        deadline = getattr(breaker, "deadline", None)
        self._until = None if deadline is None else time.monotonic() + float(deadline)

    def check(self, what: str) -> None:
        if self._until is not None and time.monotonic() > self._until:
            raise StorageUnavailable(f"{what}: too late, the caller gave up; rolled back")


# --- the report's groups ----------------------------------------------------------------------


@dataclass(frozen=True)
class TeachGroup:
    group_key: str
    example: str
    wordings: tuple[str, ...]
    count: int = 0


@dataclass(frozen=True)
class Taught:
    """What a group or an answer was taught as (the latest teaching)."""

    topic_id: str
    taught_by: str | None
    source: str


def group_key_of(example: str, team_id: str | None) -> str:
    """A group's stable key: its team and its example as the report's grouping tidies it."""
    digest = hashlib.sha256(f"{team_id or ''}\x1f{tidy_question(example)}".encode())
    return digest.hexdigest()[:_GROUP_KEY_CHARS]


@guarded("saving the report's groups")
def remember_groups(
    store: Store,
    clusters: Sequence[MissCluster],
    *,
    team_id: str | None,
    enterprise_id: str | None = None,
) -> list[TeachGroup]:
    """Save the report's missed groups as shown (one transaction) and return them keyed."""
    now = _utcnow()
    groups: list[TeachGroup] = []
    for cluster in clusters:
        example = _clean(cluster.example)
        # Every wording of the group (not only the few shown): askers are found by them.
        every = cluster.wordings or cluster.variants
        wordings = list(dict.fromkeys(_clean(w) for w in [cluster.example, *every]))
        groups.append(
            TeachGroup(
                group_key_of(example, team_id),
                example,
                tuple(w for w in wordings if w.strip())[:MAX_GROUP_WORDINGS],
                cluster.count,
            )
        )
    if not groups:
        return groups
    with store.engine.begin() as conn:
        insert = _insert_for(conn)
        for group in groups:
            stmt = insert(teach_groups).values(
                group_key=group.group_key,
                team_id=_clip(team_id),
                enterprise_id=_clip(enterprise_id),
                example=group.example,
                wordings=list(group.wordings),
                updated_at=now,
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[teach_groups.c.group_key],
                    set_={
                        "example": stmt.excluded.example,
                        "wordings": stmt.excluded.wordings,
                        "updated_at": stmt.excluded.updated_at,
                    },
                )
            )
    return groups


@guarded("reading what was taught")
def taught_groups(store: Store, group_keys: Sequence[str]) -> dict[str, Taught]:
    """What each of these groups (or corrections) was last taught as, if anything."""
    keys = [k for k in dict.fromkeys(group_keys) if k]
    if not keys:
        return {}
    stmt = (
        select(
            learned_questions.c.group_key,
            learned_questions.c.topic_id,
            learned_questions.c.taught_by,
            learned_questions.c.source,
        )
        .where(learned_questions.c.group_key.in_(keys))
        .order_by(learned_questions.c.id)
    )
    with _read(store) as conn:
        # Oldest first: the latest teaching of a group overwrites the earlier ones.
        return {key: Taught(topic, by, source) for key, topic, by, source in conn.execute(stmt)}


# --- teaching a group -------------------------------------------------------------------------


@dataclass(frozen=True)
class Asker:
    user_id: str
    question: str
    asked_at: datetime
    channel_id: str | None = None


@dataclass(frozen=True)
class TeachResult:
    group: TeachGroup
    learned: int  # wordings newly learned (0: all were already taught to that topic)
    to_notify: tuple[Asker, ...]  # askers claimed now: tell each of them, once


def _askers(
    conn: Connection, wordings: Sequence[str], team_id: str | None, limit: int
) -> list[Asker]:
    """Who asked these wordings (as misses), each person once with their first asking."""
    asked = func.substr(answers.c.question, 1, MAX_QUESTION_CHARS)
    first = func.min(answers.c.id).label("first_id")
    stmt = (
        select(answers.c.user_id, first)
        .where(answers.c.is_miss, asked.in_(list(wordings)), answers.c.user_id.is_not(None))
        .group_by(answers.c.user_id)
        .order_by(first)
        .limit(limit)
    )
    if team_id is not None:
        stmt = stmt.where(answers.c.team_id == team_id)
    firsts = [int(first_id) for _, first_id in conn.execute(stmt)]
    if not firsts:
        return []
    rows = conn.execute(
        select(answers.c.user_id, answers.c.question, answers.c.created_at, answers.c.channel_id)
        .where(answers.c.id.in_(firsts))
        .order_by(answers.c.id)
    )
    return [Asker(user, question, at, channel) for user, question, at, channel in rows]


def _dm_claim_key(group_key: str, user_id: str) -> str:
    return f"dm:{group_key}:{user_id}"[:_MAX_KEY_CHARS]


@guarded("teaching a group")
def teach_group(
    store: Store,
    group_key: str,
    topic_id: str,
    *,
    taught_by: str | None,
    team_id: str | None,
    enterprise_id: str | None = None,
    notify: bool = True,
) -> TeachResult | None:
    """Teach a remembered group's wordings to ``topic_id`` and claim the askers to tell.

    One transaction: the learned questions (source "report") and one claim per (group,
    asker) commit together. A second click or a retry learns nothing new and claims nobody
    (each asker is told once per group). None when the group is unknown (not shown yet).
    """
    clock = _Clock(store)
    with store.engine.begin() as conn:
        row = conn.execute(
            select(teach_groups).where(teach_groups.c.group_key == group_key)
        ).first()
        if row is None:
            return None
        group = TeachGroup(row.group_key, row.example, tuple(row.wordings or ()))
        learned = 0
        for wording in group.wordings:
            if not wording.strip():
                continue
            new_id = add_learned_in(
                conn,
                wording,
                topic_id,
                taught_by=taught_by,
                source="report",
                team_id=team_id,
                enterprise_id=enterprise_id,
                group_key=group_key,
            )
            learned += new_id is not None
        claimed: list[Asker] = []
        if notify:
            now = _utcnow()
            insert = _insert_for(conn)
            for asker in _askers(conn, group.wordings, team_id, MAX_NOTIFIED_ASKERS):
                won = conn.execute(
                    insert(teach_claims)
                    .values(
                        claim_key=_dm_claim_key(group_key, asker.user_id),
                        team_id=_clip(team_id),
                        enterprise_id=_clip(enterprise_id),
                        created_at=now,
                    )
                    .on_conflict_do_nothing(index_elements=[teach_claims.c.claim_key])
                    .returning(teach_claims.c.claim_key)
                ).first()
                if won is not None:
                    claimed.append(asker)
        clock.check("teaching a group")
    return TeachResult(group, learned, tuple(claimed))


@guarded("releasing a DM claim")
def release_dm(store: Store, group_key: str, user_id: str) -> None:
    """Give a claim back (its DM could not be sent), so a later click tells that person."""
    with store.engine.begin() as conn:
        conn.execute(
            delete(teach_claims).where(
                teach_claims.c.claim_key == _dm_claim_key(group_key, user_id)
            )
        )


# --- "Not helpful" votes and corrections ------------------------------------------------------


@dataclass(frozen=True)
class NotHelpfulVote:
    answer_id: int
    question: str
    topic_ids: tuple[str, ...]
    voter_id: str
    voted_at: datetime


@guarded("reading the latest votes")
def not_helpful_votes(
    store: Store,
    since: datetime,
    *,
    team_id: str | None = None,
    limit: int = DEFAULT_VOTES_SHOWN,
) -> list[NotHelpfulVote]:
    """The latest "Not helpful" votes on answered questions recorded since ``since``, one
    per answer (the latest)."""
    since = since.astimezone(UTC).replace(tzinfo=None) if since.tzinfo else since
    latest = func.max(votes.c.id).label("vote_id")
    newest = (
        select(votes.c.answer_id, latest)
        .join(answers, answers.c.id == votes.c.answer_id)
        .where(~votes.c.helpful, ~answers.c.is_miss, answers.c.created_at >= since)
        .group_by(votes.c.answer_id)
        .order_by(latest.desc())
        .limit(limit)
    )
    if team_id is not None:
        newest = newest.where(answers.c.team_id == team_id)
    with _read(store) as conn:
        vote_ids = [int(vote_id) for _, vote_id in conn.execute(newest)]
        if not vote_ids:
            return []
        rows = conn.execute(
            select(
                votes.c.answer_id,
                answers.c.question,
                answers.c.topic_ids,
                votes.c.user_id,
                votes.c.updated_at,
            )
            .join(answers, answers.c.id == votes.c.answer_id)
            .where(votes.c.id.in_(vote_ids))
            .order_by(votes.c.id.desc())
        )
        return [NotHelpfulVote(int(a), q, tuple(t or ()), voter, at) for a, q, t, voter, at in rows]


def correction_key(answer_id: int) -> str:
    return f"{CORRECTION_GROUP_PREFIX}{int(answer_id)}"


def corrections_of(store: Store, answer_ids: Sequence[int]) -> dict[int, Taught]:
    """What each of these answers was corrected to, if it was."""
    taught = taught_groups(store, [correction_key(a) for a in answer_ids])
    return {int(k.removeprefix(CORRECTION_GROUP_PREFIX)): t for k, t in taught.items()}


@dataclass(frozen=True)
class Correction:
    question: str
    answered: tuple[str, ...]  # the topics it was answered with
    learned: bool  # False: it was already corrected to that topic


@guarded("correcting an answer")
def correct_answer(
    store: Store,
    answer_id: int,
    topic_id: str,
    *,
    taught_by: str | None,
    team_id: str | None,
    enterprise_id: str | None = None,
) -> Correction | None:
    """Teach a recorded answer's question to the right topic (source "correction"), in one
    transaction. None when the answer no longer exists (purged)."""
    clock = _Clock(store)
    with store.engine.begin() as conn:
        row = conn.execute(
            select(answers.c.question, answers.c.topic_ids).where(answers.c.id == int(answer_id))
        ).first()
        if row is None:
            return None
        new_id = add_learned_in(
            conn,
            row.question,
            topic_id,
            taught_by=taught_by,
            source="correction",
            team_id=team_id,
            enterprise_id=enterprise_id,
            group_key=correction_key(answer_id),
        )
        clock.check("correcting an answer")
    return Correction(row.question, tuple(row.topic_ids or ()), new_id is not None)


# --- hand-offs to the security team -----------------------------------------------------------


@dataclass(frozen=True)
class MissRow:
    answer_id: int
    question: str
    user_id: str | None
    channel_id: str | None
    team_id: str | None
    created_at: datetime


@guarded("reading a missed question")
def miss_for_handoff(store: Store, answer_id: int) -> MissRow | None:
    """The recorded question behind an "Ask the security team" button, or None (purged)."""
    stmt = select(
        answers.c.id,
        answers.c.question,
        answers.c.user_id,
        answers.c.channel_id,
        answers.c.team_id,
        answers.c.created_at,
    ).where(answers.c.id == int(answer_id))
    with _read(store) as conn:
        row = conn.execute(stmt).first()
    return None if row is None else MissRow(int(row[0]), *row[1:])


@dataclass(frozen=True)
class Handoff:
    id: int
    handoff_key: str
    answer_id: int | None
    team_id: str | None
    enterprise_id: str | None
    asker_id: str | None
    clicked_by: str | None
    question: str
    channel_id: str | None
    thread_ts: str | None
    permalink: str | None
    experts_channel: str | None
    experts_ts: str | None
    created_at: datetime
    answered_by: str | None
    answered_at: datetime | None
    answer_topic: str | None


class AlreadyAnswered(LookupError):
    """The hand-off was answered already (by `handoff.answered_by`). A LookupError: the
    database answered and said no, which must not open the storage breaker."""

    def __init__(self, handoff: Handoff) -> None:
        super().__init__(f"hand-off {handoff.id} already answered")
        self.handoff = handoff


def _handoff(row: Any) -> Handoff:
    return Handoff(
        id=int(row.id),
        handoff_key=row.handoff_key,
        answer_id=None if row.answer_id is None else int(row.answer_id),
        team_id=row.team_id,
        enterprise_id=row.enterprise_id,
        asker_id=row.asker_id,
        clicked_by=row.clicked_by,
        question=row.question,
        channel_id=row.channel_id,
        thread_ts=row.thread_ts,
        permalink=row.permalink,
        experts_channel=row.experts_channel,
        experts_ts=row.experts_ts,
        created_at=row.created_at,
        answered_by=row.answered_by,
        answered_at=row.answered_at,
        answer_topic=row.answer_topic,
    )


def handoff_key_of(answer_id: int) -> str:
    """One hand-off per recorded question, whoever clicks and however often."""
    return f"{HANDOFF_KEY_PREFIX}{int(answer_id)}"


@guarded("handing a question over")
def claim_handoff(
    store: Store,
    *,
    handoff_key: str,
    answer_id: int | None,
    question: str,
    asker_id: str | None,
    clicked_by: str | None,
    channel_id: str | None,
    thread_ts: str | None,
    team_id: str | None,
    enterprise_id: str | None = None,
) -> tuple[Handoff, bool]:
    """The hand-off for ``handoff_key``, and True when this call created it (the caller then
    posts it to the experts); False: it was handed over already."""
    values = {
        "handoff_key": str(handoff_key)[:_MAX_KEY_CHARS],
        "answer_id": answer_id,
        "team_id": _clip(team_id),
        "enterprise_id": _clip(enterprise_id),
        "asker_id": _clip(asker_id),
        "clicked_by": _clip(clicked_by),
        "question": _clean(question),
        "channel_id": _clip(channel_id),
        "thread_ts": _clip(thread_ts, _MAX_TS_CHARS),
        "created_at": _utcnow(),
    }
    clock = _Clock(store)
    with store.engine.begin() as conn:
        won = conn.execute(
            _insert_for(conn)(handoffs)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[handoffs.c.handoff_key])
            .returning(handoffs.c.id)
        ).first()
        row = conn.execute(
            select(handoffs).where(handoffs.c.handoff_key == values["handoff_key"])
        ).one()
        clock.check("handing a question over")
    return _handoff(row), won is not None


@guarded("dropping a hand-off")
def drop_handoff(store: Store, handoff_id: int) -> None:
    """Forget a hand-off that could not be posted, so the button works again."""
    with store.engine.begin() as conn:
        conn.execute(
            delete(handoffs).where(
                handoffs.c.id == int(handoff_id), handoffs.c.experts_ts.is_(None)
            )
        )


@guarded("saving where a hand-off was posted")
def set_experts_message(
    store: Store, handoff_id: int, *, experts_channel: str, experts_ts: str, permalink: str | None
) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            update(handoffs)
            .where(handoffs.c.id == int(handoff_id))
            .values(
                experts_channel=_clip(experts_channel),
                experts_ts=_clip(experts_ts, _MAX_TS_CHARS),
                permalink=None if permalink is None else str(permalink)[:2000],
            )
        )


@guarded("reading a hand-off")
def get_handoff(store: Store, handoff_id: int) -> Handoff | None:
    with _read(store) as conn:
        row = conn.execute(select(handoffs).where(handoffs.c.id == int(handoff_id))).first()
    return None if row is None else _handoff(row)


@guarded("answering a hand-off")
def claim_handoff_answer(
    store: Store,
    handoff_id: int,
    *,
    expert_id: str,
    topic_id: str | None = None,
    answer_text: str | None = None,
) -> Handoff | None:
    """Mark a hand-off answered by ``expert_id`` and learn from it, in one transaction: with
    ``topic_id`` the question becomes a learned question of that topic (source "expert");
    with ``answer_text`` it is saved as a draft (never served as a bot answer).

    Raises AlreadyAnswered when someone answered first; None for an unknown hand-off.
    """
    clock = _Clock(store)
    with store.engine.begin() as conn:
        claimed = conn.execute(
            update(handoffs)
            .where(handoffs.c.id == int(handoff_id), handoffs.c.answered_at.is_(None))
            .values(answered_by=_clip(expert_id), answered_at=_utcnow(), answer_topic=topic_id)
        ).rowcount
        row = conn.execute(select(handoffs).where(handoffs.c.id == int(handoff_id))).first()
        if row is None:
            return None
        handoff = _handoff(row)
        if not claimed:
            raise AlreadyAnswered(handoff)
        if topic_id is not None:
            add_learned_in(
                conn,
                handoff.question,
                topic_id,
                taught_by=expert_id,
                source="expert",
                team_id=handoff.team_id,
                enterprise_id=handoff.enterprise_id,
                group_key=handoff.handoff_key,
            )
        if answer_text is not None:
            add_draft_in(
                conn,
                question=handoff.question,
                answer_text=answer_text,
                expert_id=expert_id,
                team_id=handoff.team_id,
                enterprise_id=handoff.enterprise_id,
                handoff_key=handoff.handoff_key,
            )
        clock.check("answering a hand-off")
    return handoff


@guarded("releasing a hand-off answer")
def release_handoff_answer(store: Store, handoff_id: int) -> None:
    """Undo the "answered" mark when the answer could not be posted (the learned question or
    draft stays: adding them again is idempotent), so the expert can try again."""
    with store.engine.begin() as conn:
        conn.execute(
            update(handoffs)
            .where(handoffs.c.id == int(handoff_id))
            .values(answered_by=None, answered_at=None, answer_topic=None)
        )
