"""Load knowledge files (a YAML file or a folder of them) and validate every topic."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from rapidfuzz import process

from bot.config import knowledge_path_from_env
from bot.knowledge.model import (
    SOURCE_BEYOND_NOTES,
    SOURCE_NOTES,
    KnowledgeBase,
    OutOfScopeArea,
    Topic,
)
from bot.knowledge.problems import KnowledgeError, Problem
from bot.knowledge.yaml_lines import LineDict, LineList, line_of, load_with_lines

ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
TOP_LEVEL_KEYS = ("topics", "synonyms", "services", "other_clouds", "other_vendors", "out_of_scope")
REQUIRED_KEYS = (
    "id",
    "name",
    "aliases",
    "category",
    "summary",
    "facts",
    "questions",
    "related",
    "url",
)
OPTIONAL_KEYS = ("keywords", "source", "reviewed")
LIST_KEYS = ("aliases", "facts", "questions", "related", "keywords")
NON_EMPTY_LISTS = ("facts",)
SOURCES = (SOURCE_NOTES, SOURCE_BEYOND_NOTES)


def bundled_knowledge_path() -> Path:
    """The knowledge shipped with awssec: inside the wheel, or `knowledge/` in a checkout."""
    packaged = Path(__file__).resolve().parent.parent / "_bundled_knowledge"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "knowledge"


def resolve_knowledge_path(path: str | os.PathLike[str] | None = None) -> Path:
    """An explicit path wins, then `$AWSSEC_KNOWLEDGE`, then the bundled knowledge."""
    chosen = path or knowledge_path_from_env() or bundled_knowledge_path()
    return Path(chosen)


def knowledge_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    return [path]


def load_knowledge(path: str | os.PathLike[str] | None = None) -> KnowledgeBase:
    """Load and validate knowledge; raise `KnowledgeError` listing every problem found."""
    root = resolve_knowledge_path(path)
    problems: list[Problem] = []
    topics: list[Topic] = []
    synonyms: dict[str, tuple[str, ...]] = {}
    services: list[str] = []
    other_clouds: list[str] = []
    other_vendors: list[str] = []
    areas: list[OutOfScopeArea] = []
    digest = hashlib.sha256()

    if not root.exists():
        raise KnowledgeError([Problem(str(root), 0, "no such file or folder")])
    try:
        files = knowledge_files(root)
    except OSError as exc:
        raise KnowledgeError(
            [Problem(str(root), 0, f"cannot list folder: {exc.strerror}")]
        ) from None
    if not files:
        raise KnowledgeError([Problem(str(root), 0, "no .yaml files in this folder")])

    for file in files:
        name = str(file)
        try:
            raw = file.read_bytes()
            text = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(name, 0, f"cannot read file: {exc}"))
            continue
        _add_to_digest(digest, file.name, raw)
        document = _parse(name, text, problems)
        if document is None:
            continue
        _read_document(name, document, topics, synonyms, problems)
        _read_names(name, document, "services", "service names", services, problems)
        _read_names(name, document, "other_clouds", "provider names", other_clouds, problems)
        _read_names(name, document, "other_vendors", "vendor names", other_vendors, problems)
        _read_out_of_scope(name, document, areas, problems)

    _check_cross_references(topics, problems)
    if not topics and not problems:
        problems.append(Problem(str(root), 0, "no topics defined"))
    if problems:
        raise KnowledgeError(problems)
    return KnowledgeBase(
        topics=tuple(topics),
        synonyms=synonyms,
        services=tuple(dict.fromkeys(services)),
        other_clouds=tuple(dict.fromkeys(other_clouds)),
        other_vendors=tuple(dict.fromkeys(other_vendors)),
        out_of_scope=tuple(areas),
        version=_version(digest),
    )


def _add_to_digest(digest: hashlib._Hash, name: str, raw: bytes) -> None:
    # File names, not paths: copies of the same knowledge report the same version.
    digest.update(name.encode() + b"\0" + raw)


def _version(digest: hashlib._Hash) -> str:
    return digest.hexdigest()[:12]


def read_sources(path: str | os.PathLike[str] | None = None) -> list[tuple[str, bytes]]:
    """(file name, bytes) of each knowledge file at `path`, as `load_knowledge` reads them;
    `OSError` when one cannot be read."""
    root = resolve_knowledge_path(path)
    return [(file.name, file.read_bytes()) for file in knowledge_files(root)]


def sources_version(sources: list[tuple[str, bytes]]) -> str:
    """The `KnowledgeBase.version` that loading exactly these files gives."""
    digest = hashlib.sha256()
    for name, raw in sources:
        _add_to_digest(digest, name, raw)
    return _version(digest)


def check_knowledge(path: str | os.PathLike[str] | None = None) -> list[Problem]:
    """Every problem in the knowledge at `path` (an empty list when it is valid)."""
    try:
        load_knowledge(path)
    except KnowledgeError as exc:
        return exc.problems
    return []


def _parse(name: str, text: str, problems: list[Problem]) -> Any:
    try:
        document = load_with_lines(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        problems.append(Problem(name, line, f"invalid YAML: {reason}"))
        return None
    if document is None:
        problems.append(Problem(name, 1, "file is empty"))
        return None
    if not isinstance(document, LineDict):
        problems.append(Problem(name, 1, "expected a mapping with 'topics:' and/or 'synonyms:'"))
        return None
    return document


def _read_document(
    name: str,
    document: LineDict,
    topics: list[Topic],
    synonyms: dict[str, tuple[str, ...]],
    problems: list[Problem],
) -> None:
    _report_duplicate_keys(name, document, problems)
    for key in document:
        if key not in TOP_LEVEL_KEYS:
            problems.append(
                Problem(name, line_of(document, key), _unknown_key(key, TOP_LEVEL_KEYS))
            )
    if "topics" in document:
        entries = document["topics"]
        if not isinstance(entries, LineList):
            problems.append(Problem(name, line_of(document, "topics"), "'topics' must be a list"))
        else:
            for index, entry in enumerate(entries):
                topic = _read_topic(name, entry, line_of(entries, index), problems)
                if topic is not None:
                    topics.append(topic)
    if "synonyms" in document:
        _read_synonyms(
            name, document["synonyms"], line_of(document, "synonyms"), synonyms, problems
        )


def _read_topic(name: str, entry: Any, line: int, problems: list[Problem]) -> Topic | None:
    if not isinstance(entry, LineDict):
        problems.append(Problem(name, line, "each topic must be a mapping of fields"))
        return None
    before = len(problems)
    _report_duplicate_keys(name, entry, problems)
    label = f"topic '{entry['id']}'" if isinstance(entry.get("id"), str) else "topic"

    for key in entry:
        if key not in REQUIRED_KEYS and key not in OPTIONAL_KEYS:
            allowed = REQUIRED_KEYS + OPTIONAL_KEYS
            problems.append(
                Problem(name, line_of(entry, key), f"{label}: {_unknown_key(key, allowed)}")
            )
    for key in REQUIRED_KEYS:
        if key not in entry:
            problems.append(Problem(name, entry.line, f"{label}: missing field '{key}'"))

    for key, value in entry.items():
        if key in LIST_KEYS:
            _check_string_list(name, label, key, value, line_of(entry, key), problems)
        elif key == "reviewed":
            continue  # a date, checked below
        elif key in REQUIRED_KEYS + OPTIONAL_KEYS and not (
            isinstance(value, str) and value.strip()
        ):
            problems.append(
                Problem(name, line_of(entry, key), f"{label}: '{key}' must be a non-empty string")
            )

    topic_id = entry.get("id")
    if isinstance(topic_id, str) and not ID_PATTERN.match(topic_id):
        problems.append(
            Problem(
                name,
                line_of(entry, "id"),
                f"{label}: bad id format (use lowercase letters, digits and single hyphens)",
            )
        )
    url = entry.get("url")
    if isinstance(url, str) and url.strip() and not _is_valid_url(url):
        problems.append(Problem(name, line_of(entry, "url"), f"{label}: bad URL {url!r}"))
    source = entry.get("source", SOURCE_NOTES)
    if isinstance(source, str) and source not in SOURCES:
        problems.append(
            Problem(name, line_of(entry, "source"), f"{label}: 'source' must be one of {SOURCES}")
        )

    reviewed = _reviewed_date(name, label, entry, problems)

    if len(problems) > before:
        # Still worth cross-checking its id and related ids, so every problem shows at once.
        if not isinstance(topic_id, str):
            return None
        related = entry.get("related")
        related = related if isinstance(related, list) else []
        return _partial_topic(
            topic_id, [r for r in related if isinstance(r, str)], name, entry.line
        )
    return Topic(
        id=entry["id"],
        name=entry["name"].strip(),
        aliases=_strings(entry["aliases"]),
        category=entry["category"].strip(),
        summary=" ".join(entry["summary"].split()),
        facts=_strings(entry["facts"]),
        questions=_strings(entry["questions"]),
        related=_strings(entry["related"]),
        url=entry["url"].strip(),
        keywords=_strings(entry.get("keywords") or []),
        source=source,
        reviewed=reviewed,
        file=name,
        line=entry.line,
    )


def _reviewed_date(
    name: str, label: str, entry: LineDict, problems: list[Problem]
) -> dt.date | None:
    """`reviewed: YYYY-MM-DD`: a real calendar date, not in the future."""
    if "reviewed" not in entry:
        return None
    value = entry["reviewed"]
    line = line_of(entry, "reviewed")
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value.strip())
        except ValueError:
            value = None
    if not isinstance(value, dt.date):
        problems.append(
            Problem(name, line, f"{label}: 'reviewed' must be a date written YYYY-MM-DD")
        )
        return None
    if value > dt.date.today():
        problems.append(
            Problem(name, line, f"{label}: 'reviewed' date {value.isoformat()} is in the future")
        )
        return None
    return value


def _partial_topic(topic_id: str, related: list[str], file: str, line: int) -> Topic:
    return Topic(
        id=topic_id,
        name="",
        aliases=(),
        category="",
        summary="",
        facts=(),
        questions=(),
        related=tuple(related),
        url="",
        file=file,
        line=line,
    )


def _read_names(
    name: str,
    document: LineDict,
    key: str,
    what: str,
    names: list[str],
    problems: list[Problem],
) -> None:
    """A top-level list of names: `services:` (AWS services that have no topic) or
    `other_clouds:` (cloud and edge providers other than AWS) or `other_vendors:` (other
    vendors' products)."""
    found = _top_level_list(name, document, key, what, problems)
    if found is None:
        return
    value, line = found
    if not all(isinstance(v, str) and v.strip() for v in value):
        problems.append(Problem(name, line, f"'{key}' must be a list of {what}"))
        return
    names.extend(v.strip() for v in value)


def _top_level_list(
    name: str, document: LineDict, key: str, what: str, problems: list[Problem]
) -> tuple[list[Any], int] | None:
    """The list under top-level `key` and its line; None when absent (or not a list: then a
    problem says the list should hold `what`)."""
    if key not in document:
        return None
    value = document[key]
    line = line_of(document, key)
    if not isinstance(value, list):
        problems.append(Problem(name, line, f"'{key}' must be a list of {what}"))
        return None
    return value, line


def _read_out_of_scope(
    name: str, document: LineDict, areas: list[OutOfScopeArea], problems: list[Problem]
) -> None:
    """`out_of_scope:`, a list of areas, each a `name` and example `questions` to refuse."""
    found = _top_level_list(name, document, "out_of_scope", "areas", problems)
    if found is None:
        return
    value, line = found
    for position, entry in enumerate(value):
        entry_line = line_of(value, position, line)
        if not isinstance(entry, dict) or set(entry) != {"name", "questions"}:
            problems.append(
                Problem(name, entry_line, "an out-of-scope area needs 'name' and 'questions' only")
            )
            continue
        label = f"out-of-scope area {entry['name']!r}"
        if not isinstance(entry["name"], str) or not entry["name"].strip():
            problems.append(Problem(name, entry_line, "an out-of-scope area's 'name' must be text"))
            continue
        questions = entry["questions"]
        before = len(problems)
        _check_string_list(name, label, "questions", questions, entry_line, problems)
        if len(problems) == before and not questions:
            problems.append(Problem(name, entry_line, f"{label}: 'questions' must not be empty"))
        if len(problems) == before:
            areas.append(
                OutOfScopeArea(entry["name"].strip(), _strings(questions), name, entry_line)
            )


def _read_synonyms(
    name: str,
    value: Any,
    line: int,
    synonyms: dict[str, tuple[str, ...]],
    problems: list[Problem],
) -> None:
    if not isinstance(value, LineDict):
        problems.append(Problem(name, line, "'synonyms' must map a term to a list of phrases"))
        return
    _report_duplicate_keys(name, value, problems)
    for term, expansions in value.items():
        term_line = line_of(value, term)
        if isinstance(expansions, str):
            expansions = [expansions]
        if not isinstance(term, str) or not term.strip():
            problems.append(Problem(name, term_line, f"synonym term {term!r} must be a string"))
        elif not isinstance(expansions, list) or not expansions:
            problems.append(Problem(name, term_line, f"synonym '{term}' needs a list of phrases"))
        elif not all(isinstance(e, str) and e.strip() for e in expansions):
            problems.append(Problem(name, term_line, f"synonym '{term}': phrases must be strings"))
        else:
            synonyms[term.strip().lower()] = _strings(expansions)


def _check_string_list(
    name: str, label: str, key: str, value: Any, line: int, problems: list[Problem]
) -> None:
    if not isinstance(value, list):
        problems.append(Problem(name, line, f"{label}: '{key}' must be a list of strings"))
        return
    # A repeated item is never intended: a repeated keyword or question counts twice in the
    # matcher's term frequencies, and a repeated fact or related id shows twice in a reply.
    first_seen: set[str] = set()
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            problems.append(
                Problem(
                    name, line_of(value, index, line), f"{label}: '{key}' items must be strings"
                )
            )
            continue
        folded = " ".join(item.lower().split())
        if folded in first_seen:
            problems.append(
                Problem(name, line_of(value, index, line), f"{label}: '{key}' repeats {item!r}")
            )
        first_seen.add(folded)
    if key in NON_EMPTY_LISTS and not value:
        problems.append(Problem(name, line, f"{label}: '{key}' must not be empty"))


def _check_cross_references(topics: list[Topic], problems: list[Problem]) -> None:
    """Duplicate ids and dangling `related` ids, also for topics with other problems."""
    first_seen: dict[str, Topic] = {}
    for topic in topics:
        if topic.id in first_seen:
            first = first_seen[topic.id]
            problems.append(
                Problem(
                    topic.file,
                    topic.line,
                    f"duplicate id '{topic.id}' (first defined at {first.file}:{first.line})",
                )
            )
        else:
            first_seen[topic.id] = topic
    for topic in topics:
        for related in topic.related:
            if related == topic.id:
                problems.append(
                    Problem(topic.file, topic.line, f"topic '{topic.id}': related to itself")
                )
            elif related not in first_seen:
                problems.append(
                    Problem(
                        topic.file,
                        topic.line,
                        f"topic '{topic.id}': unknown related id '{related}'",
                    )
                )


def _report_duplicate_keys(name: str, mapping: LineDict, problems: list[Problem]) -> None:
    for key, key_line in mapping.duplicate_keys:
        problems.append(Problem(name, key_line, f"duplicate key '{key}'"))


def _unknown_key(key: Any, allowed: tuple[str, ...]) -> str:
    message = f"unknown key '{key}'"
    guess = process.extractOne(str(key), allowed, score_cutoff=70)
    if guess:
        message += f" (did you mean '{guess[0]}'?)"
    return message


def _is_valid_url(url: str) -> bool:
    parts = urlsplit(url.strip())
    return (
        parts.scheme in ("https", "http")
        and "." in parts.netloc
        and not any(ch.isspace() for ch in url.strip())
    )


def _strings(values: list[str]) -> tuple[str, ...]:
    return tuple(" ".join(v.split()) for v in values)
