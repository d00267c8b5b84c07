"""AnswerService: the knowledge in use plus its matcher, reloaded when the files change.

With a learned-question source (the Store, `use_learned`), each team is answered by a matcher
over the knowledge plus the questions taught to that team (and those taught to every team,
team None), as if they were example questions in the knowledge files.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

from bot.knowledge import KnowledgeBase, KnowledgeError, load_knowledge, resolve_knowledge_path
from bot.knowledge.loader import knowledge_files, read_sources, sources_version
from bot.matcher.answer import Answer
from bot.matcher.matcher import Matcher
from bot.matcher.model import FittedModel, load_fitted

log = logging.getLogger(__name__)

# How often (at most) a process asks the database whether learned questions changed: the
# longest a taught wording waits to take effect here, against one small indexed read per
# interval (never per question). Rebuilding a matcher happens only after a change.
LEARNED_CHECK_SECONDS = 2.0

_NOT_WORD = re.compile(r"[^\w]+")


class LearnedRow(Protocol):
    """What the matcher reads of a learned question (`bot.storage.learned.LearnedQuestion`)."""

    @property
    def id(self) -> int: ...
    @property
    def question(self) -> str: ...
    @property
    def topic_id(self) -> str: ...
    @property
    def team_id(self) -> str | None: ...


class LearnedSource(Protocol):
    """Where learned questions come from: the Store (or a light read-only reader)."""

    def learned(self, team_id: str | None = None) -> Iterable[LearnedRow]: ...

    def learned_version(self) -> int: ...


def with_learned(kb: KnowledgeBase, rows: Iterable[LearnedRow]) -> KnowledgeBase:
    """A copy of `kb` whose topics' example questions include the learned ones.

    A wording taught both to every team and to this team counts for this team's topic; among
    equals the latest teaching wins. Rows naming a topic the knowledge no longer has are
    skipped, with one log line per call.
    """
    chosen: dict[str, LearnedRow] = {}
    # Team-wide rows first, then the team's own; oldest first: later entries overwrite.
    for row in sorted(rows, key=lambda r: (r.team_id is not None, r.id)):
        wording = _NOT_WORD.sub(" ", row.question.casefold()).strip()
        if wording:
            chosen[wording] = row
    extra: dict[str, list[str]] = {}
    unknown: set[str] = set()
    for row in chosen.values():
        if kb.get(row.topic_id) is None:
            unknown.add(row.topic_id)
        else:
            extra.setdefault(row.topic_id, []).append(row.question)
    if unknown:
        log.warning(
            "learned questions skipped: topic(s) not in the knowledge: %s",
            ", ".join(sorted(unknown)),
        )
    if not extra:
        return kb
    topics = tuple(
        dataclasses.replace(t, questions=(*t.questions, *extra[t.id])) if t.id in extra else t
        for t in kb.topics
    )
    # Everything else (synonyms, uncovered services, out-of-scope areas) stays as it is.
    return dataclasses.replace(kb, topics=topics)


@dataclasses.dataclass(frozen=True)
class _TeamMatcher:
    matcher: Matcher
    learned_version: int
    knowledge_version: str


class AnswerService:
    """Answers questions; picks up knowledge edits without a restart.

    The first load must succeed (raises `KnowledgeError`); later broken edits are logged,
    kept in `last_error`, and the last good knowledge keeps serving.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        reload_interval: float | None = 2.0,
        *,
        learned: LearnedSource | None = None,
        learned_check_seconds: float = LEARNED_CHECK_SECONDS,
        background: bool = True,
        cache_dir: Path | None = None,
    ) -> None:
        """`cache_dir`: where to keep the compiled knowledge between processes (the command
        line: each run is a new process); None builds it in memory every time."""
        self.path: Path = resolve_knowledge_path(path)
        self.reload_interval = reload_interval
        self.last_error: str | None = None
        # Called (under the reload lock) with each newly loaded good knowledge, e.g. to
        # publish it as the snapshot that restarting workers start from.
        self.on_loaded: Callable[[KnowledgeBase], None] | None = None
        self._lock = threading.Lock()
        self._next_check = 0.0
        self._stamp = self._file_stamp()
        # The knowledge alone: its matcher is built on first use, so a command answering
        # with learned questions builds one index, not two (each costs ~0.1-0.2 s).
        self._model: FittedModel = load_fitted()
        self._base: Matcher | None = None
        self._kb: KnowledgeBase = self._first_load(cache_dir)
        # Learned questions: per team (None = every team / the CLI), the matcher in use.
        self._learned: LearnedSource | None = None
        self.learned_check_seconds = learned_check_seconds
        # False (the CLI, tests): rebuild in the caller's thread; True: a background thread,
        # the old matcher answering meanwhile.
        self.background = background
        self._teams: dict[str | None, _TeamMatcher] = {}
        self._wanted: set[str | None] = set()
        self._learned_lock = threading.Lock()
        self._refreshing = False
        self._next_learned_check = 0.0
        self._learned_failing = False
        if learned is not None:
            self.use_learned(learned)

    def _first_load(self, cache_dir: Path | None) -> KnowledgeBase:
        """The knowledge, and with a cache its matcher too: compiled earlier, or built now and
        kept for the next process."""
        if cache_dir is None:
            return load_knowledge(self.path)
        from bot.matcher.compiled import compiled_key, load_compiled, save_compiled

        try:
            sources = read_sources(self.path)
        except OSError:
            return load_knowledge(self.path)  # it reports what cannot be read
        key = compiled_key(self.path, sources, self._model)
        compiled = load_compiled(cache_dir, key)
        if compiled is not None:
            kb, index = compiled
            self._base = Matcher(kb, self._model, index=index)
            return kb
        kb = load_knowledge(self.path)
        self._base = Matcher(kb, self._model)
        # Only what was read under this key is kept under it (a file edited in between
        # gets its own key next time).
        if kb.version == sources_version(sources):
            save_compiled(cache_dir, key, kb, self._base.index)
        return kb

    @property
    def _matcher(self) -> Matcher:
        """The matcher over the knowledge alone (built when first needed)."""
        base = self._base
        if base is None or base.kb is not self._kb:
            base = self._base = Matcher(self._kb, self._model)
        return base

    @_matcher.setter
    def _matcher(self, matcher: Matcher) -> None:
        self._base, self._kb, self._model = matcher, matcher.kb, matcher.model

    @property
    def knowledge(self) -> KnowledgeBase:
        self.maybe_reload()
        return self._kb

    @property
    def matcher(self) -> Matcher:
        self.maybe_reload()
        return self._matcher

    @property
    def version(self) -> str:
        return self.knowledge.version

    def answer(
        self, question: str, *, team_id: str | None = None, context_topic: str | None = None
    ) -> Answer:
        """The answer to `question` for Slack team `team_id` (None: the CLI, or one workspace),
        with the learned questions that apply to that team; `context_topic` is the topic the
        conversation is about (see `Matcher.match`)."""
        answer = self.matcher_for(team_id).match(question, context_topic=context_topic)
        if self._learned is None:
            return answer
        # The topics as the knowledge has them (not the copies carrying learned questions),
        # so an answer compares and renders the same whoever taught what.
        kb = self._kb
        return dataclasses.replace(
            answer,
            topics=tuple(kb.get(t.id) or t for t in answer.topics),
            suggestions=tuple(kb.get(t.id) or t for t in answer.suggestions),
        )

    # -- learned questions -----------------------------------------------------------------

    def use_learned(self, source: LearnedSource) -> None:
        """Answer with the learned questions in `source` from now on (read once here, then
        re-read when `source.learned_version()` changes)."""
        self._learned = source
        self._wanted.add(None)
        self._next_learned_check = 0.0
        # The team-wide matcher is built now, so the first answers already know what was
        # taught; a database that cannot be read leaves the knowledge alone serving.
        self._refresh_learned()

    def matcher_for(self, team_id: str | None = None) -> Matcher:
        """The matcher answering `team_id`: the knowledge plus its learned questions.

        Never waits for a rebuild (unless `background` is False): until a team's own matcher
        is ready, the team-wide one (or the knowledge alone) answers, and after a change the
        previous matcher answers until its replacement is built.
        """
        if self._learned is None:
            return self.matcher
        kb = self.knowledge
        entry = self._teams.get(team_id)
        if entry is None:
            with self._learned_lock:
                self._wanted.add(team_id)
        outdated = entry is None or entry.knowledge_version != kb.version
        if outdated or time.monotonic() >= self._next_learned_check:
            self._schedule_refresh(force=outdated)
            entry = self._teams.get(team_id)
        if entry is None or entry.knowledge_version != kb.version:
            entry = self._teams.get(None)
        # A matcher over older knowledge never answers: after an edit, until this team's is
        # rebuilt, the knowledge alone does (learned questions wait a moment, facts do not).
        if entry is None or entry.knowledge_version != kb.version:
            return self._matcher
        return entry.matcher

    def _schedule_refresh(self, *, force: bool) -> None:
        with self._learned_lock:
            if self._refreshing:
                return
            # While the database fails, even forced checks wait for the interval: one
            # attempt per interval, not one per question.
            if (not force or self._learned_failing) and time.monotonic() < self._next_learned_check:
                return
            self._refreshing = True
        if self.background:
            threading.Thread(
                target=self._refresh_learned, name="awssec-learned", daemon=True
            ).start()
        else:
            self._refresh_learned()

    def _refresh_learned(self) -> None:
        """Check the learned version; rebuild the matchers of the teams asked about whose
        learned questions or knowledge changed, swapping each in when ready."""
        try:
            source = self._learned
            if source is None:
                return
            self._next_learned_check = time.monotonic() + self.learned_check_seconds
            try:
                version = source.learned_version()
                kb, model = self._kb, self._model
                with self._learned_lock:
                    # Team-wide first: a team with nothing of its own shares that matcher.
                    wanted = sorted(self._wanted, key=lambda t: (t is not None, t or ""))
                for team in wanted:
                    entry = self._teams.get(team)
                    if (
                        entry is not None
                        and entry.learned_version == version
                        and entry.knowledge_version == kb.version
                    ):
                        continue
                    self._teams[team] = self._build(source, team, kb, model, version)
            except Exception as exc:  # the database is down: keep serving what we have
                if not self._learned_failing:
                    log.warning(
                        "learned questions unavailable; answering without changes: %s",
                        str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                    )
                self._learned_failing = True
                return
            if self._learned_failing:
                log.info("learned questions readable again")
            self._learned_failing = False
        finally:
            self._refreshing = False

    def _build(
        self,
        source: LearnedSource,
        team: str | None,
        kb: KnowledgeBase,
        model: FittedModel,
        version: int,
    ) -> _TeamMatcher:
        rows = list(source.learned(team))
        team_wide = self._teams.get(None)
        if (
            team is not None
            and team_wide is not None
            and team_wide.learned_version == version
            and team_wide.knowledge_version == kb.version
            and not any(r.team_id is not None for r in rows)
        ):
            # Nothing taught to this team alone: share the team-wide matcher.
            return team_wide
        taught = with_learned(kb, rows)
        # Same fitted model: learned wordings are data, not a reason to refit.
        matcher = Matcher(taught, model) if taught is not kb else self._base_for(kb, model)
        return _TeamMatcher(matcher, version, kb.version)

    def _base_for(self, kb: KnowledgeBase, model: FittedModel) -> Matcher:
        base = self._base
        if base is not None and base.kb is kb:
            return base
        return Matcher(kb, model)

    def maybe_reload(self) -> bool:
        """Reload if a knowledge file changed (checked at most every `reload_interval` s)."""
        if self.reload_interval is None:
            return False
        now = time.monotonic()
        if now < self._next_check:
            return False
        # One thread checks; the others keep answering with the current matcher.
        if not self._lock.acquire(blocking=False):
            return False
        try:
            self._next_check = now + self.reload_interval
            stamp = self._file_stamp()
            if stamp == self._stamp:
                return False
            self._stamp = stamp
            return self.reload()
        finally:
            self._lock.release()

    def reload(self) -> bool:
        """Load the knowledge again now; True if the new knowledge is in use."""
        try:
            kb = load_knowledge(self.path)
        except Exception as exc:  # a broken edit must never take the bot down
            error = str(exc) if isinstance(exc, KnowledgeError) else repr(exc)
            if error != self.last_error:  # the same problems again (a touch): logged once
                detail = exc.one_line() if isinstance(exc, KnowledgeError) else repr(exc)
                log.error(
                    "knowledge reload failed; still serving version %s: %s",
                    self._kb.version,
                    detail,
                )
            self.last_error = error
            return False
        if kb.version != self._kb.version:
            self._matcher = Matcher(kb)
            log.info("knowledge reloaded: version %s, %d topics", kb.version, len(kb))
            self._loaded(kb)
        self.last_error = None
        return True

    def follow(self, path: str | os.PathLike[str] | None, last_error: str | None) -> None:
        """Keep serving the knowledge in use, but reload from `path` from now on.

        For a service started from a copy because the files at `path` were broken
        (`last_error`): the next check reloads them, logging only problems that differ.
        """
        with self._lock:
            self.path = resolve_knowledge_path(path)
            self.last_error = last_error
            self._stamp = (("", -1, -1),)  # matches no real stamp: the next check reloads
            self._next_check = 0.0

    def _loaded(self, kb: KnowledgeBase) -> None:
        if self.on_loaded is None:
            return
        try:
            self.on_loaded(kb)
        except Exception:  # a failing hook (a full disk) must not stop the reload
            log.exception("after loading knowledge version %s", kb.version)

    def _file_stamp(self) -> tuple[tuple[str, int, int], ...]:
        try:
            files = knowledge_files(self.path) if self.path.exists() else []
            return tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files)
        except OSError:
            return ()
