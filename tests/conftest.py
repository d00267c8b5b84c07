"""Fixtures shared by every test module."""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.guard import RedactingLogFilter
from bot.knowledge import KnowledgeBase, load_knowledge
from bot.matcher import Matcher

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return load_knowledge(REPO / "knowledge")


@pytest.fixture(scope="session")
def matcher(kb: KnowledgeBase) -> Matcher:
    return Matcher(kb)


def topic_yaml(topic_id: str = "demo", **overrides: object) -> str:
    """One valid topic as YAML text, with fields replaced or removed (value None)."""
    fields: dict[str, object] = {
        "id": topic_id,
        "name": f"Demo {topic_id}",
        "aliases": [f"{topic_id} alias"],
        "category": "Data protection",
        "summary": "A demo topic used by tests.",
        "facts": ["It exists only in tests."],
        "questions": [f"what is {topic_id}?"],
        "related": [],
        "url": "https://docs.aws.amazon.com/demo/",
    }
    fields.update(overrides)
    lines = [f"  - id: {fields.pop('id')}"]
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, list):
            rendered = "[" + ", ".join(f'"{v}"' for v in value) + "]"
        else:
            rendered = f'"{value}"' if isinstance(value, str) else str(value)
        lines.append(f"    {key}: {rendered}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def write_knowledge(tmp_path: Path):
    """Write `{filename: text}` into a fresh folder and return the folder."""

    def write(files: dict[str, str]) -> Path:
        folder = tmp_path / "knowledge"
        folder.mkdir(exist_ok=True)
        for name, text in files.items():
            (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
        return folder

    return write


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, list[str]]]:
    """A logger whose lines pass through the credential guard's log filter, as in the bot."""
    lines: list[str] = []

    class ListHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = ListHandler()
    handler.addFilter(RedactingLogFilter())
    parent = logging.getLogger("awssec-test-guard")
    parent.setLevel(logging.DEBUG)
    parent.propagate = False
    parent.addHandler(handler)
    try:
        # A child logger: handler filters see propagated records, logger filters would not.
        yield logging.getLogger("awssec-test-guard.child"), lines
    finally:
        parent.removeHandler(handler)
