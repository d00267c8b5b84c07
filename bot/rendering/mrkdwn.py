"""Escaping for Slack mrkdwn: echoed text must never turn into a ping or a link."""

from __future__ import annotations

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
