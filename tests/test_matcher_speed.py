"""The answering core's fast paths compute exactly what the plain definitions compute.

The index build, the candidate scoring and the tokeniser take shortcuts for speed
(bench/matcher_latency.py); each test here checks a shortcut against the definition it
replaces, float for float, so a speed change cannot change an answer unnoticed.
"""

from __future__ import annotations

import gc
import itertools
import random
import re
import unicodedata
from collections import Counter

import pytest
import yaml
from rapidfuzz.distance import OSA

from bot.knowledge import load_knowledge
from bot.matcher import Matcher, normalize
from bot.matcher.index import _field_terms, stems_of, topic_field_texts
from bot.matcher.normalize import words
from bot.matcher.reading import Holdout, nearest_by_scan
from bot.matcher.settings import PAIR_FIELDS
from tests.conftest import REPO, topic_yaml


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
) -> tuple[list[float], dict[int, list[float]]]:
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
            assert scores[topic] == row[0], (text, holdout, topic)
            # A topic without a score has no evidence at all.
            if not scores[topic]:
                assert row == [0.0] * len(row)


def test_one_reading_word_shortcuts_equal_the_general_path(matcher: Matcher) -> None:
    """Scoring and evidence read each group's best reading per document from its postings
    (or the kept readings of a group with several); a holdout naming no document
    takes the general path, which must give the same floats."""
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
    text = normalize._I_WOULD.sub("i", text)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return [w for w in re.split(r"[^a-z0-9]+", text.replace("'", "")) if w]


def test_tokeniser_shortcuts_change_nothing() -> None:
    pieces = [*"abc XYZ's'\u2019<>@#!|&;:/.-_ é İ ﬁ 12", "<@U1|bob>", "&amp;", "&lt;@U2&gt;"]
    pieces += ["https://x.y/z", ":smile:", "<https://a|label>", "\u2019s", "'s", "\u00c9T\u00c9"]
    pieces += [" I'd ", "i\u2019d", "ID"]
    rng = random.Random(11)
    texts = ["".join(rng.choices(pieces, k=rng.randint(0, 25))) for _ in range(20_000)]
    texts += ["x" * 3990 + "<@U1> " + "abc " * 500, "é" * 999 + "İabc", "a" * 5000]
    for text in texts:
        assert words(text) == _words_by_definition(text), text
    # Many texts read in one pass: each one's words, then the line end, whatever markup
    # they hold (none spans from one text into the next).
    short = [t for t in texts if len(t) <= normalize.MAX_QUESTION_CHARS]
    for start in range(0, len(short), 50):
        batch = short[start : start + 50]
        expected = [w for text in batch for w in (*words(text), normalize.LINE_END)]
        assert normalize.lines_words(batch) == expected


def test_a_field_read_in_one_pass_gives_each_texts_own_words_and_terms(
    matcher: Matcher,
) -> None:
    """Keywords, summaries and facts are read a whole field at a time: the same words, and
    the same terms (stems, and pairs within each text, never across two), as reading each
    text on its own."""
    fields = 0
    for topic in matcher.index.topics:
        texts_by_field = topic_field_texts(topic)
        for name in ("keywords", "summary", "facts"):
            texts = texts_by_field[name]
            one_pass_words, one_pass_terms = _field_terms(texts, pairs=name in PAIR_FIELDS)
            each_words = [w for text in texts for w in normalize.content_words(text)]
            each_terms: list[str] = []
            for text in texts:
                stems = stems_of(text)
                each_terms += stems
                if name in PAIR_FIELDS:
                    each_terms += [f"{a} {b}" for a, b in itertools.pairwise(stems)]
            assert one_pass_words == each_words, (topic.id, name)
            assert Counter(one_pass_terms) == Counter(each_terms), (topic.id, name)
            fields += 1
    assert fields == 3 * len(matcher.index.topics)


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


def _one_edit_by_scan(matcher: Matcher, word: str) -> set[str]:
    """Every correctable known word one OSA edit from `word`, by comparing with each."""
    return {
        known
        for known_words in matcher.index.vocabulary_by_length.values()
        for known in known_words
        if OSA.distance(word, known) <= 1
    }


def test_the_deletion_index_finds_every_word_one_edit_away(matcher: Matcher) -> None:
    tables = matcher.reader.typo_tables()
    vocabulary = sorted(w for ws in matcher.index.vocabulary_by_length.values() for w in ws)
    rng = random.Random(5)
    letters = "abcdefghijklmnopqrstuvwxyz0"
    typos = []
    for known in rng.sample(vocabulary, 300):
        i = rng.randrange(len(known))
        typos += [
            known[:i] + known[i + 1 :],  # a letter left out
            known[:i] + rng.choice(letters) + known[i:],  # one too many
            known[:i] + rng.choice(letters) + known[i + 1 :],  # one mistyped
            known[:i] + known[i + 1 : i + 2] + known[i : i + 1] + known[i + 2 :],  # swapped
        ]
    typos += ["".join(rng.choices(letters, k=rng.randint(4, 12))) for _ in range(300)]
    checked = 0
    for typo in typos:
        if len(typo) < 4 or typo in matcher.index.known_words:
            continue
        assert set(tables.one_edit(typo)) == _one_edit_by_scan(matcher, typo), typo
        # ...and the scan a process does before it builds the tables finds the same words.
        distance, near = tables.nearest(typo)
        by_scan = nearest_by_scan(matcher.index.vocabulary_by_length, typo)
        assert (distance, sorted(near)) == (by_scan[0], sorted(by_scan[1])), typo
        checked += 1
    assert checked > 1000


def test_two_edit_corrections_keep_the_first_letter(write_knowledge) -> None:
    topics = "topics:\n" + topic_yaml(
        "guardduty", name="Amazon GuardDuty", questions=["what does authentication do"]
    )
    kb = load_knowledge(write_knowledge({"t.yaml": topics}))
    reader = Matcher(kb).reader
    assert reader._correct("athentcation") == ("authentication", 2)  # two edits, same letter
    assert reader._correct("zuthentcation") is None  # two edits and another first letter
    assert reader._correct("guardduy") == ("guardduty", 1)


def test_kept_reading_groups_are_bounded(matcher: Matcher, monkeypatch: pytest.MonkeyPatch) -> None:
    """A group of several readings (a synonym's expansions, a typo fix) is worked out once
    per process and kept, up to MAX_KEPT_GROUPS groups: pasted junk cannot grow it."""
    monkeypatch.setattr("bot.matcher.matcher.MAX_KEPT_GROUPS", 3)
    fresh = Matcher(matcher.kb, matcher.model, index=matcher.index)
    for text in ["kms keys", "s3 pii", "sheild ddos", "hipaa phi", "gaurdduty"]:
        before = fresh.match(text)
        assert len(fresh._kept) <= 3
        assert fresh.match(text) == before  # the kept group answers the same


def test_question_terms_counted_at_first_use_are_the_example_questions_terms(
    matcher: Matcher,
) -> None:
    index = matcher.index
    for position, topic in enumerate(index.topics):
        for number, question in enumerate(topic.questions):
            stems = stems_of(question)
            expected = Counter([*stems, *(" ".join(p) for p in itertools.pairwise(stems))])
            assert index.question_terms[position][number] == expected, question


def test_typo_tables_are_built_only_once_a_process_has_corrected_a_few_words(
    matcher: Matcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.matcher.reading.SCANS_BEFORE_TYPO_TABLES", 2)
    reader = Matcher(matcher.kb, matcher.model, index=matcher.index).reader
    assert reader._correct("gaurdduty") == ("guardduty", 1)
    assert reader._correct("cloudtrial") == ("cloudtrail", 1)
    assert reader._typos is None  # a one-shot process stops here, without the tables
    assert reader._correct("inspecter") == ("inspector", 1)
    assert reader._typos is not None
