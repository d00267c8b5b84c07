"""Score the matcher against a YAML file of questions with the topics they expect.

Besides accuracy and refusal: a reliability table (does a confidence of 0.8 mean right four
times in five?), a threshold sweep, how often "did you mean" holds the right topic, and
cross-validation over the knowledge's own example questions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.knowledge import KnowledgeBase
from bot.matcher.answer import Answer, AnswerKind
from bot.matcher.matcher import Matcher
from bot.matcher.reading import Holdout

# Confidence buckets of the reliability table, and the thresholds of the sweep.
RELIABILITY_BUCKETS = 10
SWEEP_THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(1, 20))
# The sweep reports in-scope accuracy at the lowest threshold that refuses this share of
# out-of-scope questions.
TARGET_REFUSAL = 0.95


@dataclass(frozen=True, slots=True)
class EvalQuestion:
    text: str
    expect: tuple[str, ...]  # empty: no topic should be claimed

    @property
    def in_scope(self) -> bool:
        return bool(self.expect)


@dataclass(frozen=True, slots=True)
class Record:
    question: EvalQuestion
    answer: Answer
    top: str | None  # the best candidate, answered or not
    probability: float  # the matcher's estimate that `top` is right
    correct: bool


@dataclass
class EvalResult:
    records: list[Record] = field(default_factory=list)

    @property
    def in_scope(self) -> int:
        return sum(r.question.in_scope for r in self.records)

    @property
    def correct(self) -> int:
        return sum(r.correct for r in self.records if r.question.in_scope)

    @property
    def out_of_scope(self) -> int:
        return sum(not r.question.in_scope for r in self.records)

    @property
    def refused(self) -> int:
        return sum(r.correct for r in self.records if not r.question.in_scope)

    @property
    def misses(self) -> list[tuple[EvalQuestion, Answer]]:
        return [(r.question, r.answer) for r in self.records if not r.correct]

    @property
    def accuracy(self) -> float:
        return self.correct / self.in_scope if self.in_scope else 1.0

    @property
    def refusal_rate(self) -> float:
        return self.refused / self.out_of_scope if self.out_of_scope else 1.0

    def suggestion_hits(self) -> tuple[int, int]:
        """In-scope questions not answered: how many offer the right topic as "did you mean"."""
        unanswered = [
            r
            for r in self.records
            if r.question.in_scope and len(r.question.expect) == 1 and not r.answer.topics
        ]
        hits = sum(r.question.expect[0] in r.answer.suggestion_ids for r in unanswered)
        return hits, len(unanswered)

    def report_lines(self) -> list[str]:
        """One line per miss, then the figures."""
        lines = []
        for question, answer in self.misses:
            expected = ", ".join(question.expect) or "(no topic)"
            got = ", ".join(answer.topic_ids) or "(no topic)"
            hint = f" suggestions={answer.suggestion_ids}" if answer.suggestions else ""
            lines.append(
                f"MISS {question.text!r}: expected {expected}, got {got} "
                f"(confidence {answer.confidence:.2f}){hint}"
            )
        return lines + self.figure_lines()

    def figure_lines(self) -> list[str]:
        """Accuracy, refusal and how often "did you mean" holds the right topic."""
        lines = [
            f"in-scope top-1 accuracy: {self.accuracy:.1%} ({self.correct}/{self.in_scope})",
            f"out-of-scope refusal rate: {self.refusal_rate:.1%} "
            f"({self.refused}/{self.out_of_scope})",
        ]
        hits, unanswered = self.suggestion_hits()
        if unanswered:
            lines.append(
                f"unanswered in-scope questions with the right topic in 'did you mean': "
                f"{hits / unanswered:.1%} ({hits}/{unanswered})"
            )
        return lines

    def reliability_lines(self) -> list[str]:
        """Confidence buckets against how often the best candidate was the right topic."""
        lines = ["confidence   questions   top topic right"]
        for bucket in range(RELIABILITY_BUCKETS):
            low, high = bucket / RELIABILITY_BUCKETS, (bucket + 1) / RELIABILITY_BUCKETS
            inside = [
                r
                for r in self.records
                if len(r.question.expect) <= 1
                and low <= r.probability < (high if bucket < RELIABILITY_BUCKETS - 1 else 1.01)
            ]
            if not inside:
                continue
            right = sum(_top_right(r) for r in inside)
            lines.append(
                f"{low:.1f}-{high:.1f}     {len(inside):>9}   {right / len(inside):>8.1%} "
                f"({right}/{len(inside)})"
            )
        return lines

    def sweep(self) -> list[tuple[float, float, float]]:
        """(threshold, in-scope accuracy, out-of-scope refusal) for each threshold."""
        rows = []
        single = [r for r in self.records if len(r.question.expect) <= 1]
        in_scope = [r for r in single if r.question.in_scope]
        outside = [r for r in single if not r.question.in_scope]
        for threshold in SWEEP_THRESHOLDS:
            accuracy = (
                sum(r.probability >= threshold and _top_right(r) for r in in_scope) / len(in_scope)
                if in_scope
                else 1.0
            )
            refusal = (
                sum(r.probability < threshold for r in outside) / len(outside) if outside else 1.0
            )
            rows.append((threshold, accuracy, refusal))
        return rows

    def sweep_lines(self, threshold_in_use: float) -> list[str]:
        lines = ["threshold   in-scope accuracy   out-of-scope refusal"]
        rows = self.sweep()
        for threshold, accuracy, refusal in rows:
            lines.append(f"{threshold:>9.2f}   {accuracy:>17.1%}   {refusal:>20.1%}")
        meeting = [row for row in rows if row[2] >= TARGET_REFUSAL]
        if meeting:
            threshold, accuracy, refusal = meeting[0]
            lines.append(
                f"at {threshold:.2f}, the lowest threshold refusing >= {TARGET_REFUSAL:.0%} of "
                f"out-of-scope questions ({refusal:.1%}): in-scope accuracy {accuracy:.1%}"
            )
        lines.append(f"(threshold in use: {threshold_in_use:.2f}; comparisons are left out)")
        return lines


def _top_right(record: Record) -> bool:
    return record.question.in_scope and record.top == record.question.expect[0]


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


def _record(matcher: Matcher, question: EvalQuestion, holdout: Holdout | None = None) -> Record:
    explanation = matcher.explain(question.text, holdout)
    answer = explanation.answer
    ranking = explanation.ranking
    if ranking is None or answer.kind is AnswerKind.SMALL_TALK:
        top, probability = None, 0.0
    elif ranking.reading.about_uncovered or ranking.closer_to_area:
        # Refused before the fitted decision, whatever its probability: counted as 0, as
        # `awssec fit` counts it when choosing the threshold.
        top, probability = matcher.index.topics[ranking.candidates[0].topic].id, 0.0
    else:
        top = matcher.index.topics[ranking.candidates[0].topic].id
        probability = ranking.probability
    return Record(question, answer, top, probability, is_correct(question, answer))


def evaluate(matcher: Matcher, questions: list[EvalQuestion]) -> EvalResult:
    return EvalResult([_record(matcher, q) for q in questions])


def cross_validate(matcher: Matcher) -> tuple[EvalResult, EvalResult]:
    """Each example question of the knowledge matched without itself (in scope: its topic is
    right), and without its whole topic (out of scope: the bot should say it does not know)."""
    leave_one_out, leave_topic_out = EvalResult(), EvalResult()
    for position, topic in enumerate(matcher.index.topics):
        for number, text in enumerate(topic.questions):
            leave_one_out.records.append(
                _record(matcher, EvalQuestion(text, (topic.id,)), Holdout(position, number))
            )
            leave_topic_out.records.append(
                _record(matcher, EvalQuestion(text, ()), Holdout(position))
            )
    return leave_one_out, leave_topic_out


def cross_validate_areas(matcher: Matcher) -> tuple[EvalResult, EvalResult]:
    """Each out-of-scope area's example question matched without itself, and without its whole
    area (a question to refuse that no area covers): both should be refused."""
    without_question, without_area = EvalResult(), EvalResult()
    first_area = matcher.index.first_area
    for number_of_area, area in enumerate(matcher.kb.out_of_scope):
        position = first_area + number_of_area
        for number, text in enumerate(area.questions):
            question = EvalQuestion(text, ())
            without_question.records.append(_record(matcher, question, Holdout(position, number)))
            without_area.records.append(_record(matcher, question, Holdout(position)))
    return without_question, without_area
