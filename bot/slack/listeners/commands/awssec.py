"""`/awssec help | list | report [since] | <question or topic name>`: private answers."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import BoltContext, Respond

from bot.rendering.blocks.catalogue import help_message, list_message, report_message
from bot.rendering.blocks.elements import context_block
from bot.rendering.blocks.teaching import report_with_teaching
from bot.rendering.mrkdwn import escape_mrkdwn
from bot.slack.answering.deps import Deps, deps_of
from bot.slack.answering.replies import (
    HELP_WORDS,
    LIST_WORDS,
    Where,
    build_reply,
    describe_error,
    enterprise_of,
    send,
)
from bot.slack.listeners.actions.teach import TEACHING_UNAVAILABLE, Unavailable, teaching_section
from bot.slack.listeners.commands.autoanswer import AUTOANSWER, autoanswer_reply

DEFAULT_REPORT_SINCE = "7d"
# `report`, `report 30d`: anything else starting with "report" is a question.
_REPORT = re.compile(r"^report(?:\s+(\d+\s*[a-z]*))?$", re.IGNORECASE)

NOT_ADMIN = (
    "Sorry, reports are only available to awssec admins. "
    "Ask whoever runs awssec to add your Slack user id to `AWSSEC_ADMINS`."
)
NO_STORE = "Reports need the awssec database, and it isn't configured for this bot."
REPORT_FAILED = "Sorry, I couldn't build the report just now (the database did not answer)."


def handle_awssec(
    command: dict[str, Any],
    respond: Respond,
    context: BoltContext,
    logger: logging.Logger,
) -> None:
    deps = deps_of(context)
    service = deps.service
    text = " ".join((command.get("text") or "").split())
    word = text.lower()
    report = _REPORT.match(text)
    autoanswer = AUTOANSWER.match(text)
    if not text or word in HELP_WORDS:
        message = help_message()
    elif word in LIST_WORDS:
        message = list_message(service.knowledge)
    elif report:
        message = report_reply(
            deps,
            command.get("user_id"),
            report.group(1),
            logger,
            team_id=command.get("team_id"),
            enterprise_id=enterprise_of(command),
        )
    elif autoanswer:
        message = autoanswer_reply(deps, command, autoanswer.group(1), logger)
    else:
        where = Where(
            "slash",
            command.get("team_id"),
            command.get("user_id"),
            command.get("channel_id"),
            enterprise_of(command),
        )
        message = build_reply(deps, text, where, logger, shareable=True).message
    send(respond, logger, "respond to /awssec", response_type="ephemeral", **message)


def report_reply(
    deps: Deps,
    user_id: str | None,
    since_text: str | None,
    logger: logging.Logger,
    *,
    team_id: str | None = None,
    enterprise_id: str | None = None,
) -> dict[str, Any]:
    """The report summary for admins, with the teaching part (topic menus for the missed
    groups and "Not helpful" votes); a polite refusal for everyone else."""
    if not deps.is_admin(user_id, team_id):
        logger.info("report refused for a non-admin user %s", user_id)
        return {"text": NOT_ADMIN}
    if deps.store is None:
        return {"text": NO_STORE}
    from bot.knowledge.review import stale_topics
    from bot.storage import build_report, format_summary, parse_since
    from bot.storage.report import SUMMARY_STALE_SHOWN, format_stale_topics

    try:
        since = parse_since((since_text or DEFAULT_REPORT_SINCE).replace(" ", ""))
    except ValueError:
        return {"text": "Use `/awssec report` or `/awssec report 30d` (m, h, d or w)."}
    try:
        # This team's records only: one deployment may serve many workspaces.
        built = build_report(deps.store, since, team_id=team_id)
        # Then the topics due a review (AWSSEC_STALE_DAYS), as `awssec report` shows them.
        days = deps.settings.stale_days
        stale = [
            (t.id, t.reviewed.isoformat() if t.reviewed else None)
            for t in stale_topics(deps.service.knowledge, days)
        ]
        summary = (
            format_summary(built)
            + "\n\n"
            + format_stale_topics(stale, days, limit=SUMMARY_STALE_SHOWN)
        )
    except Exception as exc:  # a report must never take the listener down
        logger.error("report failed: %s", describe_error(exc))
        return {"text": REPORT_FAILED}
    message = report_message(summary)
    try:
        section = teaching_section(
            deps,
            built,
            team_id=team_id,
            enterprise_id=enterprise_id,
            period=f"last {since_text or DEFAULT_REPORT_SINCE}",
        )
    except Unavailable:
        section = [context_block(escape_mrkdwn(TEACHING_UNAVAILABLE))]
    return report_with_teaching(message["blocks"], section, message["text"])
