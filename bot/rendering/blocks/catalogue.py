"""Help, the topic list, the App Home catalogue, and the report message."""

from __future__ import annotations

from typing import Any

from bot.knowledge.model import KnowledgeBase
from bot.rendering import phrases
from bot.rendering.blocks.elements import (
    MAX_FALLBACK_TEXT,
    MAX_MESSAGE_BLOCKS,
    MAX_SECTION,
    MAX_VIEW_BLOCKS,
    context_block,
    divider_block,
    fit_blocks,
    header_block,
    section_block,
)
from bot.rendering.blocks.ids import SLASH_COMMAND
from bot.rendering.mrkdwn import escape_mrkdwn, truncate


def render_help_blocks() -> list[dict[str, Any]]:
    return [
        section_block(escape_mrkdwn(phrases.help_text(SLASH_COMMAND))),
        context_block(
            "You can also mention me in a channel (`@awssec …`) or send me a direct message."
        ),
    ]


def help_message() -> dict[str, Any]:
    return {"text": escape_mrkdwn(phrases.help_text(SLASH_COMMAND)), "blocks": render_help_blocks()}


def _category_sections(kb: KnowledgeBase) -> list[dict[str, Any]]:
    sections = []
    for category, topics in kb.by_category().items():
        names = " · ".join(escape_mrkdwn(t.name) for t in topics)
        sections.append(section_block(f"*{escape_mrkdwn(category)}* ({len(topics)})\n{names}"))
    return sections


def render_list_blocks(kb: KnowledgeBase) -> list[dict[str, Any]]:
    """`/awssec list`: every topic, grouped by category."""
    blocks = [header_block(f"Topics I know ({len(kb)})"), *_category_sections(kb)]
    hint = escape_mrkdwn(f"Ask `{SLASH_COMMAND} <question or topic name>` to see one.")
    return fit_blocks(blocks, [context_block(hint)], MAX_MESSAGE_BLOCKS)


def list_message(kb: KnowledgeBase) -> dict[str, Any]:
    text = f"{len(kb)} topics: " + ", ".join(t.name for t in kb.topics)
    return {
        "text": truncate(escape_mrkdwn(text), MAX_FALLBACK_TEXT),
        "blocks": render_list_blocks(kb),
    }


_HOME_USAGE = (
    "Ask me about AWS security and compliance services in plain words.\n"
    "• *In a channel:* mention me, I reply in a thread.\n"
    "• *In a DM:* just ask (the *Messages* tab).\n"
    f"• *Anywhere:* `{SLASH_COMMAND} <question>` answers privately, with a button to "
    f"share it. `{SLASH_COMMAND} list` lists topics, `{SLASH_COMMAND} help` shows help."
)


def render_catalogue_blocks(kb: KnowledgeBase) -> list[dict[str, Any]]:
    """The App Home tab: how to use the bot, then every topic by category."""
    examples = "\n".join(f"• `@awssec {escape_mrkdwn(q)}`" for q in phrases.EXAMPLE_QUESTIONS)
    blocks: list[dict[str, Any]] = [
        header_block("awssec: AWS security answers"),
        # Escaped as a whole: "<question>" unescaped would render as a broken link.
        section_block(escape_mrkdwn(_HOME_USAGE)),
        section_block(f"*Try:*\n{examples}"),
        divider_block(),
        header_block(f"Topics ({len(kb)})"),
        *_category_sections(kb),
    ]
    footer = [context_block(f"Knowledge version `{escape_mrkdwn(kb.version or 'unknown')}`")]
    return fit_blocks(blocks, footer, MAX_VIEW_BLOCKS)


def render_home_view(kb: KnowledgeBase) -> dict[str, Any]:
    return {"type": "home", "blocks": render_catalogue_blocks(kb)}


# ---------------------------------------------------------------- reports


def report_message(summary: str) -> dict[str, Any]:
    """`/awssec report`: the plain-text summary, shown verbatim (no mrkdwn)."""
    chunks, current = [], ""
    for line in summary.splitlines():
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > MAX_SECTION and current:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current:
        chunks.append(current)
    blocks = [
        {"type": "section", "text": {"type": "plain_text", "text": truncate(c, MAX_SECTION)}}
        for c in chunks
    ]
    return {
        "text": truncate(escape_mrkdwn(summary), MAX_FALLBACK_TEXT),
        "blocks": fit_blocks(blocks, [], MAX_MESSAGE_BLOCKS),
    }
