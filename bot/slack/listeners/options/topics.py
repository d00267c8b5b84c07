"""The options of an external topic menu: the topics matching what was typed, by category."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, BoltContext

from bot.rendering.blocks.teaching import topic_option_groups
from bot.slack.answering.deps import deps_of

# Characters of the typed text looked at: a topic name is far shorter.
MAX_QUERY_CHARS = 100


def topic_menus_pattern(*actions: str) -> re.Pattern[str]:
    """Matches the action ids of these menus, with or without their ":<n>" suffix."""
    names = "|".join(re.escape(a) for a in actions)
    return re.compile(rf"^(?:{names})(?::\d+)?$")


def handle_topic_options(ack: Ack, payload: dict[str, Any], context: BoltContext) -> None:
    """At most 100 topics whose name, id or alias holds the typed text (all for none)."""
    kb = deps_of(context).service.knowledge
    query = str(payload.get("value") or "")[:MAX_QUERY_CHARS]
    groups = topic_option_groups(kb, query)
    if groups:
        ack(option_groups=groups)
    else:
        ack(options=[])
