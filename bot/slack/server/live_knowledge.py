"""Knowledge for the servers: live reload, and the last good knowledge for restarting workers.

`AnswerService` keeps serving the last good knowledge when an edit breaks it, but a process
that starts while the files are broken has no last good knowledge of its own. gunicorn
starts (and restarts) workers at any time, and a worker that fails to boot stops the whole
server. So the good knowledge is kept in a snapshot folder every worker of this server finds
(`$AWSSEC_KNOWLEDGE_SNAPSHOT`, made by the master, which checked the knowledge before
forking):

- whenever a process loads a good edit, it publishes it there as a new snapshot: written to
  a temporary folder, then renamed into place, so a reader never sees half a snapshot;
- a worker that finds the live files broken starts from the newest snapshot, logs one line
  naming the problems, reports them in `last_error`, and keeps watching the live files,
  switching to them once they are fixed.

So a worker restarted while an edit is broken serves the same (last good) knowledge as the
workers that kept running. The folder is local to the machine: on a platform with several
dynos each dyno has its own (and its own copy of the knowledge files).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from bot.config import SNAPSHOT_ENV, snapshot_dir_from_env
from bot.knowledge import KnowledgeBase, KnowledgeError
from bot.knowledge.loader import read_sources, sources_version
from bot.matcher.service import AnswerService

__all__ = [
    "SNAPSHOT_ENV",
    "newest_snapshots",
    "open_service",
    "publish_snapshot",
    "remove_snapshot",
    "snapshot_knowledge",
]

# Snapshots kept in the folder: the newest is the one used; older ones are a fallback for a
# worker reading while another prunes. More costs only disk (a few hundred KB each).
SNAPSHOTS_KEPT = 3
_FOLDER_PREFIX = "awssec-knowledge-"
_PARTIAL_PREFIX = ".partial-"

log = logging.getLogger(__name__)


def snapshot_knowledge(path: str | None) -> Path:
    """A new snapshot folder holding a copy of the (good) knowledge at `path` or the default;
    the folder to pass as `snapshot` (the master exports it as `$AWSSEC_KNOWLEDGE_SNAPSHOT`)."""
    folder = Path(tempfile.mkdtemp(prefix=_FOLDER_PREFIX))
    publish_snapshot(folder, path)
    return folder


def remove_snapshot(snapshot: Path) -> None:
    if snapshot.name.startswith(_FOLDER_PREFIX):
        shutil.rmtree(snapshot, ignore_errors=True)


def newest_snapshots(folder: Path) -> list[Path]:
    """The complete snapshots in `folder`, newest first."""
    try:
        names = [p for p in folder.iterdir() if not p.name.startswith(".") and p.is_dir()]
    except OSError:
        return []
    return sorted(names, key=lambda p: p.name, reverse=True)


def publish_snapshot(
    folder: Path, path: str | os.PathLike[str] | None, version: str = ""
) -> Path | None:
    """Copy the knowledge files at `path` into `folder` as its newest snapshot; the snapshot,
    or None when there was nothing to do.

    With `version` (the `KnowledgeBase.version` just loaded), the files are copied only if
    they still are that version: an edit made since then is not published unchecked (the
    process that loads it publishes it). Nothing is copied when the newest snapshot already
    is this version (every worker loads each edit).
    """
    sources = read_sources(path)
    actual = sources_version(sources)
    if version and actual != version:
        return None
    snapshots = newest_snapshots(folder)
    if snapshots and snapshots[0].name.endswith(f"-{actual}"):
        return None
    partial = Path(tempfile.mkdtemp(prefix=_PARTIAL_PREFIX, dir=folder))
    try:
        for name, raw in sources:
            (partial / name).write_bytes(raw)
        # Names sort by time, so the newest is the last good edit whichever worker wrote it.
        target = folder / f"{time.time_ns():020d}-{os.getpid()}-{actual}"
        partial.rename(target)  # atomic: readers see the whole snapshot or none of it
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    for old in newest_snapshots(folder)[SNAPSHOTS_KEPT:]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def open_service(
    path: str | None, reload_interval: float, snapshot: str | os.PathLike[str] | None = None
) -> AnswerService:
    """An `AnswerService` on the live knowledge at `path`, publishing each good edit to the
    snapshot folder `snapshot` (default `$AWSSEC_KNOWLEDGE_SNAPSHOT`); from the newest
    snapshot there when the live files are broken right now.

    Raises `KnowledgeError` when there is no usable snapshot either.
    """
    folder = Path(snapshot) if snapshot else snapshot_dir_from_env()
    try:
        service = AnswerService(path, reload_interval=reload_interval)
    except KnowledgeError as exc:
        if folder is None:
            raise
        service = _from_snapshot(folder, exc, reload_interval)
        service.follow(path, str(exc))
    else:
        if folder is not None:
            _publish(folder, service.path, service.knowledge)
    if folder is not None:
        live = service.path
        service.on_loaded = lambda kb: _publish(folder, live, kb)
    return service


def _from_snapshot(folder: Path, exc: KnowledgeError, reload_interval: float) -> AnswerService:
    """A service on the newest snapshot that loads; logs one line naming the problems."""
    for candidate in newest_snapshots(folder):
        try:
            # `follow` then points the service at the live files.
            service = AnswerService(candidate, reload_interval=reload_interval)
        except (KnowledgeError, OSError):  # pruned while we read it: try the next
            continue
        log.error(
            "knowledge is broken; serving the last good version %s: %s",
            service.version,
            exc.one_line(),
        )
        return service
    raise exc


def _publish(folder: Path, live: Path, kb: KnowledgeBase) -> None:
    try:
        published = publish_snapshot(folder, live, kb.version)
    except OSError as err:  # a full disk: this worker keeps serving; the snapshot lags
        log.warning("could not save the knowledge snapshot in %s: %s", folder, err)
        return
    if published is not None:
        log.debug("knowledge snapshot %s saved", published.name)
