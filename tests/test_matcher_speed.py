"""The answering core's fast paths compute exactly what the plain definitions compute.

The index build, the candidate scoring and the tokeniser take shortcuts for speed
(bench/matcher_latency.py); each test here checks a shortcut against the definition it
replaces, float for float, so a speed change cannot change an answer unnoticed.
"""

from __future__ import annotations

import gc
import random
import unicodedata

import pytest
import yaml

from bot.knowledge import load_knowledge
from bot.matcher import Matcher, normalize
from bot.matcher.normalize import words
from bot.matcher.reading import Holdout
from tests.conftest import REPO


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_knowledge(REPO / "knowledge"))


def test_every_posting_is_the_bm25f_impact_by_definition(matcher: Matcher) -> None:
    index = matcher.index
    checked = 0
    for term, topics in index.postings.items():
        for topic, impacts in topics.items():
            counts, lengths = index.field_counts[topic], index.field_lengths[topic]
            assert impacts == index.impacts(counts, lengths, term), (term, topic)
            checked += 1
    # ...and every term a topic uses has its posting, and its document frequency.
    for topic, counts in enumerate(index.field_counts):
        for counter in counts.values():
            for term in counter:
                assert topic in index.postings[term]
    assert index.document_frequency == {
        term: sum(1 for counts in index.field_counts if any(term in c for c in counts.values()))
        for term in index.document_frequency
    }
    assert checked > 1000


def _all_topic_evidence(
    matcher: Matcher, words_: list[str], holdout: Holdout | None
) -> tuple[dict[int, float], dict[int, list[float]]]:
    reading = matcher.reader.read(words_, holdout)
    everyone = list(range(len(matcher.index.topics)))
    return matcher._scores(reading, holdout), matcher._evidence(everyone, reading, holdout)


def test_shortlist_score_is_the_full_evidence_first_value(matcher: Matcher) -> None:
    """The one-float-per-posting score that picks the shortlist equals the first value of the
    full evidence the features use, for every topic (the shortlist cannot differ)."""
    public = yaml.safe_load((REPO / "tests" / "questions.yaml").read_text())["questions"]
    cases: list[tuple[str, Holdout | None]] = [(entry["q"], None) for entry in public[:200]]
    for position, topic in enumerate(matcher.index.topics[:20]):
        for number, question in enumerate(topic.questions[:2]):
            cases += [(question, Holdout(position, number)), (question, Holdout(position))]
    for text, holdout in cases:
        scores, rows = _all_topic_evidence(matcher, words(text), holdout)
        for topic, row in rows.items():
            assert scores.get(topic, 0.0) == row[0], (text, holdout, topic)
            # A topic without a score has no evidence at all.
            if topic not in scores:
                assert row == [0.0] * len(row)


def test_one_reading_word_shortcuts_equal_the_general_path(matcher: Matcher) -> None:
    """Scoring and evidence take a shortcut for a word with one reading and one stem; a
    holdout naming no document takes the general path, which must give the same floats."""
    public = yaml.safe_load((REPO / "tests" / "questions.yaml").read_text())["questions"]
    nobody = Holdout(10**9)  # leaves nothing out, and turns the shortcuts off
    every_document = list(range(len(matcher.index.topics) + len(matcher.index.area_names)))
    for entry in public:
        reading = matcher.reader.read(words(entry["q"]))
        assert matcher._scores(reading, None) == matcher._scores(reading, nobody), entry["q"]
        fast = matcher._evidence(every_document, reading, None)
        assert fast == matcher._evidence(every_document, reading, nobody), entry["q"]


def _words_by_definition(text: str) -> list[str]:
    text = normalize.strip_slack_markup(text[: normalize.MAX_QUESTION_CHARS * 4])
    text = normalize._POSSESSIVE.sub("", text[: normalize.MAX_QUESTION_CHARS].lower())
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return [w for w in normalize._NON_WORD.split(text.replace("'", "")) if w]


def test_tokeniser_shortcuts_change_nothing() -> None:
    pieces = [*"abc XYZ's'\u2019<>@#!|&;:/.-_ é İ ﬁ 12", "<@U1|bob>", "&amp;", "&lt;@U2&gt;"]
    pieces += ["https://x.y/z", ":smile:", "<https://a|label>", "\u2019s", "'s", "\u00c9T\u00c9"]
    rng = random.Random(11)
    texts = ["".join(rng.choices(pieces, k=rng.randint(0, 25))) for _ in range(20_000)]
    texts += ["x" * 3990 + "<@U1> " + "abc " * 500, "é" * 999 + "İabc", "a" * 5000]
    for text in texts:
        assert words(text) == _words_by_definition(text), text


def test_index_build_leaves_the_garbage_collector_as_it_was() -> None:
    kb = load_knowledge(REPO / "knowledge")
    assert gc.isenabled()
    Matcher(kb)
    assert gc.isenabled()
    gc.disable()
    try:
        Matcher(kb)
        assert not gc.isenabled()
    finally:
        gc.enable()
