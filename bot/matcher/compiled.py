"""The knowledge and its index, compiled once and kept on disk for the command line.

`awssec ask` is a whole process per question: reading and validating the YAML and building
the index take most of its time (about 0.15 s and 0.3 s for the bundled knowledge), while
loading the same objects from a pickle takes under 0.1 s. The file is keyed by everything
the result depends on: the knowledge files (path, names and bytes), the fitted model, the
source code that reads and indexes them, and the Python version. A changed input is a new
key, so a stale file is never read; beyond `MAX_COMPILED_FILES` the oldest are removed.

A pickle runs code when loaded, so only a file in a folder that this user owns and nobody
else can write to is read (like Python's own `__pycache__`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import sys
import tempfile
from pathlib import Path

from bot.knowledge.model import KnowledgeBase
from bot.matcher.index import TopicIndex
from bot.matcher.model import FittedModel

log = logging.getLogger(__name__)

# Bump when the pickled shapes change in a way the source hash below would not catch.
COMPILED_FORMAT = 1
_PREFIX = "compiled-"
# Compiled files kept: one per knowledge folder in use (the bundled one, a team's own, a test
# folder), the newest first. More costs disk (about 3 MB each); fewer rebuilds more often
# when switching folders.
MAX_COMPILED_FILES = 4
# The packages whose code shapes the compiled objects.
_SOURCE_PACKAGES = ("knowledge", "matcher")


def compiled_key(path: Path, sources: list[tuple[str, bytes]], model: FittedModel) -> str:
    """The cache key of the knowledge at `path` (its files as `read_sources` gives them)
    indexed for `model`."""
    digest = hashlib.sha256()
    digest.update(f"{COMPILED_FORMAT}\0{sys.version}\0{path.resolve()}\0".encode())
    for name, raw in sources:
        digest.update(name.encode() + b"\0" + raw + b"\0")
    digest.update(model.to_json().encode())
    package = Path(__file__).resolve().parent.parent
    for folder in _SOURCE_PACKAGES:
        for source in sorted((package / folder).glob("*.py")):
            digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()[:32]


def load_compiled(directory: Path, key: str) -> tuple[KnowledgeBase, TopicIndex] | None:
    """The compiled knowledge for `key`, or None (not there, unsafe, or unreadable)."""
    file = directory / f"{_PREFIX}{key}.pickle"
    try:
        if not _private(directory) or not _private(file):
            return None
        with file.open("rb") as handle:
            kb, index = pickle.load(handle)
    except FileNotFoundError:
        return None
    except Exception as exc:  # a truncated or foreign file: rebuild, never fail the command
        log.debug("compiled knowledge %s unreadable (%s): rebuilding", file.name, exc)
        return None
    if not isinstance(kb, KnowledgeBase) or not isinstance(index, TopicIndex):
        return None
    return kb, index


def save_compiled(directory: Path, key: str, kb: KnowledgeBase, index: TopicIndex) -> None:
    """Keep `kb` and `index` under `key` (atomically), removing older compiled files. A cache
    that cannot be written is skipped: the command has its answer already."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private(directory):
            return
        data = pickle.dumps((kb, index), protocol=pickle.HIGHEST_PROTOCOL)
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".compiled-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            target = directory / f"{_PREFIX}{key}.pickle"
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        kept = sorted(
            directory.glob(f"{_PREFIX}*.pickle"), key=lambda f: f.stat().st_mtime, reverse=True
        )
        for old in kept[MAX_COMPILED_FILES:]:
            if old != target:
                old.unlink(missing_ok=True)
    except OSError as exc:
        log.debug("compiled knowledge not kept in %s: %s", directory, exc)


def _private(path: Path) -> bool:
    """Owned by this user and writable by nobody else."""
    info = path.stat()
    return info.st_uid == os.getuid() and not info.st_mode & 0o022
