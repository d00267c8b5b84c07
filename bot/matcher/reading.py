"""How a question is read: words to weighted alternatives, names spotted, the question's shape.

A `Reading` is everything the matcher knows about a question before it looks at a single
topic's score: each thing the asker said with every way it may be meant (as typed, typo-
corrected, joined with its neighbour, expanded through a synonym), how rare it is, which
topics the question names, and whether it asks *for* a service ("which service records
every KMS call?"), in which case a service named in it is the object, not the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import pairwise

from rapidfuzz import process
from rapidfuzz.distance import OSA

from bot.matcher.index import TopicIndex, pair_term
from bot.matcher.normalize import (
    ADDRESS_WORDS,
    COMPARISON_WORDS,
    GREETING_WORDS,
    INFIX_COMPARISON_WORDS,
    STOPWORDS,
    STRONG_COMPARISON_WORDS,
    WEAK_COMPARISON_WORDS,
    is_filler,
    is_resource_id,
    stem,
)
from bot.matcher.settings import (
    CORRECTED_TRUST,
    MAX_CACHED_CORRECTIONS,
    MIN_CORRECTABLE_LENGTH,
    MIN_MISTYPED_FILLER_LENGTH,
    MIN_SPLIT_PART_LENGTH,
    PRODUCT_NAME_GAP,
    SCANS_BEFORE_TYPO_TABLES,
    SYNONYM_TRUST,
    TWO_EDITS_FROM_LENGTH,
    WEAK_COMPARISON_MIN_NAMING_SHARE,
)

# "which service ...", "what aws tool ...", "is there a service that ...", "is there something
# that ...", "what should we use ...": the asker wants a service named, so a service they
# mention is what it acts on.
_ASKS_FOR_SERVICE = re.compile(
    r"\b(?:(?:which|what)(?: aws| amazon)? (?:service|services|tool|tools|product|products|"
    r"thing|offering|solution|one)\b"
    r"|is there (?:a|an|any)(?: aws| amazon)? (?:service|tool|product|way)\b"
    r"|is there (?:something|anything)\b"
    r"|what (?:should|can|could|do|would) (?:i|we|you) use\b"
    r"|what to use\b)"
)


# The filler words long enough to recognise when mistyped (MIN_MISTYPED_FILLER_LENGTH).
_LONG_FILLER_WORDS = tuple(sorted(w for w in STOPWORDS if len(w) >= MIN_MISTYPED_FILLER_LENGTH))


def _deletion_forms(word: str) -> set[str]:
    """`word`, and `word` with each one of its letters left out."""
    return {word, *(word[:i] + word[i + 1 :] for i in range(len(word)))}


class TypoTables:
    """The correctable known words arranged for typo correction: under each of their
    deletion forms (SymSpell's index, for one edit), and by length and first letter."""

    def __init__(self, vocabulary_by_length: dict[int, list[str]]) -> None:
        self.deletions: dict[str, list[str]] = {}
        self.by_length_and_initial: dict[tuple[int, str], list[str]] = {}
        for length, known_words in vocabulary_by_length.items():
            for known in known_words:
                self.by_length_and_initial.setdefault((length, known[0]), []).append(known)
                for form in _deletion_forms(known):
                    self.deletions.setdefault(form, []).append(known)

    def nearest(self, word: str) -> tuple[int, list[str]]:
        """The known words one edit from `word` (not itself known); when there are none and
        the word is long, those two edits away that start with the same letter."""
        one = self.one_edit(word)
        if one or len(word) < TWO_EDITS_FROM_LENGTH:
            return 1, one
        two = []
        for length in range(len(word) - 2, len(word) + 3):
            candidates = self.by_length_and_initial.get((length, word[0]))
            if candidates:
                found = process.extract(
                    word, candidates, scorer=OSA.distance, score_cutoff=2, limit=None
                )
                two += [known for known, _, _ in found]
        return 2, two

    def one_edit(self, word: str) -> list[str]:
        """The known words one edit (OSA: insert, delete, substitute, swap two neighbours)
        from `word`, which is not itself known: two words one edit apart share a form with at
        most one letter deleted from each, so only those forms are looked up."""
        candidates: set[str] = set()
        for form in _deletion_forms(word):
            candidates.update(self.deletions.get(form, ()))
        return [c for c in candidates if OSA.distance(word, c, score_cutoff=1) <= 1]


def nearest_by_scan(vocabulary_by_length: dict[int, list[str]], word: str) -> tuple[int, list[str]]:
    """`TypoTables.nearest`, by comparing `word` with every known word of about its length:
    what a process correcting only a few words does instead of building the tables."""
    max_edits = 1 if len(word) < TWO_EDITS_FROM_LENGTH else 2
    near: list[tuple[str, float]] = []
    for length in range(len(word) - max_edits, len(word) + max_edits + 1):
        candidates = vocabulary_by_length.get(length)
        if candidates:
            found = process.extract(
                word, candidates, scorer=OSA.distance, score_cutoff=max_edits, limit=None
            )
            near += [(known, distance) for known, distance, _ in found]
    one = [known for known, distance in near if distance <= 1]
    if one or max_edits == 1:
        return 1, one
    return 2, [known for known, _ in near if known[0] == word[0]]


# A name found in a question: the slice of `sequence` that says it (start, end), the name's
# stems, and the topics it names.
NamedRun = tuple[int, int, tuple[str, ...], list[int]]


@dataclass(frozen=True, slots=True)
class Holdout:
    """Cross-validation: read and score as if an example question, or a topic, were absent."""

    topic: int
    question: int | None = None  # None: the whole topic is left out


@dataclass(slots=True)
class Group:
    """One thing the asker said, and the stem sequences it may stand for."""

    alternatives: list[tuple[tuple[str, ...], float]]
    weight: float | None  # rarity of the best known reading; None: the knowledge never saw it
    # per alternative: the one word it reads (as typed, typo-fixed, joined, or a one-word
    # synonym expansion), or None (a multi-word reading): what a one-word name is checked
    # against
    spellings: list[str | None] = field(default_factory=list)
    # the stem, when the group is one reading of one stem at full trust, as most words are:
    # scoring reads it straight from the postings; set from `alternatives`
    plain_term: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if len(self.alternatives) == 1 and len(self.alternatives[0][0]) == 1:
            (term,), trust = self.alternatives[0]
            if trust == 1.0:
                self.plain_term = term


@dataclass
class Reading:
    words: list[str]  # every word typed (lower-case, markup stripped)
    groups: list[Group]
    sequence: list[str]  # best-guess stems in order, for phrases and paraphrase
    named: dict[int, int]  # topic index -> position of its first mention
    asks_for_service: bool
    comparison: bool
    corrections: list[tuple[str, str]] = field(default_factory=list)  # typed -> corrected
    joined: list[tuple[str, str]] = field(default_factory=list)  # "guard duty" -> guardduty
    split: list[tuple[str, str]] = field(default_factory=list)  # sessionmanager -> session manager
    # via synonyms: (the term as typed, the stemmed phrases it stands for)
    expanded: list[tuple[str, tuple[tuple[str, ...], ...]]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # words the knowledge never saw
    # groups (by position) that are part of a topic's name: "what does *macie* cost"
    naming_groups: set[int] = field(default_factory=set)
    # how many of `groups` are the question's words (the adjacent-pair groups follow them)
    word_groups: int = 0
    # per word group, the slice of `sequence` its primary reading fills
    spans: list[tuple[int, int]] = field(default_factory=list)
    # positions in `sequence` a comparison word ("vs", "or") came before: no name spans one
    # ("acm vs private ca" is not the alias "acm private ca")
    breaks: set[int] = field(default_factory=set)
    # ...the ones after a weak comparison word ("or", "between")
    weak_breaks: set[int] = field(default_factory=set)
    # ...the ones after "vs" or "versus"
    versus_breaks: set[int] = field(default_factory=set)
    # each naming: the slice of `sequence` that names, and the topic it names
    name_spans: list[tuple[int, int, int]] = field(default_factory=list)
    # it names an AWS service the knowledge has no topic for ("step functions"; knowledge
    # `services:`), matched exactly on a reading of its words (after typo fixing)
    names_uncovered: bool = False
    # it is about another cloud provider's or vendor's product (`Reader._about_another_provider`)
    about_other_provider: bool = False

    @property
    def about_uncovered(self) -> bool:
        """It names an AWS service without a topic and no topic, or it is about another
        cloud provider's product: refused before the fitted decision (docs/matching.md,
        "Two-stage decision")."""
        return (self.names_uncovered and not self.named) or self.about_other_provider

    def only_names(self) -> int | None:
        """The topic, when every word read names it and nothing else is said ("aws config"):
        one topic named, every word group part of a name, no unknown word."""
        if len(self.named) != 1 or not self.word_groups or self.unknown:
            return None
        if any(i not in self.naming_groups for i in range(self.word_groups)):
            return None
        return next(iter(self.named))

    @property
    def known_weight(self) -> float:
        return sum(g.weight for g in self.groups if g.weight is not None)

    def rest_weight(self, unknown_idf: float) -> float:
        """The question's weight apart from the words that name a topic."""
        return sum(
            unknown_idf if g.weight is None else g.weight
            for i, g in enumerate(self.groups)
            if i not in self.naming_groups
        )

    def total_weight(self, unknown_idf: float) -> float:
        return self.known_weight + unknown_idf * sum(1 for g in self.groups if g.weight is None)


def _names_differ_across(reading: Reading) -> bool:
    """May some weak comparison word ("or", "between") compare what stands on its two sides?
    Not when one side names only topics the other names too: "secrets manager or parameter
    store" compares, "a security group or nacl change alarm from cloudtrail" names security
    groups on both sides. A side naming nothing, against one topic on the other, may stand
    for a thread's topic ("how is that different from X"); against several, the question
    is about those ("can IAM users sign in to GovCloud or not")."""
    for at in reading.weak_breaks:
        before = {topic for _, end, topic in reading.name_spans if end <= at}
        after = {topic for start, _, topic in reading.name_spans if start >= at}
        if before - after and after - before:
            return True
        if len(before) + len(after) == 1:
            return True
    return False


def _names_differ_around(reading: Reading) -> bool:
    """Does some "vs" stand between names of different topics, the last name before it and
    the first after it? "secrets manager vs parameter store, is secrets manager worth it"
    compares; "aws private ca general purpose vs short-lived mode" compares two modes of one
    topic, not Private CA with what else the question names. As for a weak comparison word,
    one topic named in all ("vs detective?") may be compared with a thread's topic."""
    spans = reading.name_spans
    for at in reading.versus_breaks:
        before = [(end, topic) for _, end, topic in spans if end <= at]
        after = [(start, topic) for start, _, topic in spans if start >= at]
        last_end = max((end for end, _ in before), default=None)
        first_start = min((start for start, _ in after), default=None)
        nearest_before = {t for end, t in before if end == last_end}
        nearest_after = {t for start, t in after if start == first_start}
        if nearest_before - nearest_after and nearest_after - nearest_before:
            return True
        if len({t for _, t in before} | {t for _, t in after}) == 1:
            return True
    return False


# Words before a provider's name that make it a place, not the subject ("running in azure").
_LOCATION_WORDS = frozenset({"in", "on", "at", "from", "into", "inside", "via"})
# Words that say a question is about AWS whatever else it names...
_AWS_WORDS = frozenset({"aws", "amazon"})
# ...unless a negation comes before them, or before the place word in front of them ("our
# other website that isn't on aws", "a non-aws site", "hosted outside of aws").
_NEGATION_WORDS = frozenset({"not", "isnt", "arent", "wasnt", "non", "outside"})
_NEGATION_GAP_WORDS = frozenset({*_LOCATION_WORDS, "of", "using", "hosted", "running"})
# At most this many gap words between the negation and "aws" ("not hosted on aws"): more
# would reach back to a "not" about something else.
_NEGATION_MAX_GAP = 2


def _names_aws(typed: list[str]) -> bool:
    """Does the question name AWS other than as where something is not ("isn't on aws")?"""
    for at, word in enumerate(typed):
        if word not in _AWS_WORDS:
            continue
        before = at - 1
        while (
            before >= 0
            and typed[before] in _NEGATION_GAP_WORDS
            and at - before <= _NEGATION_MAX_GAP
        ):
            before -= 1
        if before < 0 or typed[before] not in _NEGATION_WORDS:
            return True
    return False


# Words before a provider's or vendor's name that make it what AWS would replace, not the
# subject ("can patch manager do this without wsus", "rotation instead of cyberark").
_REPLACED_WORDS = frozenset({"without", "replace", "replacing", "than"})


def _replaced(typed: list[str], at: int) -> bool:
    """Does the name at `at` follow "without", "replace", "than" or "instead of"?"""
    before = typed[at - 1] if at else ""
    return before in _REPLACED_WORDS or (before == "of" and typed[at - 2 : at - 1] == ["instead"])


def _within_product(name: tuple[str, ...], products: list[tuple[str, ...]]) -> bool:
    """Is `name` part of some provider's product name, at most PRODUCT_NAME_GAP words in?"""
    return any(
        product[gap : gap + len(name)] == name
        for product in products
        for gap in range(min(PRODUCT_NAME_GAP, len(product) - len(name)) + 1)
    )


class Reader:
    """Reads questions against one index; caches typo corrections (bounded)."""

    def __init__(self, index: TopicIndex) -> None:
        self.index = index
        self._corrections: dict[str, tuple[str, int] | None] = {}
        # first words of the multi-word synonyms: the only words worth a synonym phrase lookup
        self._synonym_starts = frozenset(term[0] for term in index.synonyms if len(term) > 1)
        # first word of each typed phrase -> the phrases' lengths, longest first
        lengths: dict[str, set[int]] = {}
        for phrase in index.typed_phrases:
            lengths.setdefault(phrase[0], set()).add(len(phrase))
        self._typed_lengths = {w: sorted(ns, reverse=True) for w, ns in lengths.items()}
        # built after SCANS_BEFORE_TYPO_TABLES unknown words (~70 ms for the bundled
        # knowledge), not with the index: a one-shot `awssec ask` never needs them
        self._typos: TypoTables | None = None
        self._scans = 0  # unknown words corrected by scanning, before the tables exist
        # first stems of the other cloud providers' names, and the lengths of those names and
        # of the AWS services' (what `_about_another_provider` looks for)
        self._provider_starts = frozenset(p[0] for p in index.other_provider_phrases)
        named = index.other_provider_phrases | index.service_phrases
        self._provider_and_service_lengths = sorted({len(p) for p in named}, reverse=True)

    def read(self, all_words: list[str], holdout: Holdout | None = None) -> Reading:
        all_words, rewritten = self._read_typed_phrases(all_words)
        content: list[str] = []
        after_comparison: set[int] = set()  # content words that follow a "vs", "or"...
        after_weak: set[int] = set()  # ...and those that follow an "or", "between"...
        after_versus: set[int] = set()  # ...and those that follow a "vs", "versus"
        for i, w in enumerate(all_words):
            if w in ADDRESS_WORDS and i and all_words[i - 1] in GREETING_WORDS:
                continue  # "hey bot": the bot addressed, not a bot talked about
            if w in COMPARISON_WORDS:
                after_comparison.add(len(content))
                if w in WEAK_COMPARISON_WORDS:
                    after_weak.add(len(content))
                elif w in INFIX_COMPARISON_WORDS:
                    after_versus.add(len(content))
            elif not is_filler(w) and not is_resource_id(w) and not self._mistyped_filler(w):
                content.append(w)
        reading = Reading(
            words=all_words,
            groups=[],
            sequence=[],
            named={},
            asks_for_service=bool(_ASKS_FOR_SERVICE.search(" ".join(all_words))),
            comparison=any(w in STRONG_COMPARISON_WORDS for w in all_words),
        )
        reading.expanded.extend(rewritten)
        self._read_groups(content, after_comparison, after_weak, after_versus, reading, holdout)
        reading.named = self._named(reading, holdout)
        reading.about_other_provider = self._about_another_provider(reading)
        if (
            reading.comparison
            and after_versus
            and INFIX_COMPARISON_WORDS.issuperset(
                w for w in all_words if w in STRONG_COMPARISON_WORDS
            )
        ):
            # Only "vs" says it compares: the sides must name different topics.
            reading.comparison = _names_differ_around(reading)
        # A question asking for a service compares nothing with its "or": "is there something
        # that tells us when a kms key or iam role is shared outside the org" names objects.
        if not reading.comparison and after_weak and not reading.asks_for_service:
            words_read = reading.word_groups
            naming = sum(1 for g in reading.naming_groups if g < words_read)
            reading.comparison = (
                words_read > 0
                and naming / words_read >= WEAK_COMPARISON_MIN_NAMING_SHARE
                and _names_differ_across(reading)
            )
        return reading

    def _about_another_provider(self, reading: Reading) -> bool:
        """Is it about another cloud provider's product ("cloudflare waf custom rule to block
        bots", "gcp secret manager rotation")? It names a provider from the knowledge's
        `other_clouds:` or a vendor from `other_vendors:`, says nothing of AWS (no "aws" or
        "amazon", no name from `services:`), and every topic it names comes right after a
        provider's name or inside its product's name (`_product_names`): "cloudflare waf" and
        "azure front door waf" are theirs, while "azure ad as the identity source for iam
        identity center" names a topic of its own. A cloud named only as where something is,
        with no product after it ("a workload running in azure", "added the cname in
        cloudflare"), does not make it about them; "key rotation in gcp cloud kms" names
        their product, and a vendor is never a place ("a vulnerability in google chrome").
        Nor does a provider or vendor named, with no product after it, as what AWS would
        replace ("can patch manager do this without wsus", "instead of cyberark")."""
        sequence = reading.sequence
        if self._provider_starts.isdisjoint(sequence) or _names_aws(reading.words):
            return False  # most questions: no provider named, or AWS named
        typed = reading.words
        mentions = [i for i, w in enumerate(typed) if w in self.index.other_provider_words]
        products = self._product_names(typed, mentions)
        vendors = self.index.other_vendor_words
        if all(
            i
            and not product
            and (
                _replaced(typed, i) or (typed[i - 1] in _LOCATION_WORDS and typed[i] not in vendors)
            )
            for i, product in zip(mentions, products, strict=True)
        ):
            return False
        clouds, services = self.index.other_provider_phrases, self.index.service_phrases
        after_cloud: set[int] = set()  # positions right after a provider's name
        for start in range(len(sequence)):
            for n in self._provider_and_service_lengths:
                run = tuple(sequence[start : start + n])
                if len(run) < n:
                    continue
                if run in clouds:
                    after_cloud.add(start + n)
                elif run in services:
                    return False
        if not after_cloud:
            return False
        return all(
            start in after_cloud or _within_product(tuple(sequence[start:end]), products)
            for start, end, _ in reading.name_spans
        )

    def _product_names(self, typed: list[str], mentions: list[int]) -> list[tuple[str, ...]]:
        """The stems of the words after each provider's name, up to the first filler or
        comparison word: its product's name ("front door waf" in "azure front door waf
        custom rule"; "ad sso" in "azure ad sso into identity center", where "into" ends
        it, so Identity Center is named outside it)."""
        clouds = self.index.other_provider_phrases
        products = []
        for at in mentions:
            run: list[str] = []
            for w in typed[at:]:
                if is_filler(w) or w in COMPARISON_WORDS:
                    break
                run.append(stem(w))
            provider = max((len(p) for p in clouds if tuple(run[: len(p)]) == p), default=1)
            products.append(tuple(run[provider:]))
        return products

    def _read_typed_phrases(
        self, all_words: list[str]
    ) -> tuple[list[str], list[tuple[str, tuple[tuple[str, ...], ...]]]]:
        """The words with each synonym phrase made of filler words ("us or aws") replaced by
        the words it is read as, and what was replaced (for `--explain`)."""
        if self._typed_lengths.keys().isdisjoint(all_words):
            return all_words, []
        phrases = self.index.typed_phrases
        rewritten: list[str] = []
        replaced: list[tuple[str, tuple[tuple[str, ...], ...]]] = []
        i = 0
        while i < len(all_words):
            for n in self._typed_lengths.get(all_words[i], ()):
                phrase = tuple(all_words[i : i + n])
                if phrase in phrases:
                    rewritten.extend(phrases[phrase])
                    replaced.append((" ".join(phrase), (tuple(map(stem, phrases[phrase])),)))
                    i += n
                    break
            else:
                rewritten.append(all_words[i])
                i += 1
        return rewritten, replaced

    # -- words to weighted groups of alternatives ------------------------------------------

    def _read_groups(
        self,
        content: list[str],
        after_comparison: set[int],
        after_weak: set[int],
        after_versus: set[int],
        reading: Reading,
        holdout: Holdout | None,
    ) -> None:
        index = self.index
        seen: set[tuple] = set()
        i = 0
        while i < len(content):
            if i in after_comparison:
                reading.breaks.add(len(reading.sequence))
            if i in after_weak:
                reading.weak_breaks.add(len(reading.sequence))
            if i in after_versus:
                reading.versus_breaks.add(len(reading.sequence))
            consumed, spelled_alternatives = self._alternatives(content, i, reading)
            alternatives = [(stems, trust) for stems, trust, _ in spelled_alternatives]
            spellings = [spelled for _, _, spelled in spelled_alternatives]
            i += consumed
            key = tuple(alternatives)
            primary = alternatives[0][0]
            start = len(reading.sequence)
            reading.sequence.extend(primary)
            if key in seen:
                continue
            if len(primary) == 1 and len(primary[0]) <= 2 and not self.known(primary, holdout):
                continue  # "rn", "k", "db?" typed in passing: too short to mean anything
            seen.add(key)
            if holdout is None and len(alternatives) == 1 and len(primary) == 1:
                weight = index.idf.get(primary[0])  # most words: the same, one lookup
            else:
                weight = max(
                    (self._idf(stems) for stems, _ in alternatives if self.known(stems, holdout)),
                    default=None,
                )
            if weight is None:
                reading.unknown.append(" ".join(content[i - consumed : i]))
            reading.groups.append(Group(alternatives, weight, spellings))
            reading.spans.append((start, len(reading.sequence)))
        reading.word_groups = len(reading.groups)
        df = index.document_frequency
        for first, second in pairwise(reading.sequence):
            pair = pair_term(first, second)
            known = pair in df if holdout is None else self.known((pair,), holdout)
            if known and (pair,) not in seen:
                seen.add((pair,))
                reading.groups.append(Group([((pair,), 1.0)], index.idf[pair], [None]))

    def _alternatives(
        self, content: list[str], i: int, reading: Reading
    ) -> tuple[int, list[tuple[tuple[str, ...], float, str | None]]]:
        """How many words were read, and their readings: (stems, trust, the word read)."""
        index = self.index
        # A multi-word synonym ("api keys", "denial of service") is read as one thing.
        for n in (3, 2) if content[i] in self._synonym_starts else ():
            term = tuple(content[i : i + n])
            if len(term) == n and term in index.synonyms:
                original = tuple(stem(w) for w in term)
                reading.expanded.append((" ".join(term), tuple(index.synonyms[term])))
                expanded = [
                    (e, SYNONYM_TRUST, w)
                    for e, w in zip(index.synonyms[term], index.synonym_words[term], strict=True)
                ]
                return n, [(original, 1.0, None), *expanded]
        word = content[i]
        # People split one-word names: "guard duty", "cloud trail"; "secrets manager" stays,
        # and so does a pair that is a name as typed ("private ca").
        if i + 1 < len(content) and (joined := word + content[i + 1]) in index.joined_words:
            as_typed = (stem(word), stem(content[i + 1]))
            if stem(joined) in index.idf and as_typed not in index.phrases:
                reading.joined.append((f"{word} {content[i + 1]}", joined))
                return 2, [((stem(joined),), 1.0, joined)]
        unknown = self._unknown_as_typed(word)
        if unknown and (parts := self._split_words(word)):
            # ...and run them together: "SessionManager" pasted from an error message.
            reading.split.append((word, " ".join(parts)))
            return 1, [(tuple(map(stem, parts)), 1.0, None)]
        alternatives: list[tuple[tuple[str, ...], float, str | None]] = [((stem(word),), 1.0, word)]
        spelled = word
        if unknown:
            correction = self._correct(word)
            if correction:
                spelled, distance = correction
                reading.corrections.append((word, spelled))
                guess = ((stem(spelled),), CORRECTED_TRUST**distance, spelled)
                # A known stem stays the first reading; an unknown word yields to the fix.
                if stem(word) in index.idf:
                    alternatives.append(guess)
                else:
                    alternatives.insert(0, guess)
        expansions = index.synonyms.get((spelled,), ())
        if expansions:
            reading.expanded.append((spelled, tuple(expansions)))
        expansion_words = index.synonym_words.get((spelled,), ())
        for expansion, expansion_word in zip(expansions, expansion_words, strict=True):
            alternatives.append((expansion, SYNONYM_TRUST, expansion_word))
        return 1, alternatives

    def _unknown_as_typed(self, word: str) -> bool:
        """A word the knowledge does not know as typed, and so maybe a typo: not a known word,
        not a synonym, and not an uncovered service's exact name ("amplify")."""
        index = self.index
        return (
            word not in index.known_words
            and (word,) not in index.synonyms
            and (stem(word),) not in index.uncovered_phrases
        )

    def _split_words(self, word: str) -> tuple[str, str] | None:
        """`word` as two known words whose stems the knowledge uses side by side (a name,
        or an adjacent pair of a name, keyword or example question): "sessionmanager" is
        "session manager", "securitygroup" "security group"."""
        index = self.index
        known, df = index.known_words, index.document_frequency
        for cut in range(MIN_SPLIT_PART_LENGTH, len(word) - MIN_SPLIT_PART_LENGTH + 1):
            first, second = word[:cut], word[cut:]
            if first in known and second in known and pair_term(stem(first), stem(second)) in df:
                return first, second
        return None

    def _mistyped_filler(self, word: str) -> bool:
        """Is `word`, unknown to the knowledge, a filler word with one typo ("servce" for
        "service")? Then it is dropped like the filler word, not corrected to a knowledge word
        that is as close ("serve")."""
        if len(word) < MIN_MISTYPED_FILLER_LENGTH - 1 or not self._unknown_as_typed(word):
            return False
        found = process.extractOne(word, _LONG_FILLER_WORDS, scorer=OSA.distance, score_cutoff=1)
        return found is not None

    def _correct(self, word: str) -> tuple[str, int] | None:
        """The closest known word and its edit distance, if the typo is a plausible one."""
        if len(word) < MIN_CORRECTABLE_LENGTH or word.isdigit():
            return None
        if word in self._corrections:
            return self._corrections[word]
        if len(self._corrections) >= MAX_CACHED_CORRECTIONS:
            self._corrections.clear()
        correction = self._closest_known(word)
        self._corrections[word] = correction
        return correction

    def _closest_known(self, word: str) -> tuple[str, int] | None:
        """The known word closest to `word`, and how many edits away: one edit, or two in long
        words ("weather" is not a typo of "gather") and then only to a word with the same first
        letter (people rarely mistype the first letter *and* something else). Among equally
        close words, one from a topic's name ("inspecter" is Inspector, not "inspected")."""
        if self._typos is None and self._scans < SCANS_BEFORE_TYPO_TABLES:
            self._scans += 1
            distance, near = nearest_by_scan(self.index.vocabulary_by_length, word)
        else:
            distance, near = self.typo_tables().nearest(word)
        if not near:
            return None
        name_words = self.index.name_words
        return min(near, key=lambda known: (known not in name_words, known)), distance

    def typo_tables(self) -> TypoTables:
        """The tables typo correction uses, built at the first call."""
        if self._typos is None:
            self._typos = TypoTables(self.index.vocabulary_by_length)
        return self._typos

    # -- what is known -----------------------------------------------------------------------

    def known(self, stems: tuple[str, ...], holdout: Holdout | None = None) -> bool:
        df = self.index.document_frequency
        if holdout is None:
            return all(s in df for s in stems)
        return all(self._frequency_without(s, holdout) > 0 for s in stems)

    def _frequency_without(self, term: str, holdout: Holdout) -> int:
        frequency = self.index.document_frequency.get(term, 0)
        counts = self.index.field_counts[holdout.topic]
        total = sum(c.get(term, 0) for c in counts.values())
        if not total:
            return frequency
        if holdout.question is None:
            return frequency - 1  # the whole topic is out: its words count nowhere else
        total -= self.index.question_terms[holdout.topic][holdout.question].get(term, 0)
        return frequency - (1 if total <= 0 else 0)

    def _idf(self, stems: tuple[str, ...]) -> float:
        return sum(self.index.idf[s] for s in stems) / len(stems)

    # -- names -----------------------------------------------------------------------------

    def _topics_named_by(self, phrase: tuple[str, ...], left_out: int | None) -> list[int]:
        """The topics whose name or alias is `phrase` (stems), but the one left out."""
        return [t for t in self.index.phrases.get(phrase, ()) if t != left_out]

    def _coordinated(
        self,
        named_runs: list[NamedRun],
        in_named_run: set[int],
        sequence: list[str],
        left_out: int | None,
    ) -> list[NamedRun]:
        """Names whose last words are shared with the name after them: "proactive vs
        detective vs preventive controls" says "proactive controls" and "detective controls"
        (Control Tower terms), not Amazon Detective. Each word right before a name of 2+
        words that, with that name's words after its first, is itself a name, is that name;
        marked in `in_named_run` so that it names nothing on its own."""
        found = []
        for start, _, phrase, topics in named_runs:
            if not topics or len(phrase) < 2:
                continue
            shared_words = phrase[1:]
            before = start - 1
            while before >= 0 and before not in in_named_run:
                name = (sequence[before], *shared_words)
                named_topics = self._topics_named_by(name, left_out)
                if not named_topics:
                    break
                found.append((before, before + 1, name, named_topics))  # one word of it
                in_named_run.add(before)
                before -= 1
        return found

    def _named(self, reading: Reading, holdout: Holdout | None) -> dict[int, int]:
        """Topics whose name or alias the question uses, with the first position."""
        phrases = self.index.phrases
        left_out = holdout.topic if holdout and holdout.question is None else None
        # Runs of words in their best reading that are a name ("aws secrets manager"):
        # longest first, then left to right; only runs whose first stem starts a phrase of
        # that length are looked up.
        sequence = reading.sequence
        longest = min(self.index.longest_phrase, len(sequence))
        phrase_lengths = self.index.phrase_lengths
        runs = sorted(
            (-n, start)
            for start, first in enumerate(sequence)
            for n in phrase_lengths.get(first, ())
            if n <= longest and start + n <= len(sequence)
        )
        if reading.breaks:
            breaks = reading.breaks
            runs = [(m, s) for m, s in runs if not any(s < b < s - m for b in breaks)]
        named_runs: list[NamedRun] = []
        in_named_run: set[int] = set()  # positions in `sequence` inside a name of 2+ words
        for minus_n, start in runs:
            phrase = tuple(sequence[start : start - minus_n])
            topics = self._topics_named_by(phrase, left_out)
            named_runs.append((start, start - minus_n, phrase, topics))
            if topics:
                in_named_run.update(range(start, start - minus_n))
        named_runs += self._coordinated(named_runs, in_named_run, sequence, left_out)
        named: dict[int, int] = {}
        name_stems: set[str] = set()
        # Any reading of a single thing said (a typo fix, a synonym) may name a topic, unless
        # the word is part of a longer name: "detective" in "detective controls" (a Control
        # Tower term) does not name Amazon Detective, nor "iam" in "iam identity center" IAM.
        uncovered = self.index.uncovered_phrases
        one_word_names = self.index.one_word_names
        # (The word groups only: the adjacent-pair groups after them are never a name.)
        word_groups = reading.groups[: reading.word_groups]
        for position, (group, (start, end)) in enumerate(
            zip(word_groups, reading.spans, strict=True)
        ):
            inside_longer_name = bool(in_named_run) and in_named_run.issuperset(range(start, end))
            for (stems, _), spelled in zip(group.alternatives, group.spellings, strict=True):
                forms = one_word_names.get(stems[0]) if len(stems) == 1 else None
                if forms is not None and spelled is not None and spelled not in forms:
                    continue  # same stem, another word: "sign" does not name AWS Signer
                if not inside_longer_name:
                    for topic in phrases.get(stems, ()):
                        if topic != left_out:
                            named.setdefault(topic, position)
                            reading.naming_groups.add(position)
                            reading.name_spans.append((start, end, topic))
                if stems in uncovered:
                    reading.names_uncovered = True
        for start, end, phrase, topics in named_runs:
            for topic in topics:
                named.setdefault(topic, start)
                name_stems.update(phrase)
                reading.name_spans.append((start, end, topic))
            if phrase in uncovered:
                reading.names_uncovered = True
        for position, group in enumerate(reading.groups):
            primary = group.alternatives[0][0]
            if all(s in name_stems for term in primary for s in term.split()):
                reading.naming_groups.add(position)
        return named
