"""Teaching from the report: "Answer with…" on a missed group, "the right topic is…" on a
"Not helpful" vote. Admins only (`Deps.is_admin`).

Choosing a topic for a group teaches every wording of it (one transaction with the claims
of the DMs), then tells each person who asked, once per group, with the topic's answer
(AWSSEC_NOTIFY_ASKERS=false: nobody is told). A double click or a retry learns nothing new
and tells nobody twice. The report is an ephemeral message (`/awssec report`) or an admin's
App Home: notes go back through the response_url there, and as a small modal here (a Home
tab has no place for an ephemeral message).

Also the teaching part of the report, shared by `/awssec report` and the App Home.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from slack_bolt import BoltContext, Respond
from slack_sdk import WebClient
from sqlalchemy.exc import SQLAlchemyError

from bot import guard
from bot.rendering.blocks.catalogue import render_home_view
from bot.rendering.blocks.ids import CORRECT_BLOCK_ID, TEACH_BLOCK_ID, ActionIds, block_reference
from bot.rendering.blocks.teaching import (
    GroupLine,
    VoteLine,
    asker_message,
    home_with_teaching,
    notice_modal,
    taught_note,
    teaching_blocks,
)
from bot.slack.answering.deps import Deps, deps_of
from bot.slack.answering.replies import Where, clicked_where, describe_error, send
from bot.storage.errors import StorageError

if TYPE_CHECKING:
    from bot.storage import Report

T = TypeVar("T")

log = logging.getLogger(__name__)

# Missed groups and "Not helpful" votes the teaching part shows. Trade: more to teach per
# screen, at a bigger message (each carries a topic menu of every topic: ~6 KB with 66
# topics) within a message's 50 blocks and a Home tab's 100.
TEACH_GROUPS_SHOWN = 5
TEACH_VOTES_SHOWN = 5
# The window the App Home's teaching part covers (`/awssec report 30d` chooses its own).
HOME_REPORT_SINCE = timedelta(days=7)

NOT_ADMIN = (
    "Sorry, only awssec admins can teach the bot. "
    "Ask whoever runs awssec to add your Slack user id to `AWSSEC_ADMINS`."
)
NO_STORE = "Teaching needs the awssec database, and it isn't configured for this bot."
CANNOT_SAVE = (
    "Sorry, I couldn't save that just now (the database did not answer). Nothing was "
    "taught and nobody was told: please choose the topic again in a minute."
)
OUT_OF_DATE = "That menu is out of date. Run `/awssec report` again and choose from the new one."
UNKNOWN_TOPIC = "That topic is no longer in my knowledge. Run `/awssec report` again."
ANSWER_GONE = "That answer is too old to correct now (old records are removed)."
TEACHING_UNAVAILABLE = (
    "Teaching is unavailable right now (the database did not answer); try again in a minute."
)


class Unavailable(Exception):
    """The database could not be used for this click (down, hung, or the breaker is open)."""


def db_call(deps: Deps, what: str, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`func(*args, **kwargs)`, a storage call (guarded by the Store's breaker); Unavailable
    (logged in one line) when the database cannot be used for it. LookupErrors (the
    database answered and said no) pass through."""
    try:
        return func(*args, **kwargs)
    except LookupError:
        raise
    except (StorageError, SQLAlchemyError) as exc:  # StorageUnavailable, BadRecordError, …
        log.error("%s failed: %s", what, describe_error(exc))
        raise Unavailable(what) from None


def quotable(question: str | None) -> str | None:
    """The question when it may be quoted back; None when it holds anything key-shaped
    (even redacted: a "[REDACTED …]" marker says a secret was pasted there)."""
    if not question:
        return None
    if "[REDACTED" in question or guard.find_secrets(question):
        return None
    return None if guard.looks_secret_shaped(question) else question


def notify_askers_enabled(deps: Deps) -> bool:
    """AWSSEC_NOTIFY_ASKERS, validated at start-up (`Deps.settings`)."""
    return deps.settings.notify_askers


# --- the teaching part of the report ----------------------------------------------------------


def teaching_section(
    deps: Deps,
    report: Report,
    *,
    team_id: str | None,
    enterprise_id: str | None,
    period: str,
) -> list[dict[str, Any]]:
    """The groups and votes of `report` with their topic menus. Raises Unavailable."""
    from bot.storage import teaching

    store = deps.store
    assert store is not None
    groups = db_call(
        deps,
        "saving the report's groups",
        teaching.remember_groups,
        store,
        report.missed[:TEACH_GROUPS_SHOWN],
        team_id=team_id,
        enterprise_id=enterprise_id,
    )
    taught = db_call(
        deps,
        "reading what was taught",
        teaching.taught_groups,
        store,
        [g.group_key for g in groups],
    )
    votes = db_call(
        deps,
        "reading the latest votes",
        teaching.not_helpful_votes,
        store,
        report.since,
        team_id=team_id,
        limit=TEACH_VOTES_SHOWN,
    )
    corrected = db_call(
        deps,
        "reading corrections",
        teaching.corrections_of,
        store,
        [v.answer_id for v in votes],
    )
    group_lines = [
        GroupLine(
            g.group_key,
            g.count,
            quotable(g.example),
            tuple(quotable(w) for w in g.wordings),
            taught[g.group_key].topic_id if g.group_key in taught else None,
            taught[g.group_key].taught_by if g.group_key in taught else None,
        )
        for g in groups
    ]
    vote_lines = [
        VoteLine(
            v.answer_id,
            quotable(v.question),
            v.topic_ids,
            v.voter_id,
            corrected[v.answer_id].topic_id if v.answer_id in corrected else None,
            corrected[v.answer_id].taught_by if v.answer_id in corrected else None,
        )
        for v in votes
    ]
    return teaching_blocks(
        deps.service.knowledge, group_lines, vote_lines, ActionIds(), period=period
    )


def admin_home_view(
    deps: Deps,
    *,
    team_id: str | None,
    enterprise_id: str | None,
    note: str | None = None,
) -> dict[str, Any]:
    """An admin's App Home: the teaching part (last 7 days), then the catalogue. When the
    database does not answer, the catalogue with a line saying teaching is unavailable."""
    from bot.storage import build_report

    home = render_home_view(deps.service.knowledge)
    if deps.store is None:
        return home
    try:
        report = db_call(
            deps,
            "building the Home report",
            build_report,
            deps.store,
            HOME_REPORT_SINCE,
            top=TEACH_GROUPS_SHOWN,
            team_id=team_id,  # this team's misses and votes only
        )
        section = teaching_section(
            deps, report, team_id=team_id, enterprise_id=enterprise_id, period="last 7 days"
        )
    except Unavailable:
        return home_with_teaching(home, [], note=TEACHING_UNAVAILABLE)
    return home_with_teaching(home, section, note=note)


# --- the clicks -------------------------------------------------------------------------------


def _is_home(body: dict[str, Any]) -> bool:
    return (body.get("container") or {}).get("type") == "view" or (
        (body.get("view") or {}).get("type") == "home"
    )


def _noter(
    body: dict[str, Any], respond: Respond, client: WebClient, logger: logging.Logger
) -> Callable[[str], None]:
    """How to tell whoever clicked: ephemeral under the report, a modal on the Home tab."""
    if _is_home(body):

        def modal(text: str) -> None:
            trigger = body.get("trigger_id")
            if trigger:
                send(
                    client.views_open,
                    logger,
                    "teaching notice",
                    trigger_id=trigger,
                    view=notice_modal(text),
                )

        return modal

    def ephemeral(text: str) -> None:
        send(
            respond,
            logger,
            "teaching note",
            response_type="ephemeral",
            replace_original=False,
            text=text,
        )

    return ephemeral


def _selected_topic(action: dict[str, Any]) -> str:
    return str((action.get("selected_option") or {}).get("value") or "")


def _may_teach(
    deps: Deps, where: Where, note: Callable[[str], None], logger: logging.Logger, what: str
) -> bool:
    """Only admins teach, and only with a database to keep what they teach; else say why."""
    if not deps.is_admin(where.user_id, where.team_id):
        logger.info("%s refused for a non-admin user %s", what, where.user_id)
        note(NOT_ADMIN)
        return False
    if deps.store is None:
        note(NO_STORE)
        return False
    return True


def handle_teach(
    body: dict[str, Any],
    action: dict[str, Any],
    respond: Respond,
    client: WebClient,
    context: BoltContext,
    logger: logging.Logger,
) -> None:
    """ "Answer with…" on a missed group: teach its wordings, tell who asked."""
    from bot.storage import teaching

    deps = deps_of(context)
    where = clicked_where(body, "teach")
    note = _noter(body, respond, client, logger)
    if not _may_teach(deps, where, note, logger, "teaching"):
        return
    kb = deps.service.knowledge
    group_key = block_reference(action.get("block_id"), TEACH_BLOCK_ID)
    topic = kb.get(_selected_topic(action))
    if group_key is None:
        note(OUT_OF_DATE)
        return
    if topic is None:
        note(UNKNOWN_TOPIC)
        return
    try:
        result = db_call(
            deps,
            "teaching a group",
            teaching.teach_group,
            deps.store,
            group_key,
            topic.id,
            taught_by=where.user_id,
            team_id=where.team_id,
            enterprise_id=where.enterprise_id,
            notify=notify_askers_enabled(deps),
        )
    except Unavailable:
        note(CANNOT_SAVE)
        return
    if result is None:
        note(OUT_OF_DATE)
        return
    told = 0
    for asker in result.to_notify:
        message = asker_message(topic, kb, quotable(asker.question), asker.asked_at)
        if send(client.chat_postMessage, logger, "tell an asker", channel=asker.user_id, **message):
            told += 1
            continue
        # Not sent: give the claim back, so choosing the topic again tells them.
        with contextlib.suppress(Unavailable):
            db_call(
                deps,
                "releasing a DM claim",
                teaching.release_dm,
                deps.store,
                group_key,
                asker.user_id,
            )
    logger.info(
        "teaching: group %s taught as %s by %s (%d new wordings, %d people told)",
        group_key,
        topic.id,
        where.user_id,
        result.learned,
        told,
    )
    text = taught_note(kb, topic.id, result.learned, told)
    if _is_home(body) and where.user_id:
        view = admin_home_view(
            deps, team_id=where.team_id, enterprise_id=where.enterprise_id, note=None
        )
        send(client.views_publish, logger, "refresh App Home", user_id=where.user_id, view=view)
        return
    note(text)


def handle_correct(
    body: dict[str, Any],
    action: dict[str, Any],
    respond: Respond,
    client: WebClient,
    context: BoltContext,
    logger: logging.Logger,
) -> None:
    """ "The right topic is…" on a "Not helpful" vote: teach that question to it."""
    from bot.storage import teaching

    deps = deps_of(context)
    where = clicked_where(body, "correct")
    note = _noter(body, respond, client, logger)
    if not _may_teach(deps, where, note, logger, "correction"):
        return
    kb = deps.service.knowledge
    reference = block_reference(action.get("block_id"), CORRECT_BLOCK_ID)
    topic = kb.get(_selected_topic(action))
    if reference is None or not reference.isdigit():
        note(OUT_OF_DATE)
        return
    if topic is None:
        note(UNKNOWN_TOPIC)
        return
    try:
        correction = db_call(
            deps,
            "correcting an answer",
            teaching.correct_answer,
            deps.store,
            int(reference),
            topic.id,
            taught_by=where.user_id,
            team_id=where.team_id,
            enterprise_id=where.enterprise_id,
        )
    except Unavailable:
        note(CANNOT_SAVE)
        return
    if correction is None:
        note(ANSWER_GONE)
        return
    answered = ", ".join(correction.answered) or "nothing"
    logger.info(
        "teaching: answer %s corrected from %s to %s by %s",
        reference,
        answered,
        topic.id,
        where.user_id,
    )
    if _is_home(body) and where.user_id:
        view = admin_home_view(deps, team_id=where.team_id, enterprise_id=where.enterprise_id)
        send(client.views_publish, logger, "refresh App Home", user_id=where.user_id, view=view)
        return
    if correction.learned:
        note(f"Corrected: that question (answered {answered}) is now taught as {topic.name}.")
    else:
        note(f"Already corrected to {topic.name}: nothing new to learn.")
