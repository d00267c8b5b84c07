"""AnswerService: live knowledge reload that never takes the bot down."""

from __future__ import annotations

import logging
import os

import pytest

from bot.knowledge import KnowledgeError
from bot.matcher.service import AnswerService
from tests.conftest import topic_yaml


def _touch_later(path, seconds: int = 5) -> None:
    """Move the file's mtime forward so the change is seen on coarse-timestamp filesystems."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + seconds * 1_000_000_000))


def test_an_edit_takes_effect_without_a_restart(write_knowledge):
    folder = write_knowledge({"k.yaml": "topics:\n" + topic_yaml("alpha", name="Zorblax")})
    service = AnswerService(folder, reload_interval=0)
    assert service.answer("zorblax").topic_ids == ["alpha"]
    version = service.version

    (folder / "k.yaml").write_text("topics:\n" + topic_yaml("beta", name="Quuxinator"))
    _touch_later(folder / "k.yaml")
    assert service.answer("quuxinator").topic_ids == ["beta"]
    assert service.version != version
    assert service.last_error is None


def test_a_broken_edit_keeps_the_last_good_knowledge(write_knowledge, caplog):
    folder = write_knowledge({"k.yaml": "topics:\n" + topic_yaml("alpha", name="Zorblax")})
    service = AnswerService(folder, reload_interval=0)
    version = service.version

    (folder / "k.yaml").write_text("topics:\n  - id: alpha\n    name: [unclosed\n")
    _touch_later(folder / "k.yaml")
    with caplog.at_level(logging.ERROR):
        answer = service.answer("zorblax")
    assert answer.topic_ids == ["alpha"]
    assert service.version == version
    assert "k.yaml:" in service.last_error and "invalid YAML" in service.last_error
    assert "k.yaml:" in caplog.text

    (folder / "k.yaml").write_text("topics:\n" + topic_yaml("alpha", name="Zorblax Fixed"))
    _touch_later(folder / "k.yaml", 10)
    service.answer("zorblax")
    assert service.last_error is None and service.version != version


def test_checks_are_throttled(write_knowledge):
    folder = write_knowledge({"k.yaml": "topics:\n" + topic_yaml("alpha", name="Zorblax")})
    service = AnswerService(folder, reload_interval=3600)
    service.answer("zorblax")
    (folder / "k.yaml").write_text("topics:\n" + topic_yaml("beta", name="Quuxinator"))
    _touch_later(folder / "k.yaml")
    assert service.answer("quuxinator").topic_ids == []  # not re-read within the interval
    assert service.reload() is True
    assert service.answer("quuxinator").topic_ids == ["beta"]


def test_the_first_load_must_succeed(write_knowledge):
    folder = write_knowledge({"k.yaml": "topics: nope\n"})
    with pytest.raises(KnowledgeError):
        AnswerService(folder)


def test_an_unexpected_load_failure_is_reported_not_raised(write_knowledge, monkeypatch):
    folder = write_knowledge({"k.yaml": "topics:\n" + topic_yaml("alpha", name="Zorblax")})
    service = AnswerService(folder, reload_interval=0)

    def explode(path):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("bot.matcher.service.load_knowledge", explode)
    (folder / "k.yaml").write_text("topics:\n" + topic_yaml("alpha", name="Zorblax 2"))
    _touch_later(folder / "k.yaml")
    assert service.answer("zorblax").topic_ids == ["alpha"]
    assert "disk on fire" in service.last_error
