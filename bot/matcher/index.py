"""The search index built once from a KnowledgeBase: weighted terms, phrases, vocabulary."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import pairwise

from bot.knowledge.model import KnowledgeBase, Topic
from bot.matcher.normalize import content_words, stem

# How strongly a word in each field ties a question to a topic (1.0 = names the topic).
FIELD_WEIGHTS = (
    ("name", 1.0),
    ("aliases", 1.0),
    ("keywords", 0.9),
    ("questions", 0.6),
    ("summary", 0.45),
    ("facts", 0.3),
)
# Word pairs are indexed from these fields only: prose pairs are mostly noise.
PAIR_MIN_FIELD_WEIGHT = 0.6
# Words shorter than this are never typo-corrected: too many near neighbours.
MIN_CORRECTABLE_LENGTH = 4


@dataclass
class TopicIndex:
    topics: tuple[Topic, ...]
    # stem -> [(topic index, weight in 0..1)]
    postings: dict[str, list[tuple[int, float]]]
    idf: dict[str, float]
    # phrase (tuple of stems) -> topic indexes whose name or alias it is
    phrases: dict[tuple[str, ...], list[int]]
    longest_phrase: int
    # term (tuple of words) -> expansions (tuples of stems)
    synonyms: dict[tuple[str, ...], list[tuple[str, ...]]]
    # known words by length, for typo correction
    vocabulary_by_length: dict[int, list[str]]
    known_words: frozenset[str]
    # "a b" -> "ab" when people split a one-word name ("guard duty", "cloud trail")
    joined_words: frozenset[str]
    # each topic's example questions as space-joined stems, for fuzzy paraphrase scoring
    question_texts: list[list[str]]
    unknown_idf: float = 0.0
    max_idf: float = 0.0
    topic_count: int = field(init=False)

    def __post_init__(self) -> None:
        self.topic_count = len(self.topics)


def pair_term(first: str, second: str) -> str:
    return f"{first} {second}"


def stems_of(text: str) -> tuple[str, ...]:
    return tuple(stem(w) for w in content_words(text))


def build_index(kb: KnowledgeBase) -> TopicIndex:
    weights: list[dict[str, float]] = []
    phrases: dict[tuple[str, ...], list[int]] = defaultdict(list)
    surface: set[str] = set()
    question_texts: list[list[str]] = []

    for position, topic in enumerate(kb.topics):
        term_weights: dict[str, float] = {}
        for field_name, weight in FIELD_WEIGHTS:
            value = getattr(topic, field_name)
            texts = (value,) if isinstance(value, str) else value
            for text in texts:
                text_words = content_words(text)
                surface.update(text_words)
                stems = [stem(w) for w in text_words]
                # Adjacent pairs ("flow log", "response team") are terms too: a question
                # that uses the same pair is closer than one using the words apart.
                pairs = [pair_term(a, b) for a, b in pairwise(stems)]
                for key in stems + (pairs if weight >= PAIR_MIN_FIELD_WEIGHT else []):
                    if term_weights.get(key, 0.0) < weight:
                        term_weights[key] = weight
        weights.append(term_weights)
        for label in (topic.name, topic.id.replace("-", " "), *topic.aliases):
            phrase = stems_of(label)
            if phrase and position not in phrases[phrase]:
                phrases[phrase].append(position)
        question_texts.append([" ".join(stems_of(q)) for q in topic.questions])

    document_frequency: dict[str, int] = defaultdict(int)
    postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for position, term_weights in enumerate(weights):
        for key, weight in term_weights.items():
            document_frequency[key] += 1
            postings[key].append((position, weight))

    count = max(len(kb.topics), 1)
    idf = {key: math.log(1.0 + count / df) for key, df in document_frequency.items()}
    max_idf = math.log(1.0 + count)

    synonyms: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for term, expansions in kb.synonyms.items():
        words = tuple(content_words(term)) or tuple(term.split())
        expanded = [stems_of(e) for e in expansions]
        synonyms[words] = [e for e in expanded if e]
        surface.update(words)

    by_length: dict[int, list[str]] = defaultdict(list)
    for word in sorted(surface):
        if len(word) >= MIN_CORRECTABLE_LENGTH and not word.isdigit():
            by_length[len(word)].append(word)

    return TopicIndex(
        topics=kb.topics,
        postings=dict(postings),
        idf=idf,
        phrases=dict(phrases),
        longest_phrase=max((len(p) for p in phrases), default=1),
        synonyms=synonyms,
        vocabulary_by_length=dict(by_length),
        known_words=frozenset(surface),
        joined_words=frozenset(w for w in surface if len(w) >= 6),
        question_texts=question_texts,
        unknown_idf=max_idf * 0.8,
        max_idf=max_idf,
    )
