"""Small helpers shared by listeners: mention stripping, bot checks, safe posting."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.slack.dedup import Deduplicator, claim_all, event_key, message_key

_LEADING_MENTION = re.compile(r"^\s*<@[UW][A-Z0-9]+(?:\|[^>]*)?>")


def strip_bot_mention(text: str, bot_user_id: str | None) -> str:
    """`text` without the bot's own mention(s), so they do not influence matching."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text)
    else:
        text = _LEADING_MENTION.sub(" ", text)
    return " ".join(text.split())


def is_human_message(event: dict[str, Any]) -> bool:
    """A new message from a person: no bot, no edit/delete/join (those carry a subtype)."""
    return not (
        event.get("bot_id")
        or event.get("bot_profile")
        or event.get("subtype")
        or event.get("edited")
        or event.get("hidden")
    )


def first_delivery(dedup: Deduplicator, body: dict[str, Any], event: dict[str, Any]) -> bool:
    """True only for the first delivery of this message (retries and double events lose)."""
    keys = []
    if body.get("event_id"):
        keys.append(event_key(str(body["event_id"])))
    if event.get("channel") and event.get("ts"):
        keys.append(message_key(str(event["channel"]), str(event["ts"])))
    return claim_all(dedup, keys)


def send(post: Callable[..., Any], logger: logging.Logger, what: str, **kwargs: Any) -> bool:
    """Call a Slack posting function; log a final failure (after retries) and carry on."""
    try:
        post(**kwargs)
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else None
        status = exc.response.status_code if exc.response is not None else "?"
        logger.error("Slack API call failed (%s): HTTP %s %s", what, status, error)
        return False
    except OSError as exc:  # URLError, timeouts, refused connections
        logger.error("Slack API call failed (%s): %s", what, exc)
        return False
    return True
