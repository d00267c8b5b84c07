"""The optional "Not helpful" comment: store it (the store redacts credentials)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import BoltContext

from bot.rendering.blocks.feedback import comment_answer_id, comment_text
from bot.slack.answering.deps import deps_of
from bot.slack.answering.replies import enterprise_of
from bot.storage.errors import StorageError


def handle_feedback_comment(
    body: dict[str, Any],
    view: dict[str, Any],
    context: BoltContext,
    logger: logging.Logger,
) -> None:
    deps = deps_of(context)
    store = deps.store
    answer_id = comment_answer_id(view)
    user = (body.get("user") or {}).get("id")
    comment = comment_text(view)
    if store is None or answer_id is None or not user or not comment:
        return
    try:
        # The store's breaker refuses at once while the database is unavailable.
        store.record_comment(
            answer_id=answer_id,
            user_id=user,
            comment=comment,
            # A view submission names the team under `team` (or the user's team).
            team_id=(body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id"),
            enterprise_id=enterprise_of(body),
        )
    except LookupError:  # UnknownAnswerError: the answer was purged meanwhile
        logger.info("comment on answer %s dropped: the answer no longer exists", answer_id)
    except StorageError as exc:  # StorageUnavailable (logged by the breaker) or a bad record
        logger.error("could not record a comment: %s", exc)
