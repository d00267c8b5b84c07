""" "Share in channel": post a private /awssec answer publicly, saying who asked."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import BoltContext, Respond
from slack_sdk import WebClient

from bot.rendering.blocks import decode_answer, render_message
from bot.slack.deps import deps_of
from bot.slack.replies import clicked_where, record_answer, send

CANNOT_POST = (
    "I couldn't post in this conversation. Invite me first (`/invite @awssec`), "
    "then press Share again."
)


def handle_share(
    body: dict[str, Any],
    action: dict[str, Any],
    respond: Respond,
    client: WebClient,
    context: BoltContext,
    logger: logging.Logger,
) -> None:
    deps = deps_of(context)
    kb = deps.service.knowledge
    answer = decode_answer(str(action.get("value") or ""), kb)
    where = clicked_where(body, "share")
    user, channel = where.user_id, where.channel_id
    if answer is None or not channel:
        note = "That answer can't be shared any more; ask again with `/awssec`."
        send(respond, logger, "share", response_type="ephemeral", replace_original=False, text=note)
        return
    # `asked_by` comes from Slack's payload (who clicked), never from user-typed text.
    answer_id = record_answer(deps, answer, where, logger)
    message = render_message(answer, kb=kb, asked_by=user, answer_id=answer_id)
    if send(client.chat_postMessage, logger, "share", channel=channel, **message):
        send(respond, logger, "remove shared ephemeral", delete_original=True)
    else:
        send(respond, logger, "share failed", replace_original=False, text=CANNOT_POST)
