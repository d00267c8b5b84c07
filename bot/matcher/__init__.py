"""Matcher layer: a question in, an `Answer` (ranked topics and a confidence) out."""

from bot.matcher.answer import Answer, AnswerKind
from bot.matcher.matcher import Matcher, match_question

__all__ = ["Answer", "AnswerKind", "Matcher", "match_question"]
