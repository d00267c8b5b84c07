""" "Share in channel": post a private /awssec answer publicly, saying who asked.

It posts through the click's response_url with `response_type: in_channel`, which works
wherever the slash command was used (public and private channels, DMs, group DMs) without
the bot being a member and without the `chat:write.public` scope. The question is scanned
for credentials again first: the button value repeats it verbatim, and a secret the guard
missed when it was asked must not go from a private answer to a public one.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import BoltContext, Respond
from slack_sdk import WebClient

from bot import guard
from bot.rendering.blocks.answers import render_message, secret_warning_blocks, secret_warning_text
from bot.rendering.blocks.ids import decode_answer
from bot.slack.answering.deps import deps_of
from bot.slack.answering.replies import clicked_where, guard_links, record_answer, send

CANNOT_POST = (
    "I couldn't share this answer any more (Slack allows it for 30 minutes after you "
    "asked). Ask again with `/awssec` and press Share."
)
CANNOT_SHARE = "That answer can't be shared any more; ask again with `/awssec`."


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

    def note(**message: Any) -> None:
        send(respond, logger, "share", response_type="ephemeral", replace_original=False, **message)

    if answer is None:
        note(text=CANNOT_SHARE)
        return
    findings = guard.find_secrets(answer.question)
    if findings:
        kinds = [f.kind for f in findings]
        links = guard_links(kinds, kb)
        logger.warning(
            "credential guard: %s in a question about to be shared; not shared",
            ", ".join(dict.fromkeys(kinds)),
        )
        note(text=secret_warning_text(kinds, links), blocks=secret_warning_blocks(kinds, links))
        return
    # `asked_by` comes from Slack's payload (who clicked), never from user-typed text.
    answer_id = record_answer(deps, answer, where, logger)
    message = render_message(answer, kb=kb, asked_by=where.user_id, answer_id=answer_id)
    if _post_in_channel(respond, message, logger):
        send(respond, logger, "remove shared ephemeral", delete_original=True)
    else:
        note(text=CANNOT_POST)


def _post_in_channel(respond: Respond, message: dict[str, Any], logger: logging.Logger) -> bool:
    """Post `message` publicly through the response_url; False (logged) when Slack refused.

    `respond` does not raise on an HTTP error (an expired or overused response_url answers
    404 or 410): it returns the response, so its status is what tells."""
    try:
        response = respond(response_type="in_channel", replace_original=False, **message)
    except OSError as exc:  # URLError, timeouts, refused connections
        logger.error("Slack response_url failed (share): %s", exc)
        return False
    if response.status_code != 200:
        logger.error("Slack response_url failed (share): HTTP %s", response.status_code)
        return False
    return True
