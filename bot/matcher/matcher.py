"""Match a free-text question to knowledge topics, with a calibrated confidence.

Three steps (docs/matching.md has the whole design):
1. read the question (`reading.py`): words, typo fixes, synonyms, names, the question's shape;
2. retrieve and rank candidates: BM25F evidence over the topic's fields (`index.py`), then a
   fitted linear utility over a few features per candidate (`model.py`);
3. decide: the fitted probability that the top candidate is right, against one threshold.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from bot.knowledge.model import KnowledgeBase, Topic
from bot.matcher.answer import Answer, AnswerKind
from bot.matcher.index import TopicIndex, build_index
from bot.matcher.model import (
    DECISION_FEATURES,
    RANKING_FEATURES,
    FittedModel,
    decision_features,
    load_fitted,
)
from bot.matcher.normalize import content_words, stem, words
from bot.matcher.reading import Group, Holdout, Reader, Reading
from bot.matcher.settings import (
    AREA_CANDIDATES,
    AREA_REFUSAL_MARGIN,
    CANDIDATES,
    FIELD_GROUPS,
    FOLLOW_UP_MIN_OWN_EVIDENCE,
    FOLLOW_UP_THRESHOLD,
    MAX_COMPARED,
    MAX_KEPT_GROUPS,
    MAX_SUGGESTIONS,
    MIN_SUGGESTION_PROBABILITY,
    RUNNER_UP_RATIO,
)
from bot.matcher.smalltalk import detect_small_talk

# Words by which a follow-up points back at the topic being discussed: "does *it* work with
# EKS *too*?", "how is *that* different". With one, a topic the follow-up names is what it
# asks about, not a change of subject. Longer: more follow-ups kept on the thread's topic,
# and fewer topic switches noticed ("is that what Macie does?" stays on the thread's topic).
REFERRING_WORDS = frozenset(
    """
    it its itself this that these those they them their theirs same too also either
    """.split()
)
# A follow-up opening with one of these goes on from what was said: "and container images?"
CONTINUING_WORDS = frozenset({"and", "but", "plus"})


def refers_back(all_words: list[str]) -> bool:
    """Does the question point back at something said before ("it", "that", "too", "and
    ...")?"""
    return bool(all_words) and (
        all_words[0] in CONTINUING_WORDS or any(w in REFERRING_WORDS for w in all_words)
    )


@dataclass(slots=True)
class Candidate:
    topic: int
    features: dict[str, float]
    utility: float = 0.0
    share: float = 0.0  # softmax of utility among the candidates


@dataclass
class Ranking:
    reading: Reading
    candidates: list[Candidate]  # topics only, best first
    decision_features: dict[str, float]
    probability: float  # that candidates[0] is the right topic
    # The out-of-scope areas (knowledge `out_of_scope:`) sharing words with the question,
    # best first; `Candidate.topic` is an area's document number in the index.
    areas: list[Candidate] = field(default_factory=list)

    @property
    def area(self) -> Candidate | None:
        """The out-of-scope area the question reads most like, if any."""
        return self.areas[0] if self.areas else None

    @property
    def closer_to_area(self) -> bool:
        """Does the question read more like an out-of-scope area than like any topic?"""
        return (
            self.area is not None
            and self.area.utility - self.candidates[0].utility > AREA_REFUSAL_MARGIN
        )


@dataclass
class Explanation:
    answer: Answer
    ranking: Ranking | None
    model: FittedModel
    topics: tuple[Topic, ...]
    reason: str
    area_names: tuple[str, ...] = ()


def _shortlisted(
    column: Mapping[int, tuple[float, ...]], rows: dict[int, list[float]]
) -> list[tuple[int, tuple[float, ...]]]:
    """The (document, impacts) of a term's postings that are on the shortlist (`rows`): a
    rare term's few documents are checked against the shortlist, a common term's column is
    looked up per shortlisted document, whichever is fewer steps."""
    if len(column) < len(rows):
        return [(t, i) for t, i in column.items() if t in rows]
    return [(t, i) for t in rows if (i := column.get(t)) is not None]


class KeptReadings:
    """A group of several readings worked out against every document: per document sharing a
    reading, the reading explaining most over all fields (the first wins a tie) and that
    value, scaled by the reading's trust and divided over its stems; the impacts per field
    group only for the documents that ask (the shortlist). With a `holdout`
    (cross-validation), as if its example question or topic were not in the index."""

    __slots__ = ("_alternatives", "_holdout", "_impacts", "_index", "chosen", "first")

    def __init__(
        self,
        index: TopicIndex,
        alternatives: list[tuple[tuple[str, ...], float]],
        holdout: Holdout | None = None,
    ) -> None:
        self._index = index
        self._alternatives = alternatives
        self._holdout = holdout
        self._impacts: dict[int, tuple[float, ...]] = {}
        self.first: dict[int, float] = {}
        self.chosen: dict[int, int] = {}
        postings = index.postings
        for number, (stems, trust) in enumerate(alternatives):
            scale = trust / len(stems)
            sums: dict[int, float] = {}
            for s in stems:
                for topic, found in postings.get(s, {}).items():
                    sums[topic] = sums.get(topic, 0.0) + found[0]
            if holdout is not None and holdout.topic in sums:
                if holdout.question is None:
                    del sums[holdout.topic]
                else:
                    sums[holdout.topic] = _impacts_without(index, holdout, stems)[0]
            for topic, total in sums.items():
                value = total * scale
                if value > self.first.get(topic, 0.0):
                    self.first[topic] = value
                    self.chosen[topic] = number

    def impacts(self, topic: int) -> tuple[float, ...]:
        """The chosen reading's impacts in `topic` (over all fields, then per field group)."""
        found = self._impacts.get(topic)
        if found is None:
            stems, trust = self._alternatives[self.chosen[topic]]
            holdout = self._holdout
            values: list[float] | None = None
            if holdout is not None and holdout.topic == topic:
                values = _impacts_without(self._index, holdout, stems)
            else:
                for s in stems:
                    impacts = self._index.postings.get(s, {}).get(topic)
                    if impacts is not None:
                        values = (
                            list(impacts)
                            if values is None
                            else [v + f for v, f in zip(values, impacts, strict=True)]
                        )
            assert values is not None  # the chosen reading shares a term with the topic
            scale = trust / len(stems)
            found = self._impacts[topic] = tuple([v * scale for v in values])
        return found


def _impacts_without(index: TopicIndex, holdout: Holdout, stems: tuple[str, ...]) -> list[float]:
    """The impacts of `stems` in the held-out topic with its example question removed."""
    assert holdout.question is not None  # a whole topic held out has no impacts at all
    per_stem = [index.impacts_without(holdout.topic, holdout.question, s) for s in stems]
    return [sum(v[k] for v in per_stem) for k in range(1 + len(FIELD_GROUPS))]


class Matcher:
    def __init__(
        self,
        kb: KnowledgeBase,
        model: FittedModel | None = None,
        *,
        index: TopicIndex | None = None,
    ) -> None:
        """`index`: one built earlier from the same `kb` and model (`compiled.py`)."""
        self.kb = kb
        self.model = model or load_fitted()
        self.index: TopicIndex = index or build_index(kb, self.model.retrieval)
        self.reader = Reader(self.index)
        self._positions = {topic.id: i for i, topic in enumerate(self.index.topics)}
        self._context_words: dict[int, list[str]] = {}
        self._documents = self.index.first_area + len(self.index.area_names)
        # a group of readings (its alternatives) -> its best reading per document
        self._kept: dict[tuple, KeptReadings] = {}
        # cross-validation: the groups worked out under the latest holdout
        self._held_out_readings: tuple[Holdout | None, dict[tuple, KeptReadings]] = (None, {})

    @property
    def threshold(self) -> float:
        return self.model.threshold

    def match(
        self,
        question: str,
        holdout: Holdout | None = None,
        *,
        context_topic: str | None = None,
    ) -> Answer:
        """The answer to `question`; `context_topic` (a topic id) is what the conversation is
        about, e.g. a Slack thread the bot answered: a follow-up that names no other topic
        ("how much does it cost?") is read as about it (docs/matching.md, "Follow-ups")."""
        return self._answer(question, holdout, context_topic)[0]

    def explain(
        self,
        question: str,
        holdout: Holdout | None = None,
        *,
        context_topic: str | None = None,
    ) -> Explanation:
        answer, ranking, reason = self._answer(question, holdout, context_topic)
        index = self.index
        return Explanation(answer, ranking, self.model, index.topics, reason, index.area_names)

    # -- ranking -------------------------------------------------------------------------------

    def rank(
        self,
        all_words: list[str],
        holdout: Holdout | None = None,
        *,
        subject: int | None = None,
    ) -> Ranking | None:
        """Read, retrieve and rank; `holdout` leaves a question or topic out (cross-validation).

        `subject` (a topic index) is the conversation's topic the question is taken to be
        about: it is read as if the asker had named it, and the other topics the question
        names become what it is asked about ("does it work with EKS too?").
        """
        if subject is not None:
            all_words = all_words + self._name_words(subject)
        reading = self.reader.read(all_words, holdout)
        if not reading.groups:
            return None
        if subject is not None:
            # The subject first (it is what the thread is about); the other names are objects.
            reading.named = {subject: -1}
        index = self.index
        # Every topic sharing a term with the question gets its score; only the shortlist
        # gets the full evidence (per field group) and the features.
        scores = self._scores(reading, holdout)
        named = reading.named
        first_area = index.first_area
        # (-prior, topic) pairs: the smallest are the best, ties to the lower index, as
        # sorting every topic by (-prior, topic) would rank them. A named topic is on the
        # shortlist whatever it shares.
        prior = [(-score, t) for t, score in enumerate(scores[:first_area]) if score]
        if named:
            prior = [p for p in prior if p[1] not in named]
            prior += [(-(scores[t] + index.max_idf), t) for t in named]
        if not prior:
            return None
        shortlist = [t for _, t in heapq.nsmallest(CANDIDATES, prior)]
        area_prior = [(-s, a) for a, s in enumerate(scores[first_area:], first_area) if s]
        area_shortlist = [a for _, a in heapq.nsmallest(AREA_CANDIDATES, area_prior)]
        total = reading.total_weight(index.unknown_idf)
        rest_total = reading.rest_weight(index.unknown_idf)
        # token_sort_ratio sorts the whitespace-split tokens; the same, once per question.
        query_sorted = " ".join(sorted(" ".join(reading.sequence).split()))
        naming = 1.0 / len(named) if named else 0.0
        # Asking for a service ("which service records every KMS call?"), the named topic is
        # the object, and so are its siblings named by the same words (KMS key policies).
        objects: set[int] = set()
        if reading.asks_for_service and named:
            naming_stems = {
                s
                for g in reading.naming_groups
                for stems, _ in reading.groups[g].alternatives[:1]
                for s in stems
            }
            using = index.name_stem_topics
            objects = {*named, *(t for s in naming_stems for t in using.get(s, ()))}
        candidates: list[Candidate] = []
        area_candidates: list[Candidate] = []
        evidence = self._evidence(shortlist + area_shortlist, reading, holdout)
        for topic in shortlist + area_shortlist:
            score, vocabulary, questions, prose, rest = evidence[topic]
            named_value = naming if topic in named else 0.0
            features = {
                "coverage": score / total if total else 0.0,
                "vocabulary_coverage": vocabulary / total if total else 0.0,
                "questions_coverage": questions / total if total else 0.0,
                "prose_coverage": prose / total if total else 0.0,
                "strength": 1.0 - math.exp(-score / index.max_idf) if index.max_idf else 0.0,
                "named": named_value,
                "named_object": naming if topic in objects else 0.0,
                "paraphrase": self._paraphrase(query_sorted, topic, holdout),
                # A question that is only a name ("macie?") is all about that name.
                "rest_coverage": rest / rest_total if rest_total else 1.0,
            }
            candidate = Candidate(topic, features, self.model.utility(features))
            (area_candidates if topic >= first_area else candidates).append(candidate)
        candidates.sort(key=lambda c: (-c.utility, c.topic))
        area_candidates.sort(key=lambda c: (-c.utility, c.topic))
        area = area_candidates[0] if area_candidates else None
        peak = candidates[0].utility
        exps = [math.exp(c.utility - peak) for c in candidates]
        total_exp = sum(exps)
        for candidate, e in zip(candidates, exps, strict=True):
            candidate.share = e / total_exp
        top = candidates[0]
        runner_up = candidates[1].utility if len(candidates) > 1 else 0.0
        decision = decision_features(
            top.features,
            top.utility,
            runner_up,
            (total - reading.known_weight) / total if total else 1.0,
            top.topic in named,
            area.utility if area is not None else 0.0,
        )
        probability = self.model.probability(decision)
        return Ranking(reading, candidates, decision, probability, area_candidates)

    def _scores(self, reading: Reading, holdout: Holdout | None) -> list[float]:
        """Per document (topics, then areas): the rarity-weighted amount of the question its
        fields explain (BM25F over all fields), 0.0 when it shares no term with it; the first
        value of `_evidence`, float for float, computed one float per posting."""
        scores = [0.0] * self._documents
        for group in reading.groups:
            weight = group.weight
            if weight is None:
                continue
            if holdout is None and group.plain_term is not None:
                # Most words: one reading, as typed: their postings.
                for topic, impacts in self.index.postings.get(group.plain_term, {}).items():
                    scores[topic] += weight * impacts[0]
            else:
                for topic, value in self._readings(group, holdout).first.items():
                    scores[topic] += weight * value
        return scores

    def _readings(self, group: Group, holdout: Holdout | None = None) -> KeptReadings:
        """A group with several readings (a typo fix next to the word as typed, a synonym's
        expansions), worked out once per process and kept; for a `holdout`, worked out anew."""
        key = tuple(group.alternatives)
        if holdout is not None:
            # Scoring and evidence ask for the same groups under the same holdout in turn.
            held_out, worked_out = self._held_out_readings
            if held_out != holdout:
                worked_out = {}
                self._held_out_readings = (holdout, worked_out)
            readings = worked_out.get(key)
            if readings is None:
                readings = worked_out[key] = KeptReadings(self.index, group.alternatives, holdout)
            return readings
        kept = self._kept.get(key)
        if kept is None:
            if len(self._kept) >= MAX_KEPT_GROUPS:
                self._kept.clear()
            kept = self._kept[key] = KeptReadings(self.index, group.alternatives)
        return kept

    def _evidence(
        self, shortlist: list[int], reading: Reading, holdout: Holdout | None
    ) -> dict[int, list[float]]:
        """Per shortlisted topic, the rarity-weighted amount of the question its fields explain
        (BM25F): [over all fields, per field group (FIELD_GROUPS order)..., over all fields
        apart from the words that name a topic]. Zeros when it shares no term with it."""
        width = 1 + len(FIELD_GROUPS)
        slots = range(width)  # over all fields, then each field group
        rows = {topic: [0.0] * (width + 1) for topic in shortlist}
        for position, group in enumerate(reading.groups):
            weight = group.weight
            if weight is None:
                continue
            naming = position in reading.naming_groups
            explained: list[tuple[int, tuple[float, ...]]]
            if holdout is None and group.plain_term is not None:
                explained = _shortlisted(self.index.postings.get(group.plain_term, {}), rows)
            else:
                readings = self._readings(group, holdout)
                explained = [(t, readings.impacts(t)) for t in rows if t in readings.first]
            for topic, impacts in explained:
                row = rows[topic]
                for k in slots:
                    row[k] += weight * impacts[k]
                if not naming:
                    row[width] += weight * impacts[0]
        return rows

    def _paraphrase(self, query_sorted: str, topic: int, holdout: Holdout | None) -> float:
        """rapidfuzz's token_sort_ratio against the closest example question: the plain ratio
        of token-sorted texts, the examples sorted once at index build."""
        examples = self.index.question_sorted[topic]
        if holdout is not None and holdout.topic == topic and holdout.question is not None:
            examples = examples[: holdout.question] + examples[holdout.question + 1 :]
        if not examples or not query_sorted:
            return 0.0
        found = process.extractOne(query_sorted, examples, scorer=fuzz.ratio)
        return found[1] / 100.0 if found else 0.0

    # -- from a ranking to an answer ---------------------------------------------------------

    def _answer(
        self,
        question: str,
        holdout: Holdout | None = None,
        context_topic: str | None = None,
    ) -> tuple[Answer, Ranking | None, str]:
        all_words = words(question)
        if not all_words:
            return Answer(question=question, kind=AnswerKind.EMPTY), None, "nothing to read"
        small_talk = detect_small_talk(all_words)
        if small_talk:
            answer = Answer(question=question, kind=AnswerKind.SMALL_TALK, small_talk=small_talk)
            return answer, None, f"small talk ({small_talk})"
        ranking = self.rank(all_words, holdout)
        context = self._positions.get(context_topic) if context_topic else None
        if context is not None:
            return self._follow_up(question, all_words, ranking, context, holdout)
        if ranking is None:
            answer = Answer(question=question, kind=AnswerKind.NO_MATCH)
            return answer, None, "no word of the question is in the knowledge"
        return self._decide(question, ranking)

    # -- follow-ups in a conversation about one topic ---------------------------------------

    def _follow_up(
        self,
        question: str,
        all_words: list[str],
        plain: Ranking | None,
        context: int,
        holdout: Holdout | None,
    ) -> tuple[Answer, Ranking | None, str]:
        """A question asked in a conversation about topic `context` (docs/matching.md).

        1. It compares, naming one topic other than the context's ("and the difference with
           Detective?"): a comparison of the two.
        2. It names other topics and does not refer back ("what about Macie?"): a change of
           subject. One named topic becomes the subject (step 4); several: answered alone.
        3. It names nothing, does not refer back, and alone is answered confidently with
           another topic ("which service finds PII?"): that answer.
        4. Otherwise it is about the subject (the context topic, or the one named in 2): read
           as if it named the subject, the subject is answered when the fitted decision, taking
           the subject as the winner, gives it at least FOLLOW_UP_THRESHOLD; else the
           reading's own decision stands ("is it FIPS validated?" in a KMS thread: CloudHSM).
        """
        topics = self.index.topics
        ranking: Ranking | None  # a reading's ranking; None when no word is known
        name = topics[context].id
        named = plain.reading.named if plain is not None else {}
        others = [t for t in named if t != context]
        back = refers_back(all_words)
        if plain is not None and plain.reading.comparison and len(others) == 1:
            answer = Answer(
                question=question,
                kind=AnswerKind.COMPARISON,
                topics=(topics[context], topics[others[0]]),
                confidence=round(plain.probability, 3),
            )
            return answer, plain, f"a comparison of the thread's topic, {name}, with the one named"
        subject = context
        if plain is not None and others and not back:
            if len(others) > 1:
                answer, ranking, reason = self._decide(question, plain)
                return answer, ranking, f"names other topics than the thread's ({name}): {reason}"
            subject = others[0]
        elif plain is not None and not back and not others:
            answer, ranking, reason = self._decide(question, plain)
            if answer.kind is AnswerKind.TOPIC and answer.topics[0].id != name:
                return answer, ranking, f"stands alone, not about {name}: {reason}"
        ranking = self.rank(all_words, holdout, subject=subject)
        if ranking is None:
            return Answer(question=question, kind=AnswerKind.NO_MATCH), None, "nothing to read"
        about = "the thread's topic" if subject == context else "the topic it names"
        chosen = next(c for c in ranking.candidates if c.topic == subject)
        others_best = max((c.utility for c in ranking.candidates if c is not chosen), default=0.0)
        probability = self.model.probability(
            decision_features(
                chosen.features,
                chosen.utility,
                others_best,
                ranking.decision_features["unknown_share"],
                True,
                # A follow-up pointing back ("how much does *it* cost?") is about the subject
                # whatever out-of-scope area its few words resemble (billing, here).
                ranking.area.utility if ranking.area is not None and not back else 0.0,
            )
        )
        own = chosen.features["rest_coverage"]
        if probability >= FOLLOW_UP_THRESHOLD and own >= FOLLOW_UP_MIN_OWN_EVIDENCE:
            answer = Answer(
                question=question,
                kind=AnswerKind.TOPIC,
                topics=(topics[subject],),
                confidence=round(probability, 3),
            )
            reason = (
                f"read as about {about}, {topics[subject].id}: estimated probability "
                f"{probability:.2f} >= follow-up threshold {FOLLOW_UP_THRESHOLD:.2f}, its own "
                f"words explaining {own:.2f} of it"
            )
            return answer, ranking, reason
        if plain is None:
            return Answer(question=question, kind=AnswerKind.NO_MATCH), None, "nothing to read"
        # The question read as asked (without the subject's name, which inflates everything).
        answer, plain, reason = self._decide(question, plain)
        return answer, plain, f"not clearly about {topics[subject].id}: {reason}"

    def _name_words(self, topic: int) -> list[str]:
        """The shortest name of `topic` that names it alone ("guardduty"), as words."""
        cached = self._context_words.get(topic)
        if cached is None:
            found = self.index.topics[topic]
            # Shortest first, ties alphabetically: a set's order changes with the hash seed.
            names = sorted(
                {found.id.replace("-", " "), found.name, *found.aliases}, key=lambda n: (len(n), n)
            )
            cached = content_words(found.name)
            for candidate in names:
                # Read as the index reads names (filler dropped), so the phrase lookup agrees.
                candidate_words = content_words(candidate)
                stems = tuple(stem(w) for w in candidate_words)
                if self.index.phrases.get(stems) == [topic]:
                    cached = candidate_words
                    break
            self._context_words[topic] = cached
        return cached

    def _decide(self, question: str, ranking: Ranking) -> tuple[Answer, Ranking, str]:
        topics = self.index.topics
        candidates = ranking.candidates
        confidence = round(ranking.probability, 3)
        threshold = self.model.threshold

        # A comparison of named topics is answered whatever the threshold (the two share the
        # probability), unless the question reads more like an out-of-scope area: a question
        # about Google Cloud's IAM and org policies names IAM and SCPs, and is not about them.
        if ranking.reading.comparison and not ranking.closer_to_area:
            # Every topic the question names is a candidate (naming puts it on the shortlist).
            compared = [c for c in candidates if c.topic in ranking.reading.named]
            if len(compared) >= 2:
                chosen = sorted(
                    compared[:MAX_COMPARED], key=lambda c: ranking.reading.named[c.topic]
                )
                answer = Answer(
                    question=question,
                    kind=AnswerKind.COMPARISON,
                    topics=tuple(topics[c.topic] for c in chosen),
                    confidence=confidence,
                )
                return answer, ranking, "a comparison of the topics the question names"

        # A question that is only one topic's name ("aws config", "macie?") asks for that
        # topic, however many others share its words ("config" is half of Parameter Store's
        # vocabulary): answered whatever the threshold, as a comparison of names is, and
        # whichever out-of-scope area shares them ("aws signer" reads like DNSSEC signing).
        only_named = ranking.reading.only_names()
        if only_named is not None:
            named_answer = Answer(
                question=question,
                kind=AnswerKind.TOPIC,
                topics=(topics[only_named],),
                confidence=confidence,
            )
            return named_answer, ranking, f"the question is only a name of {topics[only_named].id}"

        best = candidates[0]
        uncovered = ranking.reading.about_uncovered
        out_of_scope = ranking.closer_to_area
        if ranking.probability >= threshold and not uncovered and not out_of_scope:
            close = [c for c in candidates[1:] if c.share >= RUNNER_UP_RATIO * best.share]
            answer = Answer(
                question=question,
                kind=AnswerKind.TOPIC,
                topics=(topics[best.topic],),
                suggestions=tuple(topics[c.topic] for c in close[:2]),
                confidence=confidence,
            )
            reason = (
                f"{topics[best.topic].id} is right with estimated probability "
                f"{ranking.probability:.2f} >= threshold {threshold:.2f}"
            )
            return answer, ranking, reason
        # A candidate's own probability: the winner's, scaled by their shares of the ranking.
        near = [
            c
            for c in candidates
            if ranking.probability * c.share / best.share >= MIN_SUGGESTION_PROBABILITY
        ][:MAX_SUGGESTIONS]
        # The topics the question names are offered first, the others after them, in the
        # ranking's order: "enable guardduty across the org with a delegated admin" reads more
        # like Organizations' and Detective's text than like GuardDuty's, but names GuardDuty.
        named = [c for c in candidates if c.topic in ranking.reading.named]
        if any(c not in near for c in named):
            others = [c for c in near if c not in named]
            near = sorted([*named, *others][:MAX_SUGGESTIONS], key=candidates.index)
        answer = Answer(
            question=question,
            kind=AnswerKind.NO_MATCH,
            suggestions=tuple(topics[c.topic] for c in near),
            confidence=confidence,
        )
        reason = (
            f"the best candidate, {topics[best.topic].id}, is right with estimated probability "
            f"only {ranking.probability:.2f} < threshold {threshold:.2f}"
        )
        if ranking.reading.about_other_provider:
            reason = (
                "it is about another provider's or vendor's product: it names the provider, "
                "says nothing of AWS, and names topics only within the provider's product name"
            )
        elif uncovered:
            reason = "it names an AWS service the knowledge has no topic for, and no topic"
        elif out_of_scope and ranking.area is not None:
            area_name = self.index.area_names[ranking.area.topic - self.index.first_area]
            reason = (
                f"it reads more like an out-of-scope area, {area_name!r} (utility "
                f"{ranking.area.utility:.2f}), than like {topics[best.topic].id} "
                f"({best.utility:.2f})"
            )
        return answer, ranking, reason


def explanation_lines(explanation: Explanation) -> list[str]:
    """`awssec ask --explain`: how the question was read, the candidates, the decision."""
    lines: list[str] = []
    ranking = explanation.ranking
    topics = explanation.topics
    model = explanation.model
    if ranking is not None:
        reading = ranking.reading
        lines.append("Read as: " + (" ".join(reading.sequence) or "(nothing)"))
        for typed, fixed in reading.corrections:
            lines.append(f"  typo corrected: {typed} -> {fixed}")
        for split, joined in reading.joined:
            lines.append(f"  joined: {split} -> {joined}")
        for typed, parts in reading.split:
            lines.append(f"  split: {typed} -> {parts}")
        for term, expansions in reading.expanded:
            lines.append(f"  synonym: {term} -> " + "; ".join(" ".join(e) for e in expansions))
        if reading.unknown:
            lines.append("  unknown to the knowledge: " + ", ".join(reading.unknown))
        if reading.named:
            names = sorted(reading.named, key=reading.named.__getitem__)
            lines.append("  names: " + ", ".join(topics[t].id for t in names))
        if reading.asks_for_service:
            lines.append(
                "  asks for a service: a service it names is taken as the object, not the answer"
            )
        lines.append("")
        header = "candidate".ljust(28) + "".join(f"{n[:11]:>12}" for n in RANKING_FEATURES)
        lines.append(header + f"{'utility':>10}{'share':>8}")
        for candidate in ranking.candidates[:5]:
            contributions = "".join(
                f"{model.ranking.get(n, 0.0) * candidate.features[n]:>+12.2f}"
                for n in RANKING_FEATURES
            )
            lines.append(
                topics[candidate.topic].id[:27].ljust(28)
                + contributions
                + f"{candidate.utility:>10.2f}{candidate.share:>8.2f}"
            )
        if ranking.area is not None:
            area = ranking.area
            name = explanation.area_names[area.topic - len(topics)]
            lines.append(
                f"closest out-of-scope area: {name} (utility {area.utility:.2f}; never answered)"
            )
        lines.append("(each column: the feature's contribution to the utility = weight x value)")
        lines.append("")
        parts = ", ".join(
            f"{n} {model.decision.get(n, 0.0) * ranking.decision_features[n]:+.2f}"
            for n in DECISION_FEATURES
        )
        lines.append(f"Decision: P(top is right) = {ranking.probability:.3f} from {parts}")
    lines.append(f"Verdict: {explanation.reason}")
    return lines


_cached: tuple[KnowledgeBase, Matcher] | None = None


def match_question(question: str, kb: KnowledgeBase) -> Answer:
    """One-shot convenience: match against `kb`, reusing the index while `kb` is the same."""
    global _cached
    if _cached is None or _cached[0] is not kb:
        _cached = (kb, Matcher(kb))
    return _cached[1].match(question)
