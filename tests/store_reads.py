"""What tests read back from a Store's database: plain queries on its engine.

The bot itself never reads these (reports have their own bounded queries), so they live with
the tests rather than as Store methods.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from bot.storage import Store
from bot.storage.schema import answers, comments, events, votes


def answer_rows(store: Store, since: datetime) -> list[Any]:
    """Answers recorded at or after ``since`` (naive UTC), oldest first."""
    stmt = select(answers).where(answers.c.created_at >= since).order_by(answers.c.id)
    with store.engine.connect() as conn:
        return list(conn.execute(stmt))


def vote_pairs(store: Store, since: datetime) -> list[tuple[int, bool]]:
    """(answer_id, helpful) of the votes on answers recorded since ``since``."""
    stmt = (
        select(votes.c.answer_id, votes.c.helpful)
        .join(answers, answers.c.id == votes.c.answer_id)
        .where(answers.c.created_at >= since)
    )
    with store.engine.connect() as conn:
        return [(int(a), bool(h)) for a, h in conn.execute(stmt)]


def comment_rows(store: Store, since: datetime) -> list[tuple[int, str, datetime]]:
    """(answer_id, comment, created_at) of the comments on answers recorded since ``since``."""
    stmt = (
        select(comments.c.answer_id, comments.c.comment, comments.c.created_at)
        .join(answers, answers.c.id == comments.c.answer_id)
        .where(answers.c.created_at >= since)
        .order_by(comments.c.id)
    )
    with store.engine.connect() as conn:
        return [(int(a), c, t) for a, c, t in conn.execute(stmt)]


def row_counts(store: Store) -> dict[str, int]:
    """Rows per table of the answer path."""
    with store.engine.connect() as conn:
        return {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (answers, votes, comments, events)
        }
