"""Score the matcher against a YAML file of questions with the topics they expect."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.knowledge import KnowledgeBase
from bot.matcher.answer import Answer
from bot.matcher.matcher import Matcher


@dataclass(frozen=True, slots=True)
class EvalQuestion:
    text: str
    expect: tuple[str, ...]  # empty: no topic should be claimed

    @property
    def in_scope(self) -> bool:
        return bool(self.expect)


@dataclass
class EvalResult:
    in_scope: int = 0
    correct: int = 0
    out_of_scope: int = 0
    refused: int = 0
    misses: list[tuple[EvalQuestion, Answer]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.in_scope if self.in_scope else 1.0

    @property
    def refusal_rate(self) -> float:
        return self.refused / self.out_of_scope if self.out_of_scope else 1.0

    def report_lines(self) -> list[str]:
        lines = []
        for question, answer in self.misses:
            expected = ", ".join(question.expect) or "(no topic)"
            got = ", ".join(answer.topic_ids) or "(no topic)"
            hint = f" suggestions={answer.suggestion_ids}" if answer.suggestions else ""
            lines.append(
                f"MISS {question.text!r}: expected {expected}, got {got} "
                f"(confidence {answer.confidence:.2f}){hint}"
            )
        lines.append(
            f"in-scope top-1 accuracy: {self.accuracy:.1%} ({self.correct}/{self.in_scope})"
        )
        lines.append(
            f"out-of-scope refusal rate: {self.refusal_rate:.1%} "
            f"({self.refused}/{self.out_of_scope})"
        )
        return lines


def is_correct(question: EvalQuestion, answer: Answer) -> bool:
    if not question.in_scope:
        return not answer.topics
    if len(question.expect) == 1:
        return bool(answer.topics) and answer.topics[0].id == question.expect[0]
    return set(question.expect) <= set(answer.topic_ids)


def load_questions(path: str | os.PathLike[str], kb: KnowledgeBase) -> list[EvalQuestion]:
    """Read `questions: [{q, expect}]`; raise ValueError with a one-line reason if malformed."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ValueError(f"{path}{where}: invalid YAML") from exc
    entries = data.get("questions") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a top-level 'questions:' list")
    questions = []
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("q"), str):
            raise ValueError(f"{path}: question #{number} needs a 'q' string")
        expect = entry.get("expect")
        if expect is not None and not isinstance(expect, (str, list)):
            expect = [expect]  # reported just below
        ids = (expect,) if isinstance(expect, str) else tuple(expect or ())
        if not all(isinstance(i, str) for i in ids):
            raise ValueError(
                f"{path}: question #{number}: 'expect' must be a topic id, a list of ids or null"
            )
        unknown = [i for i in ids if kb.get(i) is None]
        if unknown:
            raise ValueError(f"{path}: question #{number} expects unknown topic {unknown[0]!r}")
        questions.append(EvalQuestion(entry["q"], ids))
    return questions


def evaluate(matcher: Matcher, questions: list[EvalQuestion]) -> EvalResult:
    result = EvalResult()
    for question in questions:
        answer = matcher.match(question.text)
        ok = is_correct(question, answer)
        if question.in_scope:
            result.in_scope += 1
            result.correct += ok
        else:
            result.out_of_scope += 1
            result.refused += ok
        if not ok:
            result.misses.append((question, answer))
    return result
