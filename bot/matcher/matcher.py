"""Match a free-text question to knowledge topics, with a confidence in [0, 1].

The score of a topic blends three signals:
- coverage: how much of what the asker said (weighted by rarity) the topic's vocabulary
  explains. Words the knowledge has never seen count against every topic, which is what
  lets "how do I resize an EC2 instance?" go unanswered.
- naming: the question names the topic (its name or an alias, typos corrected).
- paraphrase: fuzzy similarity to the topic's example questions (rapidfuzz).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from itertools import pairwise

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from bot.knowledge.model import KnowledgeBase
from bot.matcher.answer import Answer, AnswerKind
from bot.matcher.index import MIN_CORRECTABLE_LENGTH, TopicIndex, build_index, pair_term
from bot.matcher.normalize import COMPARISON_WORDS, is_filler, stem, words
from bot.matcher.smalltalk import detect_small_talk

COVERAGE_WEIGHT = 0.35  # share of the question the topic explains
STRENGTH_WEIGHT = 0.4  # how much evidence in absolute terms (long questions carry more)
NAMING_WEIGHT = 0.2  # the question names the topic
PARAPHRASE_WEIGHT = 0.05  # fuzzy similarity to the topic's example questions
NAMING_SPLIT = 1.0  # naming n topics gives each 1/n**NAMING_SPLIT of the naming signal
DOMAIN_EXPONENT = 1.0  # the naming signal is scaled by (share of the question known)**this
# Evidence at which strength reaches 63%, as a share of the rarest word's weight, so that
# scores mean the same in a knowledge base of 30 topics or 3,000.
EVIDENCE_SCALE = 1.2

ANSWER_THRESHOLD = 0.5  # below this the bot does not claim an answer
SUGGEST_THRESHOLD = 0.25  # close enough to offer as "did you mean"
CLOSE_MARGIN = 0.08  # a runner-up this close to the winner is named as "did you mean"
MAX_SUGGESTIONS = 3
PARAPHRASE_CANDIDATES = 8  # topics that get the (costlier) fuzzy paraphrase score
CORRECTED_TRUST = 0.9
MAX_CACHED_CORRECTIONS = 50_000
SYNONYM_TRUST = 0.85


@dataclass(slots=True)
class _Group:
    """One thing the asker said, and the stem sequences it may stand for."""

    alternatives: list[tuple[tuple[str, ...], float]]
    weight: float | None  # rarity of the best known reading; None: the knowledge never saw it


class Matcher:
    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.index: TopicIndex = build_index(kb)
        self._corrections: dict[str, tuple[str, int] | None] = {}

    def match(self, question: str) -> Answer:
        all_words = words(question)
        if not all_words:
            return Answer(question=question, kind=AnswerKind.EMPTY)
        small_talk = detect_small_talk(all_words)
        if small_talk:
            return Answer(question=question, kind=AnswerKind.SMALL_TALK, small_talk=small_talk)

        content = [w for w in all_words if not is_filler(w) and w not in COMPARISON_WORDS]
        groups, sequence = self._groups(content)
        if not groups:
            return Answer(question=question, kind=AnswerKind.NO_MATCH)

        evidence = self._evidence(groups)
        unknown = self.index.unknown_idf
        known_weight = sum(g.weight for g in groups if g.weight is not None)
        total_weight = known_weight + unknown * sum(1 for g in groups if g.weight is None)
        # How much of the question is about things the knowledge knows at all: naming a
        # service counts for much in "what data sources does GuardDuty analyze", little in
        # "my shield icon is gone in Outlook".
        in_domain = (known_weight / total_weight) ** DOMAIN_EXPONENT if total_weight else 0.0
        named = self._named(groups, sequence)
        prior = {
            t: evidence.get(t, 0.0) + (self.index.max_idf if t in named else 0.0)
            for t in evidence.keys() | named.keys()
        }
        shortlist = sorted(prior, key=prior.__getitem__, reverse=True)[:PARAPHRASE_CANDIDATES]

        query_text = " ".join(sequence)
        scores = {
            t: self._score(
                evidence.get(t, 0.0),
                total_weight,
                # Naming several services ("send GuardDuty and Macie findings to one place")
                # says less about each of them.
                in_domain / len(named) ** NAMING_SPLIT if t in named else 0.0,
                self._paraphrase(query_text, t),
            )
            for t in shortlist
        }
        ranked = sorted(scores, key=lambda t: (-scores[t], t))
        return self._decide(question, all_words, ranked, scores, named)

    def _score(
        self, evidence: float, total_weight: float, naming: float, paraphrase: float
    ) -> float:
        coverage = evidence / total_weight if total_weight else 0.0
        strength = 1.0 - math.exp(-evidence / (EVIDENCE_SCALE * self.index.max_idf))
        return (
            COVERAGE_WEIGHT * coverage
            + STRENGTH_WEIGHT * strength
            + NAMING_WEIGHT * naming
            + PARAPHRASE_WEIGHT * paraphrase
        )

    # -- turning words into weighted groups of alternatives ---------------------------------

    def _groups(self, content: list[str]) -> tuple[list[_Group], list[str]]:
        index = self.index
        groups: list[_Group] = []
        sequence: list[str] = []  # best-guess stems in order, for phrase and paraphrase matching
        seen: set[tuple] = set()
        i = 0
        while i < len(content):
            consumed, alternatives = self._alternatives(content, i)
            i += consumed
            key = tuple(alternatives)
            primary = alternatives[0][0]
            sequence.extend(primary)
            if key in seen:
                continue
            if len(primary) == 1 and len(primary[0]) <= 2 and not self._known(primary):
                continue  # "rn", "k", "db?" typed in passing: too short to mean anything
            seen.add(key)
            weight = max(
                (self._idf(stems) for stems, _ in alternatives if self._known(stems)),
                default=None,
            )
            groups.append(_Group(alternatives, weight))
        for first, second in pairwise(sequence):
            pair = pair_term(first, second)
            if pair in index.idf and (pair,) not in seen:
                seen.add((pair,))
                groups.append(_Group([((pair,), 1.0)], index.idf[pair]))
        return groups, sequence

    def _alternatives(
        self, content: list[str], i: int
    ) -> tuple[int, list[tuple[tuple[str, ...], float]]]:
        index = self.index
        # A multi-word synonym ("api keys", "denial of service") is read as one thing.
        for n in (3, 2):
            term = tuple(content[i : i + n])
            if len(term) == n and term in index.synonyms:
                original = tuple(stem(w) for w in term)
                return n, [(original, 1.0)] + [(e, SYNONYM_TRUST) for e in index.synonyms[term]]
        word = content[i]
        # People split one-word names: "guard duty", "cloud trail", "secrets manager" stays.
        if i + 1 < len(content):
            joined = word + content[i + 1]
            if joined in index.joined_words and stem(joined) in index.idf:
                return 2, [((stem(joined),), 1.0)]
        alternatives: list[tuple[tuple[str, ...], float]] = [((stem(word),), 1.0)]
        spelled = word
        if word not in index.known_words and (word,) not in index.synonyms:
            correction = self._correct(word)
            if correction:
                spelled, distance = correction
                guess = ((stem(spelled),), CORRECTED_TRUST**distance)
                # A known stem stays the first reading; an unknown word yields to the correction.
                if stem(word) in index.idf:
                    alternatives.append(guess)
                else:
                    alternatives.insert(0, guess)
        for expansion in index.synonyms.get((spelled,), ()):
            alternatives.append((expansion, SYNONYM_TRUST))
        return 1, alternatives

    def _correct(self, word: str) -> tuple[str, int] | None:
        """The closest known word and its edit distance, if the typo is a plausible one."""
        if len(word) < MIN_CORRECTABLE_LENGTH or word.isdigit():
            return None
        if word in self._corrections:
            return self._corrections[word]
        if len(self._corrections) >= MAX_CACHED_CORRECTIONS:
            self._corrections.clear()  # bounded: pasted junk must not grow memory
        correction = self._closest_known(word)
        self._corrections[word] = correction
        return correction

    def _closest_known(self, word: str) -> tuple[str, int] | None:
        # Two edits only in long words: "weather" is not a typo of "gather".
        max_edits = 1 if len(word) < 8 else 2
        best: tuple[str, int] | None = None
        for length in range(len(word) - max_edits, len(word) + max_edits + 1):
            candidates = self.index.vocabulary_by_length.get(length)
            if not candidates:
                continue
            found = process.extractOne(
                word, candidates, scorer=OSA.distance, score_cutoff=max_edits
            )
            if found and (best is None or found[1] < best[1]):
                best = (found[0], int(found[1]))
        if best and best[1] > 1 and best[0][0] != word[0]:
            return None  # people rarely mistype the first letter *and* something else
        return best

    def _known(self, stems: tuple[str, ...]) -> bool:
        return all(s in self.index.idf for s in stems)

    def _idf(self, stems: tuple[str, ...]) -> float:
        return sum(self.index.idf[s] for s in stems) / len(stems)

    # -- the three signals ---------------------------------------------------------------

    def _evidence(self, groups: list[_Group]) -> dict[int, float]:
        """Per topic: the rarity-weighted amount of the question its vocabulary explains."""
        postings = self.index.postings
        coverage: dict[int, float] = defaultdict(float)
        for group in groups:
            best: dict[int, float] = {}
            for stems, trust in group.alternatives:
                sums: dict[int, float] = defaultdict(float)
                for s in stems:
                    for topic, weight in postings.get(s, ()):
                        sums[topic] += weight
                for topic, value in sums.items():
                    value = trust * value / len(stems)
                    if value > best.get(topic, 0.0):
                        best[topic] = value
            for topic, value in best.items():
                coverage[topic] += (group.weight or 0.0) * value
        return coverage

    def _named(self, groups: list[_Group], sequence: list[str]) -> dict[int, int]:
        """Topics whose name or alias the question uses, with the first position."""
        phrases = self.index.phrases
        named: dict[int, int] = {}
        # Any reading of a single thing said (a typo fix, a synonym) may name a topic...
        for position, group in enumerate(groups):
            for stems, _ in group.alternatives:
                for topic in phrases.get(stems, ()):
                    named.setdefault(topic, position)
        # ...and so may a run of words in their best reading ("aws secrets manager").
        for n in range(min(self.index.longest_phrase, len(sequence)), 1, -1):
            for start in range(len(sequence) - n + 1):
                for topic in phrases.get(tuple(sequence[start : start + n]), ()):
                    named.setdefault(topic, start)
        return named

    def _paraphrase(self, query_text: str, topic: int) -> float:
        examples = self.index.question_texts[topic]
        if not examples or not query_text:
            return 0.0
        found = process.extractOne(query_text, examples, scorer=fuzz.token_sort_ratio)
        return found[1] / 100.0 if found else 0.0

    # -- from scores to an answer ----------------------------------------------------------

    def _decide(
        self,
        question: str,
        all_words: list[str],
        ranked: list[int],
        scores: dict[int, float],
        named: dict[int, int],
    ) -> Answer:
        topics = self.index.topics
        if not ranked:
            return Answer(question=question, kind=AnswerKind.NO_MATCH)
        best = ranked[0]
        confidence = round(min(scores[best], 1.0), 3)

        compared = [t for t in ranked if t in named and scores[t] >= SUGGEST_THRESHOLD]
        if len(compared) >= 2 and any(w in COMPARISON_WORDS for w in all_words):
            chosen = compared[:3]
            return Answer(
                question=question,
                kind=AnswerKind.COMPARISON,
                topics=tuple(topics[t] for t in chosen),
                confidence=round(min(1.0, sum(scores[t] for t in chosen) / len(chosen)), 3),
            )

        if scores[best] >= ANSWER_THRESHOLD:
            close = [
                t
                for t in ranked[1:]
                if scores[t] >= max(SUGGEST_THRESHOLD, scores[best] - CLOSE_MARGIN)
            ]
            return Answer(
                question=question,
                kind=AnswerKind.TOPIC,
                topics=(topics[best],),
                suggestions=tuple(topics[t] for t in close[:2]),
                confidence=confidence,
            )
        near = [t for t in ranked if scores[t] >= SUGGEST_THRESHOLD][:MAX_SUGGESTIONS]
        return Answer(
            question=question,
            kind=AnswerKind.NO_MATCH,
            suggestions=tuple(topics[t] for t in near),
            confidence=confidence,
        )


_cached: tuple[KnowledgeBase, Matcher] | None = None


def match_question(question: str, kb: KnowledgeBase) -> Answer:
    """One-shot convenience: match against `kb`, reusing the index while `kb` is the same."""
    global _cached
    if _cached is None or _cached[0] is not kb:
        _cached = (kb, Matcher(kb))
    return _cached[1].match(question)
