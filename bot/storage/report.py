"""Reports over recorded answers: missed questions (grouped), helpfulness and load per topic."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from rapidfuzz import fuzz, process

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
    "parse_since",
]

ReportFormat = Literal["table", "json", "csv"]

# token_set_ratio scores a question 100 against any question containing all its words, so a
# second, order-insensitive whole-string score stops "s3" from swallowing every S3 question.
SET_THRESHOLD = 85
SORT_THRESHOLD = 60
_MAX_DISTINCT = 5000

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
    variants: list[str]
    suggestions: list[tuple[str, int]]


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


def normalize_question(question: str) -> str:
    """Lower case, no punctuation, Slack mentions, redaction markers or filler words; plural
    ``s`` dropped so "keys" and "key" group together."""
    words = _NON_WORD.sub(" ", _NOISE.sub(" ", question).lower()).split()
    kept = [
        w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
        for w in words
        if w not in _STOPWORDS
    ]
    return " ".join(kept) or " ".join(words)


def cluster_questions(
    items: list[tuple[str, list[str]]], *, limit: int | None = None
) -> list[MissCluster]:
    """Group similar questions. ``items`` are (question, suggestions offered); the result is
    sorted by count, largest first."""
    by_form: dict[str, list[int]] = {}
    for i, (question, _) in enumerate(items):
        by_form.setdefault(normalize_question(question), []).append(i)
    # Most asked first, so each cluster is seeded by its most common wording.
    forms = sorted(by_form, key=lambda f: -len(by_form[f]))
    seeds, tail = forms[:_MAX_DISTINCT], forms[_MAX_DISTINCT:]

    unassigned = dict(enumerate(seeds))
    groups: list[list[str]] = []
    for idx, form in enumerate(seeds):
        if idx not in unassigned:
            continue
        del unassigned[idx]
        group = [form]
        matches = process.extract(
            form, unassigned, scorer=fuzz.token_set_ratio, score_cutoff=SET_THRESHOLD, limit=None
        )
        for other, _score, key in matches:
            if fuzz.token_sort_ratio(form, other) >= SORT_THRESHOLD:
                group.append(other)
                del unassigned[key]
        groups.append(group)
    groups += [[form] for form in tail]

    clusters: list[MissCluster] = []
    for group in groups:
        indexes = [i for form in group for i in by_form[form]]
        wordings = Counter(items[i][0].strip() for i in indexes)
        offered = Counter(s for i in indexes for s in dict.fromkeys(items[i][1]))
        clusters.append(
            MissCluster(
                count=len(indexes),
                example=wordings.most_common(1)[0][0],
                variants=[q for q, _ in wordings.most_common(5)],
                suggestions=offered.most_common(3),
            )
        )
    clusters.sort(key=lambda c: -c.count)
    return clusters[:limit] if limit is not None else clusters


# --- building ---------------------------------------------------------------------------------


def build_report(
    store: Store,
    since: datetime | timedelta,
    *,
    now: datetime | None = None,
    top: int = 10,
) -> Report:
    """Summarise answers recorded since ``since`` (a time, or a span back from now).

    Votes count for every topic the voted answer showed.
    """
    until = _aware(now) if now is not None else datetime.now(UTC)
    start = until - since if isinstance(since, timedelta) else _aware(since)
    report = Report(since=start, until=until)

    rows = store.answers_since(start, until)
    by_id = {row.id: row for row in rows}
    stats: dict[str, TopicStat] = {}

    def stat(topic_id: str) -> TopicStat:
        return stats.setdefault(topic_id, TopicStat(topic_id))

    misses: list[tuple[str, list[str]]] = []
    for row in rows:
        report.answers += 1
        if row.is_miss:
            report.misses += 1
            misses.append((row.question, row.suggestion_ids))
        for topic_id in dict.fromkeys(row.topic_ids):
            stat(topic_id).answers += 1

    for answer_id, helpful in store.votes_since(start):
        row = by_id.get(answer_id)
        if row is None:
            continue
        if helpful:
            report.helpful += 1
        else:
            report.not_helpful += 1
        for topic_id in dict.fromkeys(row.topic_ids):
            if helpful:
                stat(topic_id).helpful += 1
            else:
                stat(topic_id).not_helpful += 1

    comments = [(a, c, t) for a, c, t in store.comments_since(start) if a in by_id]
    report.comments = [
        CommentItem(created_at=_aware(t), topic_ids=by_id[a].topic_ids, comment=c)
        for a, c, t in comments[-top:]
    ][::-1]

    report.missed = cluster_questions(misses, limit=top)
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


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _columns(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def _format_table(report: Report) -> str:
    out = [_headline(report)]

    out += ["", "Top missed questions (similar ones grouped)"]
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

    out += ["", "Busiest topics"]
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
    out = [_headline(report)]
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


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso(value: datetime) -> str:
    return _aware(value).isoformat(timespec="seconds").replace("+00:00", "Z")


def _day(value: datetime) -> str:
    return _aware(value).strftime("%Y-%m-%d %H:%M UTC")
