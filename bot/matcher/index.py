"""The search index built once from a KnowledgeBase: BM25F term impacts, names, vocabulary.

Each topic is a document with five fields (names, keywords, example questions, summary,
facts). A term (a stem, or a pair of adjacent stems) gets one *impact* per topic in [0, 1):
its field-weighted, length-normalised, saturated frequency (BM25F). Scoring a question is
then a sum of `idf × impact` over its terms, which is a dictionary walk per term.

The per-field counts are kept, so cross-validation can take one example question (or one
whole topic) out of the index without rebuilding it: see `impact_without`.
"""

from __future__ import annotations

import gc
import math
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import pairwise

from bot.knowledge.model import KnowledgeBase, OutOfScopeArea, Topic
from bot.knowledge.problems import Problem
from bot.matcher.normalize import LINE_END, STOPWORDS, content_words, is_filler, lines_words, stem
from bot.matcher.normalize import words as normalize_words
from bot.matcher.settings import (
    DEFAULT_B,
    DEFAULT_FIELD_WEIGHTS,
    DEFAULT_K1,
    FIELD_GROUPS,
    FIELDS,
    MIN_CORRECTABLE_LENGTH,
    PAIR_FIELDS,
    UNKNOWN_WORD_WEIGHT,
)


@dataclass(frozen=True)
class RetrievalParams:
    field_weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_FIELD_WEIGHTS))
    k1: float = DEFAULT_K1
    b: float = DEFAULT_B


# The fields whose texts are read one at a time, because something is kept per text: each
# name's phrase, each example question's stems. The others are read a field at a time.
PER_TEXT_FIELDS = ("names", "questions")


def pair_term(first: str, second: str) -> str:
    return f"{first} {second}"


def stems_of(text: str) -> tuple[str, ...]:
    return tuple(stem(w) for w in content_words(text))


def _with_pairs(stems: tuple[str, ...]) -> list[str]:
    """Stems plus adjacent stem pairs, for the fields where pairs carry meaning."""
    # " ".join of a pair is `pair_term`, without a Python call per pair.
    return [*stems, *map(" ".join, pairwise(stems))]


# A summary's clauses (sentences, or parts of one between semicolons)...
_CLAUSE_END = re.compile(r"(?<=[.;])\s+")
# ...that send the reader to another topic: "see AWS KMS", "see data-residency", "belong in
# Secrets Manager", "use AWS Backup Vault Lock instead", "is covered by S3 access control".
# Not "to see what happened" or "instead of SSH keys", which describe the topic itself.
_POINTER = re.compile(
    r"\bsee (?:the )?(?:[A-Z]|[a-z0-9]+-[a-z0-9-]+\b|iam\b)"
    r"|\bbelongs? (?:in|to)\b"
    r"|\binstead\s*[.;]?\s*$"
    r"|\bcovered by\b"
)


def topic_field_texts(topic: Topic) -> dict[str, tuple[str, ...]]:
    return {
        "names": (topic.name, topic.id.replace("-", " "), *topic.aliases),
        "keywords": topic.keywords,
        "questions": topic.questions,
        "summary": own_summary_clauses(topic.summary),
        "facts": topic.facts,
    }


def own_summary_clauses(summary: str) -> tuple[str, ...]:
    """The summary without the clauses pointing to another topic ("for the keys themselves see
    AWS KMS"): those are the other topic's words, and indexed here they drew its questions to
    this one ("shell access without opening port 22" to security groups, whose summary sends
    it to Session Manager). The reader still sees them in the answer."""
    return tuple(c for c in _CLAUSE_END.split(summary) if not _POINTER.search(c))


def unread_texts(kb: KnowledgeBase) -> list[Problem]:
    """Warnings for the aliases, keywords and example questions the index reads no word
    from: every word is filler ("aws or us", "all features"), so they cannot draw a question
    to their topic however well it matches them."""
    warnings = []
    for topic in kb.topics:
        for field_name, texts in (
            ("alias", topic.aliases),
            ("keyword", topic.keywords),
            ("example question", topic.questions),
        ):
            for text in texts:
                if not content_words(text):
                    warnings.append(
                        Problem(
                            topic.file,
                            topic.line,
                            f"warning: topic '{topic.id}' {field_name} '{text}' is only filler "
                            "words: the matcher reads nothing from it",
                        )
                    )
    return warnings


def area_field_texts(area: OutOfScopeArea) -> dict[str, tuple[str, ...]]:
    """An out-of-scope area as a document: its questions, and its name as keywords (never as
    a name: nobody "names" an area, and naming is strong evidence)."""
    return {
        "names": (),
        "keywords": (area.name,),
        "questions": area.questions,
        "summary": (),
        "facts": (),
    }


@dataclass
class TopicIndex:
    """Documents 0 .. len(topics)-1 are the topics; the ones after them (`first_area` on) are
    the knowledge's out-of-scope areas, which compete in retrieval but are never answered."""

    topics: tuple[Topic, ...]
    params: RetrievalParams
    # per topic, per field: term counts and length (in terms)
    field_counts: list[dict[str, Counter[str]]]
    field_lengths: list[dict[str, int]]
    average_lengths: dict[str, float]
    # term -> number of topics using it anywhere, and its BM25 idf
    document_frequency: dict[str, int]
    idf: dict[str, float]
    # term -> {topic index: impact in 0..1 over all fields, then per field group}
    postings: dict[str, dict[int, tuple[float, ...]]]
    # phrase (tuple of stems) -> topic indexes whose name or alias it is
    phrases: dict[tuple[str, ...], list[int]]
    longest_phrase: int
    # term (tuple of words) -> expansions (tuples of stems), and the word of each one-word
    # expansion (None for longer ones)
    synonyms: dict[tuple[str, ...], list[tuple[str, ...]]]
    synonym_words: dict[tuple[str, ...], list[str | None]]
    # synonyms with filler words in them ("us or aws"), as typed -> the words they are read as
    typed_phrases: dict[tuple[str, ...], tuple[str, ...]]
    # known surface words by length, for typo correction
    vocabulary_by_length: dict[int, list[str]]
    known_words: frozenset[str]
    # words of topics' names and aliases: preferred when a typo is as close to another word
    name_words: frozenset[str]
    # stem of a one-word name or alias -> the words that name it: the name as written and
    # its plural. The stemmer merges "signer" with "sign", "certification" with
    # "certificate": "how do I sign in" must not name AWS Signer.
    one_word_names: dict[str, frozenset[str]]
    # "a b" -> "ab" when people split a one-word name ("guard duty", "cloud trail"): names and
    # aliases only; joining into any known word made every "s3 object" the keyword
    # "s3object" (a Macie finding type)
    joined_words: frozenset[str]
    # each topic's example questions as space-joined stems, for fuzzy paraphrase scoring
    question_texts: list[list[str]]
    # ... with the stems sorted: token_sort_ratio's first step, done once here
    question_sorted: list[list[str]]
    max_idf: float = 0.0
    unknown_idf: float = 0.0
    # stemmed names of AWS services the knowledge has no topic for (`services:` in knowledge)
    uncovered_phrases: frozenset[tuple[str, ...]] = frozenset()
    # stemmed names of the other cloud providers and vendors (`other_clouds:` and
    # `other_vendors:` in knowledge)...
    other_provider_phrases: frozenset[tuple[str, ...]] = frozenset()
    # ...and the first word of each provider's name as typed ("azure", "google")
    other_provider_words: frozenset[str] = frozenset()
    # ...of which the vendors' (never a place: "a vulnerability in chrome" is about Chrome)
    other_vendor_words: frozenset[str] = frozenset()
    # stemmed names of every AWS service the knowledge lists (`services:`, covered or not):
    # naming one says a question is about AWS
    service_phrases: frozenset[tuple[str, ...]] = frozenset()
    # out-of-scope areas: documents first_area .. first_area + len(area_names) - 1
    area_names: tuple[str, ...] = ()
    # first stem -> the lengths (2 or more) of the name and uncovered-service phrases starting
    # with it: the only runs of a question's words worth looking up as names
    phrase_lengths: dict[str, frozenset[int]] = field(default_factory=dict)
    # stem -> the topics with a name or alias using it ("kms": kms, kms-key-policies): the
    # topics a question asking for a service takes as its object along with the one it names
    # (areas have no names, so these are topics only)
    name_stem_topics: dict[str, frozenset[int]] = field(default_factory=dict)

    @cached_property
    def question_terms(self) -> list[list[Counter[str]]]:
        """Per document, the terms of each example question: what leave-one-out subtracts.
        Only cross-validation needs them, so they are counted at its first use."""
        return [[Counter(_with_pairs(tuple(q.split()))) for q in qs] for qs in self.question_texts]

    @property
    def first_area(self) -> int:
        return len(self.topics)

    def impacts(
        self, counts: Mapping[str, Counter[str]], lengths: Mapping[str, int], term: str
    ) -> tuple[float, ...]:
        """BM25F impact of `term` in a document given its per-field counts and lengths: over
        all fields, then over each field group (FIELD_GROUPS order)."""
        params = self.params
        parts: dict[str, float] = {}
        for name in FIELDS:
            tf = counts[name].get(term, 0)
            if tf:
                average = self.average_lengths[name] or 1.0
                norm = 1.0 - params.b + params.b * lengths[name] / average
                parts[name] = params.field_weights.get(name, 0.0) * tf / norm
        return (
            self._saturate(parts, FIELDS),
            *(self._saturate(parts, group) for group in FIELD_GROUPS.values()),
        )

    def _saturate(self, parts: Mapping[str, float], fields: tuple[str, ...]) -> float:
        weighted = 0.0
        for name in fields:
            weighted += parts.get(name, 0.0)
        return weighted / (self.params.k1 + weighted) if weighted else 0.0

    def impacts_without(self, topic: int, question: int, term: str) -> tuple[float, ...]:
        """`impacts` of `term` in `topic` with its example question number `question` removed."""
        removed = self.question_terms[topic][question]
        counts = dict(self.field_counts[topic])
        counts["questions"] = counts["questions"] - removed
        lengths = dict(self.field_lengths[topic])
        lengths["questions"] -= sum(removed.values())
        return self.impacts(counts, lengths, term)


def build_index(kb: KnowledgeBase, params: RetrievalParams | None = None) -> TopicIndex:
    # The index is hundreds of thousands of small acyclic objects (dicts, tuples, floats):
    # the cyclic collector would walk the growing heap again and again while they are made
    # (~15% of the build at 2,000 topics) and can free none of them.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _build_index(kb, params or RetrievalParams())
    finally:
        if enabled:
            gc.enable()


def _first_words(names: Sequence[str]) -> frozenset[str]:
    """The first content word of each name, as typed ("google" of "Google Cloud")."""
    return frozenset(w[0] for w in map(content_words, names) if w)


def _build_index(kb: KnowledgeBase, params: RetrievalParams) -> TopicIndex:
    field_counts: list[dict[str, Counter[str]]] = []
    field_lengths: list[dict[str, int]] = []
    phrases: dict[tuple[str, ...], list[int]] = defaultdict(list)
    surface: set[str] = set()
    name_words: set[str] = set()
    one_word_names: defaultdict[str, set[str]] = defaultdict(set)
    question_texts: list[list[str]] = []

    documents = [topic_field_texts(t) for t in kb.topics]
    documents += [area_field_texts(a) for a in kb.out_of_scope]
    for position, texts_by_field in enumerate(documents):
        counts: dict[str, Counter[str]] = {}
        lengths: dict[str, int] = {}
        topic_texts: list[str] = []
        question_texts.append(topic_texts)
        for name, texts in texts_by_field.items():
            pairs = name in PAIR_FIELDS
            if name not in PER_TEXT_FIELDS:
                # Nothing is kept per text: the whole field is read in one pass.
                field_words, field_terms = _field_terms(texts, pairs)
                surface.update(field_words)
                counts[name] = Counter(field_terms)
                lengths[name] = len(field_terms)
                continue
            # All of a field's terms in one list, counted once (in C): the same counts as
            # adding up one Counter per text.
            field_terms = []
            field_words = []
            for text in texts:
                # Each text is tokenised once; its words, stems and terms serve every use.
                text_words = content_words(text)
                stems = tuple(map(stem, text_words))
                field_words.extend(text_words)
                terms = _with_pairs(stems) if pairs else stems
                field_terms.extend(terms)
                if name == "names":
                    name_words.update(text_words)
                    if len(stems) == 1:
                        one_word_names[stems[0]].update(_name_forms(text_words[0]))
                    if stems and position not in phrases[stems]:
                        phrases[stems].append(position)
                elif name == "questions":
                    topic_texts.append(" ".join(stems))
            surface.update(field_words)
            counts[name] = Counter(field_terms)
            lengths[name] = len(field_terms)
        field_counts.append(counts)
        field_lengths.append(lengths)

    count = max(len(documents), 1)
    max_idf = math.log(1.0 + (count - 0.5) / 1.5)

    synonyms: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    synonym_words: dict[tuple[str, ...], list[str | None]] = {}
    typed_phrases: dict[tuple[str, ...], tuple[str, ...]] = {}
    for term, expansions in kb.synonyms.items():
        read = [content_words(e) for e in expansions]
        all_words = tuple(normalize_words(term))
        if any(is_filler(w) for w in all_words):
            # "us or aws": its filler words are the meaning, so it is looked for in the words
            # as typed, before filler is dropped, and read as its first expansion's words.
            typed_phrases[all_words] = next((tuple(r) for r in read if r), ())
            continue
        words = all_words or tuple(term.split())
        synonyms[words] = [tuple(map(stem, r)) for r in read if r]
        # The word a one-word expansion reads ("cert" -> "certificate"), as for a typed word.
        synonym_words[words] = [r[0] if len(r) == 1 else None for r in read if r]
        surface.update(words)

    by_length: dict[int, list[str]] = defaultdict(list)
    for word in sorted(surface):
        if len(word) >= MIN_CORRECTABLE_LENGTH and not word.isdigit():
            by_length[len(word)].append(word)

    average_lengths = {
        name: sum(lengths[name] for lengths in field_lengths) / count for name in FIELDS
    }
    index = TopicIndex(
        topics=kb.topics,
        params=params,
        field_counts=field_counts,
        field_lengths=field_lengths,
        average_lengths=average_lengths,
        document_frequency={},
        idf={},
        postings={},
        phrases=dict(phrases),
        longest_phrase=max((len(p) for p in phrases), default=1),
        synonyms=synonyms,
        synonym_words=synonym_words,
        typed_phrases=typed_phrases,
        vocabulary_by_length=dict(by_length),
        known_words=frozenset(surface),
        name_words=frozenset(name_words),
        one_word_names={s: frozenset(forms) for s, forms in one_word_names.items()},
        joined_words=frozenset(w for w in name_words if len(w) >= 6),
        question_texts=question_texts,
        question_sorted=[[" ".join(sorted(t.split())) for t in ts] for ts in question_texts],
        max_idf=max_idf,
        unknown_idf=max_idf * UNKNOWN_WORD_WEIGHT,
    )
    _fill_postings(index)
    # A term's document frequency is the length of its postings (the topics using it).
    index.document_frequency = {term: len(topics) for term, topics in index.postings.items()}
    # BM25's idf, kept positive: a term in every topic still counts a little. Worked out once
    # per document frequency (most terms are in one or two documents).
    idf_of = {
        df: math.log(1.0 + (count - df + 0.5) / (df + 0.5))
        for df in set(index.document_frequency.values())
    }
    index.idf = {term: idf_of[df] for term, df in index.document_frequency.items()}
    index.service_phrases = frozenset(s for s in map(stems_of, kb.services) if s)
    index.uncovered_phrases = _uncovered(
        index.service_phrases, phrases, index.postings, len(kb.topics)
    )
    index.area_names = tuple(a.name for a in kb.out_of_scope)
    providers = (*kb.other_clouds, *kb.other_vendors)
    index.other_provider_phrases = frozenset(s for s in map(stems_of, providers) if s)
    index.other_vendor_words = _first_words(kb.other_vendors)
    index.other_provider_words = _first_words(kb.other_clouds) | index.other_vendor_words
    starting: defaultdict[str, set[int]] = defaultdict(set)
    for phrase in (*index.phrases, *index.uncovered_phrases):
        if len(phrase) > 1:
            starting[phrase[0]].add(len(phrase))
    index.phrase_lengths = {first: frozenset(ns) for first, ns in starting.items()}
    using: defaultdict[str, set[int]] = defaultdict(set)
    for phrase, topics_named in index.phrases.items():
        for name_stem in phrase:
            using[name_stem].update(topics_named)
    index.name_stem_topics = {s: frozenset(ts) for s, ts in using.items()}
    return index


def _field_terms(texts: tuple[str, ...], pairs: bool) -> tuple[list[str], list[str]]:
    """A field's words (filler dropped) and its terms: their stems and, with `pairs`, the
    pairs of adjacent stems within each text: what reading each text on its own gives."""
    content = [w for w in lines_words(texts) if w not in STOPWORDS]
    field_words = [w for w in content if w != LINE_END]
    terms = list(map(stem, field_words))
    if pairs:
        # A text's last stem and the next text's first are not a pair: LINE_END between
        # them (stem leaves it as it is) marks the pair to drop.
        joined = map(" ".join, pairwise(map(stem, content)))
        terms += [pair for pair in joined if LINE_END not in pair]
    return field_words, terms


def _name_forms(word: str) -> tuple[str, ...]:
    """A one-word name as people write it: as is, plural, singular ("scp", "scps")."""
    singular = word[:-1] if word.endswith("s") and len(word) > 3 else word
    return (word, singular, singular + "s", singular + "es")


def _uncovered(
    services: frozenset[tuple[str, ...]],
    phrases: Mapping[tuple[str, ...], list[int]],
    postings: Mapping[str, Mapping[int, tuple[float, ...]]],
    topic_count: int,
) -> frozenset[tuple[str, ...]]:
    """The service names (stemmed) that no topic speaks about: not a topic's name, and not a
    word (one-word names) or every adjacent word pair (longer ones) of the topics' text.
    A name the knowledge uses ("lambda", "eventbridge") is something some topic covers; an
    out-of-scope area that mentions Step Functions does not make it covered."""

    def in_topics(term: str) -> bool:
        # Postings are filled document by document, topics first: the first is the lowest.
        documents = postings.get(term)
        return documents is not None and next(iter(documents), topic_count) < topic_count

    uncovered = set()
    for stems in services:
        if stems in phrases:
            continue
        terms = [pair_term(a, b) for a, b in pairwise(stems)] if len(stems) > 1 else [stems[0]]
        if not all(in_topics(t) for t in terms):
            uncovered.add(stems)
    return frozenset(uncovered)


def _fill_postings(index: TopicIndex) -> None:
    """Every (term, topic) impact, computed as `TopicIndex.impacts` computes it, float for
    float (the same operations in the same order), but without its per-term overhead.

    Most terms of a topic occur in one field only; their impacts depend on that field and
    the term's count alone, so they are computed once per (field, count) and the tuple is
    shared. Terms in several fields go through the general sum.
    """
    params = index.params
    k1, b = params.k1, params.b
    weights = [params.field_weights.get(name, 0.0) for name in FIELDS]
    averages = [index.average_lengths[name] or 1.0 for name in FIELDS]
    # Per field group, the positions of its fields, in the order `_saturate` adds them.
    groups = [tuple(FIELDS.index(name) for name in group) for group in FIELD_GROUPS.values()]
    in_group = [tuple(i in group for group in groups) for i in range(len(FIELDS))]
    postings: dict[str, dict[int, tuple[float, ...]]] = {}

    def saturate(weighted: float) -> float:
        return weighted / (k1 + weighted) if weighted else 0.0

    for position, counts in enumerate(index.field_counts):
        lengths = index.field_lengths[position]
        counters = [counts[name] for name in FIELDS]
        norms = [1.0 - b + b * lengths[name] / averages[i] for i, name in enumerate(FIELDS)]
        several: list[str] = []  # terms in more than one field of this document
        for i, counter in enumerate(counters):
            if not counter:
                continue
            weight, norm, member = weights[i], norms[i], in_group[i]
            by_count: dict[int, tuple[float, ...]] = {}
            for tf in set(counter.values()):
                # One field: the sum over all fields, and over its group, is this part.
                value = saturate(0.0 + weight * tf / norm)
                by_count[tf] = (value, *(value if m else 0.0 for m in member))
            # A term already given this document by an earlier field is in several fields:
            # its value is worked out below.
            for term, tf in counter.items():
                column = postings.get(term)
                if column is None:
                    postings[term] = {position: by_count[tf]}
                elif position in column:
                    several.append(term)
                else:
                    column[position] = by_count[tf]
        for term in dict.fromkeys(several):
            parts = [
                weights[i] * tf / norms[i] if (tf := counter.get(term, 0)) else 0.0
                for i, counter in enumerate(counters)
            ]
            total = 0.0
            for part in parts:
                total += part
            by_group = []
            for group in groups:
                weighted = 0.0
                for i in group:
                    weighted += parts[i]
                by_group.append(saturate(weighted))
            postings[term][position] = (saturate(total), *by_group)
    index.postings = postings
