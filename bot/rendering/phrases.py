"""Wording shared by every surface (terminal, Slack text, Block Kit)."""

from __future__ import annotations

import datetime

EXAMPLE_QUESTIONS = (
    "which service finds PII?",
    "who is responsible for patching the OS?",
    "KMS vs CloudHSM",
    "how do I rotate database credentials?",
)

DONT_KNOW = "I don't know that one, sorry."
CLOSEST = "Closest topics I know:"
DID_YOU_MEAN = "Did you mean"
LIST_HINT = "Try `{list_command}` to see every topic I know."
EMPTY_QUESTION = "Ask me an AWS security or compliance question, e.g. “{example}”."

SMALL_TALK_REPLIES = {
    "greeting": "Hi! I answer AWS security and compliance questions. Try “{example}”.",
    "thanks": "You're welcome! Ask me anything else about AWS security.",
}


def help_text(command: str = "awssec") -> str:
    """Usage, prefixed as on the surface: `awssec` in a terminal, `/awssec` in Slack, nothing
    at the `awssec chat` prompt."""
    prefix = f"{command} " if command else ""
    examples = "\n".join(f"  • {prefix}{q}" for q in EXAMPLE_QUESTIONS)
    return (
        "I answer AWS security and compliance questions: which service does what, "
        "who is responsible for what, and how services compare.\n"
        f"Ask in plain words, for example:\n{examples}\n"
        f"`{prefix}list` shows every topic I know; `{prefix}help` shows this message."
    )


def small_talk_reply(kind: str, command: str = "awssec") -> str:
    if kind == "help":
        return help_text(command)
    template = SMALL_TALK_REPLIES.get(kind, SMALL_TALK_REPLIES["greeting"])
    return template.format(example=EXAMPLE_QUESTIONS[0])


def empty_question_reply() -> str:
    return EMPTY_QUESTION.format(example=EXAMPLE_QUESTIONS[0])


def reviewed_label(day: datetime.date) -> str:
    """When the topic's facts were last checked against the AWS docs: "Reviewed Nov 2026"."""
    return f"Reviewed {day:%b %Y}"
