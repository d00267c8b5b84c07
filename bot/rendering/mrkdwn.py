"""Escaping for Slack mrkdwn: echoed text must never turn into a ping or a link."""

from __future__ import annotations

import re

# Slack only treats these three as control characters in mrkdwn; escaping them turns
# `<!channel>`, `<@U123>` and `<https://evil|click>` into inert text.
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def escape_mrkdwn(text: str) -> str:
    """`text` with `&`, `<` and `>` escaped as Slack requires."""
    return text.translate(_ESCAPES)


def truncate(text: str, limit: int, ellipsis: str = "…") -> str:
    """`text` cut to at most `limit` characters, at a word boundary when one is close."""
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - len(ellipsis))]
    # Prefer a word boundary, but not at the price of losing most of the text.
    space = cut.rfind(" ")
    if space >= len(cut) * 0.8:
        cut = cut[:space]
    # Never leave half an escape sequence such as "&am" behind.
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut.rstrip() + ellipsis


# Slack control sequences in message text: <@U123>, <@U123|name>, <#C123|general>, <!here>,
# <!subteam^S123|@team>, <!date^...|fallback>, <https://x|label>, <mailto:a@b|a@b>.
# Bounded quantifiers keep this linear on hostile input such as "<@U" repeated 10,000 times.
_CONTROL = re.compile(r"<([@#!]?)([^<>|]{0,500})(?:\|([^<>]{0,500}))?>")
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))


def plain_from_slack(text: str) -> str:
    """Message text as Slack sends it (escaped, with control sequences) as inert plain text.

    `<@U123>` → `@U123`, `<#C1|general>` → `#general`, `<!here>` → `@here`,
    `<https://x|label>` → `label`, then `&lt;`, `&gt;`, `&amp;` → `<`, `>`, `&`. The result
    is meant to be escaped once (`escape_mrkdwn`) and shown with `"verbatim": true`, so that
    nothing in it pings, links or mentions anyone.
    """
    text = _CONTROL.sub(_label, text)
    for entity, char in _ENTITIES:
        text = text.replace(entity, char)
    return text


def _label(match: re.Match[str]) -> str:
    sigil, target, label = match.group(1), match.group(2), match.group(3)
    if sigil == "@":  # a user: <@U123> or <@U123|name>
        return f"@{label or target}"
    if sigil == "#":  # a channel: <#C123|general>
        return f"#{label or target}"
    if sigil == "!":  # <!here>, <!channel>, <!subteam^S1|@team>, <!date^…|fallback>
        if label:
            return label if target.startswith(("subteam^", "date^")) else f"@{label}"
        return f"@{target.split('^', 1)[0]}"
    return label or target  # a link: <https://x|label> or <https://x>
