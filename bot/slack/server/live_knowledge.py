"""Knowledge for the servers: live reload, and a known-good snapshot for late-booting workers.

`AnswerService` keeps serving the last good knowledge when an edit breaks it, but a process
that starts while the files are broken has no last good knowledge. gunicorn starts (and
restarts) workers at any time, and a worker that fails to boot stops the whole server. So the
master, which checked the knowledge before forking, copies it to a snapshot folder; a worker
that finds the live files broken starts from the snapshot, reports the problems in
`last_error`, and keeps watching the live files, switching to them once they are fixed.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from bot.knowledge import KnowledgeError
from bot.knowledge.loader import knowledge_files, resolve_knowledge_path
from bot.matcher.service import AnswerService

SNAPSHOT_ENV = "AWSSEC_KNOWLEDGE_SNAPSHOT"

log = logging.getLogger(__name__)


def snapshot_knowledge(path: str | None) -> Path:
    """Copy the knowledge file(s) at `path` (or the default) to a new temporary folder; the
    path to load the copy from."""
    source = resolve_knowledge_path(path)
    target = Path(tempfile.mkdtemp(prefix="awssec-knowledge-"))
    for file in knowledge_files(source):
        shutil.copy2(file, target / file.name)
    return target if source.is_dir() else target / source.name


def remove_snapshot(snapshot: Path) -> None:
    folder = snapshot if snapshot.is_dir() else snapshot.parent
    if folder.name.startswith("awssec-knowledge-"):
        shutil.rmtree(folder, ignore_errors=True)


def open_service(
    path: str | None, reload_interval: float, snapshot: str | None = None
) -> AnswerService:
    """An `AnswerService` on the live knowledge at `path`; from `snapshot` (default
    `$AWSSEC_KNOWLEDGE_SNAPSHOT`) when the live files are broken right now.

    Raises `KnowledgeError` when there is no usable snapshot either.
    """
    try:
        return AnswerService(path, reload_interval=reload_interval)
    except KnowledgeError as exc:
        snapshot = snapshot or os.environ.get(SNAPSHOT_ENV)
        if not snapshot or not Path(snapshot).exists():
            raise
        log.error(
            "knowledge is broken; starting from the last good copy taken at start-up:\n%s", exc
        )
    service = AnswerService(snapshot, reload_interval=reload_interval)
    # Watch the live files from now on: their state differs from the snapshot's, so the next
    # check reloads them (recording the problems in `last_error` until they are fixed).
    service.path = resolve_knowledge_path(path)
    service.maybe_reload()
    return service
