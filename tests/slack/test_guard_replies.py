"""Public replies never quote a question holding something shaped like a key or token."""

from __future__ import annotations

import json
import logging

from bot.matcher.service import AnswerService
from bot.slack.answering.deps import Deps
from bot.slack.answering.replies import QUESTION_NOT_QUOTED, Where, build_reply
from bot.slack.reliability.dedup import MemoryDeduplicator

log = logging.getLogger("test")
WHERE = Where("mention", "T1", "U1", "C1")
# Random-looking, but no known credential format: the guard cannot name it.
UNNAMED = "Zq8Vd2Lx7NpR4kTzW9bYc3HmF6sJ"


def _reply(service: AnswerService, question: str, **kwargs) -> tuple[bool, str]:
    deps = Deps(service=service, dedup=MemoryDeduplicator())
    reply = build_reply(deps, question, WHERE, log, **kwargs)
    return reply.private, json.dumps(reply.message)


def test_dont_know_reply_does_not_quote_a_secret_shaped_question(
    slack_service: AnswerService,
) -> None:
    private, message = _reply(slack_service, f"blorfle wibble {UNNAMED} zork")
    assert not private
    assert UNNAMED not in message and "blorfle" not in message
    assert QUESTION_NOT_QUOTED in message


def test_share_button_does_not_carry_a_secret_shaped_question(
    slack_service: AnswerService,
) -> None:
    _, message = _reply(slack_service, f"which service finds PII? {UNNAMED}", shareable=True)
    assert UNNAMED not in message


def test_ordinary_question_is_still_quoted(slack_service: AnswerService) -> None:
    _, message = _reply(slack_service, "blorfle wibble zork")
    assert "blorfle wibble zork" in message
    assert QUESTION_NOT_QUOTED not in message


def test_obfuscated_credential_gets_the_private_warning(slack_service: AnswerService) -> None:
    # A key id broken by zero-width characters: caught, so warned privately, never echoed.
    key = "AKIAJ7Q3R\u200bZ5XW2MB4T6K"
    private, message = _reply(slack_service, f"blorfle {key}")
    assert private
    assert "AKIAJ7Q3R" not in message and "Z5XW2MB4T6K" not in message


def test_a_secret_straddling_the_length_cut_is_still_caught(
    slack_service: AnswerService,
) -> None:
    from bot.slack.answering.replies import MAX_QUESTION_CHARS

    key = "AKIAJ7Q3RZ5XW2MB4T6K"
    padding = "which service finds PII " * (MAX_QUESTION_CHARS // 24)
    question = padding[: MAX_QUESTION_CHARS - 8] + " " + key
    private, message = _reply(slack_service, question)
    assert private
    assert "AKIAJ7Q" not in message
