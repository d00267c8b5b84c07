"""AnswerService: the knowledge in use plus its matcher, reloaded when the files change."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from bot.knowledge import KnowledgeBase, KnowledgeError, load_knowledge, resolve_knowledge_path
from bot.knowledge.loader import knowledge_files
from bot.matcher.answer import Answer
from bot.matcher.matcher import Matcher

log = logging.getLogger(__name__)


class AnswerService:
    """Answers questions; picks up knowledge edits without a restart.

    The first load must succeed (raises `KnowledgeError`); later broken edits are logged,
    kept in `last_error`, and the last good knowledge keeps serving.
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, reload_interval: float | None = 2.0
    ) -> None:
        self.path: Path = resolve_knowledge_path(path)
        self.reload_interval = reload_interval
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._next_check = 0.0
        self._stamp = self._file_stamp()
        self._matcher = Matcher(load_knowledge(self.path))

    @property
    def knowledge(self) -> KnowledgeBase:
        self.maybe_reload()
        return self._matcher.kb

    @property
    def matcher(self) -> Matcher:
        self.maybe_reload()
        return self._matcher

    @property
    def version(self) -> str:
        return self.knowledge.version

    def answer(self, question: str) -> Answer:
        return self.matcher.match(question)

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
            self.last_error = str(exc) if isinstance(exc, KnowledgeError) else repr(exc)
            log.error(
                "knowledge reload failed; still serving version %s:\n%s",
                self._matcher.kb.version,
                exc,
            )
            return False
        if kb.version != self._matcher.kb.version:
            self._matcher = Matcher(kb)
            log.info("knowledge reloaded: version %s, %d topics", kb.version, len(kb))
        self.last_error = None
        return True

    def _file_stamp(self) -> tuple:
        try:
            files = knowledge_files(self.path) if self.path.exists() else []
            return tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files)
        except OSError:
            return ()
