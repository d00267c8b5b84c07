"""Reports over recorded answers: missed questions (grouped), helpfulness and load per topic."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import chain, filterfalse, islice, repeat
from operator import mul
from typing import TYPE_CHECKING, Literal

from rapidfuzz import fuzz, process
from sqlalchemy import ColumnElement, Connection, Text, case, cast, func, select

from bot.storage.schema import answers, comments, votes

if TYPE_CHECKING:
    from bot.storage.store import Store

__all__ = [
    "MissCluster",
    "Report",
    "TopicStat",
    "build_report",
    "cluster_questions",
    "format_report",
    "format_summary",
    "group_questions",
    "parse_since",
    "stored_tidy",
    "tidy_question",
]

ReportFormat = Literal["table", "json", "csv"]

# token_set_ratio scores a question 100 against any question containing all its words, so a
# second, order-insensitive whole-string score stops "s3" from swallowing every S3 question.
SET_THRESHOLD = 85
SORT_THRESHOLD = 60

# What one report reads. The headline totals are exact (counted by the database); these bound
# the rows behind the sections, so a report's time and memory stop growing with the data.
# Newest misses grouped. Trade: in a window with more misses, older ones count in the headline
# but not in "Top missed questions" (the table says so); in exchange `awssec report` over
# 10,000 stored misses stays well under 2 s as a whole process (grouping 5,000: ~0.5 s; 10,000:
# ~1.1 s, which with start-up and imports took 2.0-2.4 s; bench/report_scale.py, 2 cores).
MAX_REPORT_MISSES = 5_000
# Characters of each missed question read. Trade: longer pastes are shown, and told apart as
# wordings, by their first 500 characters (the table shows 60; grouping looks at 24 words);
# bounds a report's memory to ~5 MB of questions and the time spent normalising them.
MAX_QUESTION_CHARS = 500
# Newest answered questions counted per topic. Trade: "Busiest" and "Helpfulness" cover only
# these in a busier window (the table says so); the headline still counts every answer.
MAX_REPORT_ANSWERS = 50_000
# Newest votes on those answers counted per topic. Trade: per-topic votes beyond this are left
# out of "Helpfulness" (the headline vote totals stay exact).
MAX_REPORT_VOTES = 50_000

# Grouping never compares every pair: a wording is scored only against wordings whose word sets
# look alike by MinHash (locality-sensitive hashing): near-linear, and blind to word rarity.
# Words of a normalised question the scorers see. Trade: two questions agreeing on their first
# 24 words group together whatever follows (a pasted policy, a log); in exchange a comparison
# costs the same however long the paste, and shared boilerplate further down cannot merge
# unrelated questions.
COMPARE_WORDS = 24
# MinHash bands, each of BAND_ROWS hashes; wordings sharing a band are candidates. Trade: more
# bands find less alike pairs (two wordings with half their words in common meet with ~99%
# chance at 16 x 2) at more hashing per wording; more rows per band the opposite.
SIGNATURE_BANDS = 16
BAND_ROWS = 2
# Wordings scored per batch, those sharing the most bands first (another batch follows while
# one finds matches). Trade: smaller batches score fewer hopeless pairs but stop sooner when a
# batch's best candidates all fail; the scoring stays linear (about n x this many comparisons).
MAX_CANDIDATES = 32
# Bands two wordings must share to be scored at all (about 16 x J^2 are shared for word sets
# with Jaccard similarity J). Trade: 2 skips pairs with under ~30% of words in common, which
# rarely reach the thresholds above; 3 missed ~5% more grouped pairs for no measurable gain.
MIN_SHARED_BANDS = 2
# A word's first letters count as a word too, so "guarduty" still meets "guardduty".
_WORD_START = 4
# Each miss stores its tidied text and band keys (answers.question_tidied) when recorded, so a
# report need not tidy and hash every question again. Bump this whenever what tidy_question
# returns changes (normalize_question, its filler words, MAX_QUESTION_CHARS, COMPARE_WORDS) or
# what _Signatures.bands returns (SIGNATURE_BANDS, BAND_ROWS, _WORD_START, _BAND_*, the
# hashing): rows stored under another version are tidied again at report time, as rows from
# before the column are.
TIDY_VERSION = 1
_TIDY_VERSION_TEXT = str(TIDY_VERSION)
# Band keys mix a band's number and values modulo this Mersenne prime (2^61 - 1), each value
# weighted by a power of one arbitrary constant: two different bands share a key with odds of
# ~2^-61 (a needless comparison at worst), and a key takes at most 16 hex digits to store.
_BAND_PRIME = (1 << 61) - 1
_BAND_WEIGHTS = [pow(0x5BD1E995_9E3779B9, row + 1, _BAND_PRIME) for row in range(BAND_ROWS)]
_HEX = "{:x}"

# Wordings of a missed group kept on its MissCluster (`wordings`), most asked first: what
# "Answer with…" teaches and whose askers it tells. Trade: a bigger group is taught whole, at
# one learned row per wording and a longer teach_groups row (each wording up to
# MAX_QUESTION_CHARS); past this, its least asked wordings are not taught.
MAX_CLUSTER_WORDINGS = 100
# Wordings shown per group (`variants`, the CLI's JSON and the teaching menus' preview).
SHOWN_VARIANTS = 5
# The surface of answers given unasked in auto-answer channels (recorded by
# bot/slack/listeners/events/conversations.py AUTO_SURFACE): reported on their own line.
AUTO_SURFACE = "auto"
# Stale topics listed in the Slack summary; the rest are counted ("and N more"). Trade: a
# longer list in an ephemeral message; `awssec report` lists them all.
SUMMARY_STALE_SHOWN = 10

_SINCE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_MAX_SINCE = timedelta(days=3660)


def parse_since(value: str) -> timedelta:
    """``30m``, ``24h``, ``7d``, ``2w`` → timedelta; ValueError (one line) for anything else."""
    m = _SINCE.match(value or "")
    if not m:
        raise ValueError(
            f"invalid --since {value!r}: use a number and a unit m, h, d or w (e.g. 24h, 7d, 2w)"
        )
    amount, unit = int(m.group(1)), m.group(2).lower()
    delta = timedelta(**{_UNITS[unit]: amount}) if amount < 10**6 else _MAX_SINCE * 2
    if amount == 0 or delta > _MAX_SINCE:
        raise ValueError(f"invalid --since {value!r}: must be between 1m and 10 years")
    return delta


@dataclass
class MissCluster:
    count: int
    example: str
    variants: list[str]  # the SHOWN_VARIANTS most asked wordings
    suggestions: list[tuple[str, int]]
    # Every wording of the group, most asked first, up to MAX_CLUSTER_WORDINGS: what a teach
    # from the report covers.
    wordings: list[str] = field(default_factory=list)


@dataclass
class TopicStat:
    topic_id: str
    answers: int = 0
    helpful: int = 0
    not_helpful: int = 0

    @property
    def ratio(self) -> float | None:
        """Share of votes that said helpful; None without votes."""
        votes = self.helpful + self.not_helpful
        return self.helpful / votes if votes else None


@dataclass
class CommentItem:
    created_at: datetime
    topic_ids: list[str]
    comment: str


@dataclass
class Report:
    since: datetime
    until: datetime
    answers: int = 0
    misses: int = 0
    helpful: int = 0
    not_helpful: int = 0
    # How many misses and answered questions the sections were built from (the newest, up to
    # MAX_REPORT_MISSES / MAX_REPORT_ANSWERS); the totals above count every one.
    misses_grouped: int = 0
    answered_counted: int = 0
    # Answers given unasked in auto-answer channels (surface "auto"), counted in the totals
    # above too, and the votes on them.
    auto_answers: int = 0
    auto_helpful: int = 0
    auto_not_helpful: int = 0
    missed: list[MissCluster] = field(default_factory=list)
    most_not_helpful: list[TopicStat] = field(default_factory=list)
    helpfulness: list[TopicStat] = field(default_factory=list)
    busiest: list[TopicStat] = field(default_factory=list)
    comments: list[CommentItem] = field(default_factory=list)

    def to_dict(self) -> dict:
        def topic(t: TopicStat) -> dict:
            return {**asdict(t), "ratio": None if t.ratio is None else round(t.ratio, 3)}

        return {
            "since": _iso(self.since),
            "until": _iso(self.until),
            "answers": self.answers,
            "misses": self.misses,
            "helpful": self.helpful,
            "not_helpful": self.not_helpful,
            "misses_grouped": self.misses_grouped,
            "answered_counted": self.answered_counted,
            "auto": {
                "answers": self.auto_answers,
                "helpful": self.auto_helpful,
                "not_helpful": self.auto_not_helpful,
            },
            "missed": [
                {**asdict(c), "suggestions": [{"id": s, "count": n} for s, n in c.suggestions]}
                for c in self.missed
            ],
            "most_not_helpful": [topic(t) for t in self.most_not_helpful],
            "helpfulness": [topic(t) for t in self.helpfulness],
            "busiest": [topic(t) for t in self.busiest],
            "comments": [
                {"created_at": _iso(c.created_at), "topic_ids": c.topic_ids, "comment": c.comment}
                for c in self.comments
            ],
        }


# --- grouping missed questions ----------------------------------------------------------------

_STOPWORDS_TEXT = (
    "a an the is are was be do does did i we you my our your it its of to in on for with "
    "and or how what which who whom when where why can could should would will shall may "
    "might there this that these those me us please hi hey hello aws about any some if "
    "using use"
)
_STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
_NOISE = re.compile(r"<[@#!][^>]*>|\[REDACTED [^\]]*\]")
_NON_WORD = re.compile(r"[^a-z0-9]+")
_ASCII_NON_WORD = str.maketrans(
    {c: " " for c in map(chr, range(128)) if not ("a" <= c <= "z" or "0" <= c <= "9")}
)
# Words split off a question before its first COMPARE_WORDS kept ones are looked for. Trade:
# enough whenever fewer than half are filler words (else the rest is split too, as it would be
# anyway); more splits further into long pastes for nothing.
_SPLIT_AHEAD = 2 * COMPARE_WORDS


class _KeptWords(dict[str, str]):
    """word -> what normalising keeps of it ("" for a filler word; plural ``s`` dropped),
    worked out once per word: the questions a report tidies share most of their words."""

    def __missing__(self, word: str) -> str:
        plural = len(word) > 3 and word.endswith("s") and not word.endswith("ss")
        kept = self[word] = "" if word in _STOPWORDS else word[:-1] if plural else word
        return kept


def _spaced(question: str) -> str:
    """Lower case, Slack mentions and redaction markers gone, every run of characters other
    than a-z and 0-9 a space or more: split, the question's words."""
    if "<" in question or "[" in question:  # no mention or redaction marker without them
        question = _NOISE.sub(" ", question)
    text = question.lower()
    # str.translate is ~5x faster than the regex, and equivalent on ASCII (nearly every text).
    return text.translate(_ASCII_NON_WORD) if text.isascii() else _NON_WORD.sub(" ", text)


def normalize_question(question: str) -> str:
    """Lower case, no punctuation, Slack mentions, redaction markers or filler words; plural
    ``s`` dropped so "keys" and "key" group together."""
    words = _spaced(question).split()
    return " ".join(filter(None, map(_KeptWords().__getitem__, words))) or " ".join(words)


def tidy_question(question: str, kept_words: _KeptWords | None = None) -> str:
    """What grouping compares of a question: the first COMPARE_WORDS words of the normalised
    text of its first MAX_QUESTION_CHARS characters (what a report reads of it).
    ``kept_words`` carries what is known of words across the questions of one report."""
    keep = (kept_words if kept_words is not None else _KeptWords()).__getitem__
    text = _spaced(question[:MAX_QUESTION_CHARS])
    # Splitting every word of a long paste costs more than the rest: split a few first.
    words = text.split(None, _SPLIT_AHEAD)
    kept = [*filter(None, map(keep, words[:_SPLIT_AHEAD]))]
    if len(kept) < COMPARE_WORDS and len(words) > _SPLIT_AHEAD:
        words = text.split()
        kept = [*filter(None, map(keep, words))]
    return " ".join((kept or words)[:COMPARE_WORDS])


def stored_tidy(question: str) -> str:
    """The ``answers.question_tidied`` value of a miss: ``<version>:<bands>:<tidied text>``,
    the bands being the tidied text's MinHash band keys (what a report indexes it by).

    Pass the *guarded* question (as stored): the value is derived from it, never from what was
    typed, so it holds no secret the stored question does not.
    """
    tidied = tidy_question(question)
    return f"{TIDY_VERSION}:{' '.join(_Signatures().bands(tidied))}:{tidied}"


def _parse_stored(stored: str) -> tuple[str, list[str]] | None:
    """(tidied text, band keys) of a stored value of this version; None for any other."""
    parts = stored.split(":", 2)
    if len(parts) != 3 or parts[0] != _TIDY_VERSION_TEXT:
        return None
    keys = parts[1].split()
    # A damaged value (bands missing or repeated) is ignored: the row is tidied again.
    return (parts[2], keys) if len(set(keys)) == SIGNATURE_BANDS == len(keys) else None


def cluster_questions(
    items: list[tuple[str, list[str]]],
    *,
    limit: int | None = None,
    tidied: list[str | None] | None = None,
) -> list[MissCluster]:
    """Group similar questions. ``items`` are (question, suggestions offered); ``tidied``, when
    given, holds each one's stored ``question_tidied`` (None: computed here). The result is
    sorted by count, largest first."""
    questions = [question for question, _ in items]
    groups = group_questions(questions, tidied)[:limit]
    return [_cluster(questions, lambda i: items[i][1], group) for group in groups]


def group_questions(
    questions: list[str], tidied: list[str | None] | None = None
) -> list[list[int]]:
    """Indexes of ``questions`` grouped by similarity, largest group first (``tidied`` as in
    cluster_questions)."""
    stored = tidied if tidied is not None else [None] * len(questions)
    by_key: dict[str, list[int]] = {}
    bands_of: dict[str, list[str]] = {}
    kept_words = _KeptWords()
    for i, (question, known) in enumerate(zip(questions, stored, strict=True)):
        parsed = _parse_stored(known) if known else None
        if parsed is None:
            # A row from before the column, or of another TIDY_VERSION.
            key = tidy_question(question, kept_words)
        else:
            key, bands = parsed
            bands_of.setdefault(key, bands)
        by_key.setdefault(key, []).append(i)
    # Most asked first, so each group is seeded by its most common wording.
    keys = sorted(by_key, key=lambda k: -len(by_key[k]))
    index = _BlockingIndex(keys, [bands_of.get(key) for key in keys])
    groups = [[i for k in group for i in by_key[keys[k]]] for group in _group(keys, index)]
    groups.sort(key=lambda g: -len(g))
    return groups


def _cluster(
    questions: list[str], offered_of: Callable[[int], list[str]], indexes: list[int]
) -> MissCluster:
    wordings = Counter(questions[i].strip() for i in indexes)
    offered = Counter(s for i in indexes for s in dict.fromkeys(offered_of(i)))
    return MissCluster(
        count=len(indexes),
        example=wordings.most_common(1)[0][0],
        variants=[q for q, _ in wordings.most_common(SHOWN_VARIANTS)],
        suggestions=offered.most_common(3),
        wordings=[q for q, _ in wordings.most_common(MAX_CLUSTER_WORDINGS)],
    )


def _group(keys: list[str], index: _BlockingIndex) -> list[list[int]]:
    """Each still-ungrouped key, in order, takes the similar keys among its candidates."""
    # token_sort_ratio is ratio() over the words sorted: sorting once per key, not once per
    # pair, makes that test ~8x cheaper, so it runs first and token_set_ratio only on its passes.
    sorted_keys = [" ".join(sorted(key.split())) for key in keys]
    grouped = [False] * len(keys)
    groups: list[list[int]] = []
    for seed in range(len(keys)):
        if grouped[seed]:
            continue
        grouped[seed] = True
        index.remove(seed)
        members = _take_similar(seed, keys, sorted_keys, index)
        for j in members:
            grouped[j] = True
        groups.append([seed, *members])
    return groups


def _take_similar(
    seed: int, keys: list[str], sorted_keys: list[str], index: _BlockingIndex
) -> list[int]:
    """Keys similar to key ``seed``, removed from ``index``. Candidates come MAX_CANDIDATES at
    a time; another batch is fetched while the last one found some, so a question asked in
    hundreds of wordings stays one group (each batch but the last groups a key: linear)."""
    members: list[int] = []
    scored: set[int] = set()
    while batch := index.candidates(seed, scored):
        scored.update(batch)
        # Each test scores the whole batch in one call: rapidfuzz prepares the seed once and
        # loops in C (a Python call per pair cost more than the scoring itself).
        alike = [
            batch[at]
            for _, _, at in process.extract(
                sorted_keys[seed],
                [sorted_keys[j] for j in batch],
                scorer=fuzz.ratio,
                score_cutoff=SORT_THRESHOLD,
                limit=None,
            )
        ]
        if not alike:
            break
        found = [
            alike[at]
            for _, _, at in process.extract(
                keys[seed],
                [keys[j] for j in alike],
                scorer=fuzz.token_set_ratio,
                score_cutoff=SET_THRESHOLD,
                limit=None,
            )
        ]
        if not found:
            break
        for j in found:
            index.remove(j)
        members += found
    return members


class _BlockingIndex:
    """Which ungrouped keys look like a given key: MinHash signatures cut into bands.

    Keys sharing a band are candidates; the more bands shared, the more alike the word sets.
    """

    def __init__(self, keys: list[str], bands: list[list[str] | None]) -> None:
        """``bands``: each key's stored band keys, or None to compute them."""
        signatures = _Signatures()
        # Dicts, not sets: insertion order keeps the most asked keys first in every bucket.
        bucket_of_band: dict[str, dict[int, None]] = {}
        new_bucket = bucket_of_band.setdefault
        # Each key's buckets themselves, not their band keys: removing a key or listing its
        # candidates then looks no band up again.
        self._buckets_of: list[list[dict[int, None]]] = []
        for key_id, (key, known) in enumerate(zip(keys, bands, strict=True)):
            # dict.fromkeys: should two of a key's bands ever share a band key (odds ~2^-61),
            # its bucket is still listed once, and removed once.
            unique = dict.fromkeys(known or signatures.bands(key))
            buckets = [new_bucket(band, {}) for band in unique]
            for bucket in buckets:
                bucket[key_id] = None
            self._buckets_of.append(buckets)

    def remove(self, key_id: int) -> None:
        for bucket in self._buckets_of[key_id]:
            del bucket[key_id]

    def candidates(self, key_id: int, skip: set[int]) -> list[int]:
        """Ungrouped keys, not in ``skip``, sharing the most bands with ``key_id``."""
        pool: list[int] = []
        for bucket in self._buckets_of[key_id]:
            unscored = filterfalse(skip.__contains__, bucket) if skip else bucket
            pool += islice(unscored, MAX_CANDIDATES)
        shared = Counter(pool)
        alike = [other for other, bands in shared.items() if bands >= MIN_SHARED_BANDS]
        # Stable: among equally alike keys the most asked (first in the buckets) come first.
        alike.sort(key=shared.__getitem__, reverse=True)
        return alike[:MAX_CANDIDATES]


class _Signatures:
    """MinHash signatures by one-permutation hashing: each feature is hashed once (blake2b,
    stable across processes whatever PYTHONHASHSEED says) into one of ``size`` bins, the
    smallest value per bin kept; an empty bin borrows its next filled neighbour's value
    ("densification by rotation"), so short questions get full signatures too.

    A key's features are its words and, for words of letters longer than _WORD_START, their
    first _WORD_START letters (numbers and ids share starts by chance, not by meaning).
    """

    def __init__(self) -> None:
        self._size = size = SIGNATURE_BANDS * BAND_ROWS
        self._slots = range(size)
        # word -> (bin, value) of the word and of its start: each word is hashed once.
        self._placed: dict[str, tuple[tuple[int, int], ...]] = {}
        self._start_placed: dict[str, tuple[int, int]] = {}
        # What an empty bin adds per bin it borrows across (kept above any hash value): two
        # empty bins match only when their neighbours do at the same distance.
        self._offsets = [distance << 64 for distance in range(size + 1)]

    def _hash(self, feature: str) -> tuple[int, int]:
        digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
        value, slot = divmod(int.from_bytes(digest, "big"), self._size)
        return slot, value

    def _place(self, word: str) -> tuple[tuple[int, int], ...]:
        placed: tuple[tuple[int, int], ...] = (self._hash(word),)
        if len(word) > _WORD_START and word.isalpha():
            start = word[:_WORD_START]
            at = self._start_placed.get(start)
            if at is None:
                at = self._start_placed[start] = self._hash(start + "*")
            placed += (at,)
        self._placed[word] = placed
        return placed

    def of(self, key: str) -> list[int]:
        words = key.split() or [""]
        placed = self._placed
        for word in words:
            if word not in placed:
                self._place(word)
        # Largest first, so for each bin the dict keeps the last, smallest value: the minimum
        # per bin without a Python loop over features (repeated words change nothing).
        features = sorted(chain.from_iterable(map(placed.__getitem__, words)), reverse=True)
        bins = dict(features)
        if len(bins) == self._size:
            return list(map(bins.__getitem__, self._slots))
        return self._densified(bins)

    def bands(self, key: str) -> list[str]:
        """The key of each band of BAND_ROWS bins: the band's number and values mixed modulo a
        prime into one number, in hex (short to store; equal bins in different bands, or
        empty bins borrowing from different distances, still give different keys)."""
        signature = self.of(key)
        # Built from whole rows at a time (the r-th bin of every band), in C, not bin by bin.
        weighted = [
            map(mul, signature[row::BAND_ROWS], repeat(weight))
            for row, weight in enumerate(_BAND_WEIGHTS)
        ]
        mixed = map(sum, zip(range(SIGNATURE_BANDS), *weighted, strict=True))
        return list(map(_HEX.format, map(_BAND_PRIME.__rmod__, mixed)))

    def _densified(self, bins: dict[int, int]) -> list[int]:
        """Each empty bin takes the next filled bin's value (wrapping round), offset by how far
        it borrowed."""
        size, offsets = self._size, self._offsets
        filled = sorted(bins)
        out = [0] * size
        # From each filled bin back to the one before it (wrapping round), the empty bins
        # between borrow its value.
        for before, here in zip([filled[-1] - size, *filled[:-1]], filled, strict=True):
            value = bins[here]
            out[here] = value
            for slot in range(before + 1, here):
                out[slot] = value + offsets[here - slot]
        return out


# --- building ---------------------------------------------------------------------------------


def build_report(
    store: Store,
    since: datetime | timedelta,
    *,
    now: datetime | None = None,
    top: int = 10,
    team_id: str | None = None,
) -> Report:
    """Summarise answers recorded since ``since`` (a time, or a span back from now).

    ``team_id`` limits it to that Slack team's records (a team's report in Slack); None
    reports every team (the CLI).

    Votes count for every topic the voted answer showed. The headline totals count every
    record in the window; the sections read at most the MAX_REPORT_* newest rows.
    """
    until = _aware(now) if now is not None else datetime.now(UTC)
    start = until - since if isinstance(since, timedelta) else _aware(since)
    report = Report(since=start, until=until)
    window = (answers.c.created_at >= _naive(start)) & (answers.c.created_at < _naive(until))
    if team_id is not None:
        # Every section reads answers (votes and comments through their answer): one filter.
        window = window & (answers.c.team_id == team_id)
    with store._read() as conn:
        _count_totals(conn, window, report)
        questions, offered, tidied = _newest_misses(conn, window)
        stats, report.answered_counted = _topic_stats(conn, window)
        report.comments = _latest_comments(conn, window, top)
    report.misses_grouped = len(questions)
    report.missed = [
        _cluster(questions, lambda i: _decoded(offered[i]), group)
        for group in group_questions(questions, tidied)[:top]
    ]
    all_stats = list(stats.values())
    report.most_not_helpful = sorted(
        (t for t in all_stats if t.not_helpful),
        key=lambda t: (-t.not_helpful, t.ratio or 0.0, t.topic_id),
    )[:top]
    report.helpfulness = sorted(
        (t for t in all_stats if t.helpful or t.not_helpful),
        key=lambda t: (-(t.helpful + t.not_helpful), t.topic_id),
    )[:top]
    report.busiest = sorted(all_stats, key=lambda t: (-t.answers, t.topic_id))[:top]
    return report


def _count_totals(conn: Connection, window: ColumnElement[bool], report: Report) -> None:
    """Headline totals, counted by the database: exact however many rows the window holds."""
    misses = func.coalesce(func.sum(case((answers.c.is_miss, 1), else_=0)), 0)
    # Automatic answers in the same scans: a conditional sum, not another query.
    automatic = func.coalesce(func.sum(case((answers.c.surface == AUTO_SURFACE, 1), else_=0)), 0)
    report.answers, report.misses, report.auto_answers = conn.execute(
        select(func.count(), misses, automatic).select_from(answers).where(window)
    ).one()
    by_vote = (
        select(votes.c.helpful, func.count(), automatic)
        .join(answers, answers.c.id == votes.c.answer_id)
        .where(window)
        .group_by(votes.c.helpful)
    )
    for helpful, count, auto in conn.execute(by_vote):
        if helpful:
            report.helpful, report.auto_helpful = count, int(auto)
        else:
            report.not_helpful, report.auto_not_helpful = count, int(auto)


def _newest_misses(
    conn: Connection, window: ColumnElement[bool]
) -> tuple[list[str], list[str], list[str | None]]:
    """The newest misses: questions, suggestions offered (JSON text: only the few rows in the
    top groups are ever decoded) and stored tidied texts."""
    stmt = (
        select(
            func.substr(answers.c.question, 1, MAX_QUESTION_CHARS),
            cast(answers.c.suggestion_ids, Text()),
            answers.c.question_tidied,
        )
        .where(window, answers.c.is_miss)
        .order_by(answers.c.id.desc())
        .limit(MAX_REPORT_MISSES)
    )
    rows = conn.execute(stmt).all()
    if not rows:
        return [], [], []
    questions, offered, tidied = (list(column) for column in zip(*rows, strict=True))
    return questions, offered, tidied


def _decoded(offered: str | None) -> list[str]:
    return [str(s) for s in json.loads(offered or "null") or []]


def _topic_stats(conn: Connection, window: ColumnElement[bool]) -> tuple[dict[str, TopicStat], int]:
    """Answers and votes per topic over the newest answered rows, and how many were read."""
    stmt = (
        select(answers.c.id, answers.c.topic_ids)
        .where(window, ~answers.c.is_miss)
        .order_by(answers.c.id.desc())
        .limit(MAX_REPORT_ANSWERS)
    )
    topics_of = {answer_id: list(dict.fromkeys(t or [])) for answer_id, t in conn.execute(stmt)}
    stats: dict[str, TopicStat] = {}
    for topic_ids in topics_of.values():
        for topic_id in topic_ids:
            stats.setdefault(topic_id, TopicStat(topic_id)).answers += 1
    if not topics_of:
        return stats, 0
    voted = (
        select(votes.c.answer_id, votes.c.helpful)
        .join(answers, answers.c.id == votes.c.answer_id)
        .where(window, ~answers.c.is_miss, answers.c.id >= min(topics_of))
        .order_by(votes.c.id.desc())
        .limit(MAX_REPORT_VOTES)
    )
    for answer_id, helpful in conn.execute(voted):
        for topic_id in topics_of.get(answer_id, ()):
            if helpful:
                stats[topic_id].helpful += 1
            else:
                stats[topic_id].not_helpful += 1
    return stats, len(topics_of)


def _latest_comments(conn: Connection, window: ColumnElement[bool], top: int) -> list[CommentItem]:
    stmt = (
        select(comments.c.created_at, answers.c.topic_ids, comments.c.comment)
        .join(answers, answers.c.id == comments.c.answer_id)
        .where(window)
        .order_by(comments.c.id.desc())
        .limit(top)
    )
    return [
        CommentItem(created_at=_aware(at), topic_ids=list(topic_ids or []), comment=comment)
        for at, topic_ids, comment in conn.execute(stmt)
    ]


# --- formatting -------------------------------------------------------------------------------


def format_report(report: Report, fmt: ReportFormat = "table") -> str:
    """``table`` (plain text, no Slack mrkdwn), ``json`` or ``csv``."""
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=2, ensure_ascii=False)
    if fmt == "csv":
        return _format_csv(report)
    if fmt == "table":
        return _format_table(report)
    raise ValueError(f"unknown report format {fmt!r}: use table, json or csv")


def _ratio(t: TopicStat) -> str:
    return "-" if t.ratio is None else f"{t.ratio:.0%}"


def _headline(report: Report) -> str:
    share = f" ({report.misses / report.answers:.0%})" if report.answers else ""
    return (
        f"awssec report {_day(report.since)} to {_day(report.until)}: "
        f"{report.answers} answers, {report.misses} missed{share}, "
        f"votes {report.helpful} helpful / {report.not_helpful} not helpful"
    )


def _auto_line(report: Report) -> str:
    return (
        f"Automatic answers (auto-answer channels): {report.auto_answers}, "
        f"votes {report.auto_helpful} helpful / {report.auto_not_helpful} not helpful"
    )


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _columns(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def _partial(read: int, total: int) -> str:
    """Says when a section covers only the newest records (a MAX_REPORT_* cap was reached)."""
    return f" - newest {read} of {total}" if read < total else ""


def _format_table(report: Report) -> str:
    out = [_headline(report), _auto_line(report)]

    out += [
        "",
        "Top missed questions (similar ones grouped)"
        + _partial(report.misses_grouped, report.misses),
    ]
    if report.missed:
        rows = [["count", "example", "suggested"]]
        rows += [
            [str(c.count), _clip(c.example, 60), ", ".join(s for s, _ in c.suggestions) or "-"]
            for c in report.missed
        ]
        out += ["  " + line for line in _columns(rows)]
    else:
        out.append("  none")

    out += ["", 'Most "Not helpful" votes']
    if report.most_not_helpful:
        rows = [["topic", "not helpful", "helpful", "ratio"]]
        rows += [
            [t.topic_id, str(t.not_helpful), str(t.helpful), _ratio(t)]
            for t in report.most_not_helpful
        ]
        out += ["  " + line for line in _columns(rows)]
    else:
        out.append("  none")

    out += ["", "Helpfulness per topic"]
    if report.helpfulness:
        rows = [["topic", "helpful", "not helpful", "ratio"]]
        rows += [
            [t.topic_id, str(t.helpful), str(t.not_helpful), _ratio(t)] for t in report.helpfulness
        ]
        out += ["  " + line for line in _columns(rows)]
    else:
        out.append("  no votes")

    out += [
        "",
        "Busiest topics" + _partial(report.answered_counted, report.answers - report.misses),
    ]
    if report.busiest:
        rows = [["topic", "answers"]] + [[t.topic_id, str(t.answers)] for t in report.busiest]
        out += ["  " + line for line in _columns(rows)]
    else:
        out.append("  none")

    if report.comments:
        out += ["", 'Latest "Not helpful" comments']
        out += [
            f"  {_day(c.created_at)} {','.join(c.topic_ids) or '(miss)'}: {_clip(c.comment, 80)}"
            for c in report.comments
        ]
    return "\n".join(out) + "\n"


def format_summary(report: Report, limit: int = 5) -> str:
    """A few plain-text lines for a Slack ephemeral message (send with mrkdwn off)."""
    out = [_headline(report), _auto_line(report)]
    if report.missed:
        out.append("Top missed questions:")
        out += [f"  {c.count} x {_clip(c.example, 70)}" for c in report.missed[:limit]]
    if report.most_not_helpful:
        out.append(
            "Most not helpful: "
            + ", ".join(f"{t.topic_id} ({t.not_helpful})" for t in report.most_not_helpful[:limit])
        )
    if report.busiest:
        out.append(
            "Busiest: " + ", ".join(f"{t.topic_id} ({t.answers})" for t in report.busiest[:limit])
        )
    return "\n".join(out)


def _format_csv(report: Report) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(
        ["section", "topic_or_example", "count", "helpful", "not_helpful", "ratio", "suggestions"]
    )
    for c in report.missed:
        suggestions = " ".join(f"{s}:{n}" for s, n in c.suggestions)
        writer.writerow(["missed", _inert_cell(c.example), c.count, "", "", "", suggestions])
    auto_votes = report.auto_helpful + report.auto_not_helpful
    auto_ratio = f"{report.auto_helpful / auto_votes:.3f}" if auto_votes else ""
    writer.writerow(
        [
            "auto",
            AUTO_SURFACE,
            report.auto_answers,
            report.auto_helpful,
            report.auto_not_helpful,
            auto_ratio,
            "",
        ]
    )
    sections = (
        ("not_helpful", report.most_not_helpful, lambda t: t.not_helpful),
        ("helpfulness", report.helpfulness, lambda t: t.helpful + t.not_helpful),
        ("busiest", report.busiest, lambda t: t.answers),
    )
    for name, stats, count in sections:
        for t in stats:
            ratio = "" if t.ratio is None else f"{t.ratio:.3f}"
            writer.writerow([name, t.topic_id, count(t), t.helpful, t.not_helpful, ratio, ""])
    return buf.getvalue()


def _inert_cell(text: str) -> str:
    """Text people typed, safe to open in a spreadsheet: never read as a formula."""
    return "'" + text if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text


def _naive(value: datetime) -> datetime:
    """Naive UTC, the convention of every timestamp column."""
    return _aware(value).replace(tzinfo=None)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso(value: datetime) -> str:
    return _aware(value).isoformat(timespec="seconds").replace("+00:00", "Z")


def _day(value: datetime) -> str:
    return _aware(value).strftime("%Y-%m-%d %H:%M UTC")


# --- stale topics (AWSSEC_STALE_DAYS; the learned helper's addition) ---------------------------


def format_stale_topics(
    stale: list[tuple[str, str | None]],
    days: int,
    fmt: ReportFormat = "table",
    *,
    limit: int | None = None,
) -> str:
    """The report's stale-topics section: ``stale`` is (topic id, reviewed YYYY-MM-DD or None
    for never), oldest first, as bot/knowledge/review.py stale_topics gives them (the caller
    reads the knowledge; storage does not). ``json``: a JSON list; ``csv``: rows in the
    report's columns (section ``stale``, the review date under ``suggestions``)."""
    if fmt == "json":
        return json.dumps([{"topic_id": t, "reviewed": r} for t, r in stale], ensure_ascii=False)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        for topic_id, reviewed in stale:
            writer.writerow(["stale", topic_id, "", "", "", "", reviewed or "never"])
        return buf.getvalue()
    if not stale:
        return f"Stale topics (reviewed more than {days} days ago): none"
    lines = [f"Stale topics (reviewed more than {days} days ago): {len(stale)}"]
    shown = stale if limit is None else stale[:limit]
    lines += [f"  {topic_id:<32} reviewed {reviewed or 'never'}" for topic_id, reviewed in shown]
    if len(shown) < len(stale):
        more = len(stale) - len(shown)
        lines.append(f"  … and {more} more (the awssec report command lists them all)")
    return "\n".join(lines)
