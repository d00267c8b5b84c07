"""The compiled knowledge the command line keeps between runs (bot/matcher/compiled.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import bot.matcher.matcher as matcher_module
from bot.config import cache_dir_from_env
from bot.matcher.service import AnswerService
from tests.conftest import topic_yaml


def _knowledge(write_knowledge, keywords: list[str]) -> Path:
    return write_knowledge(
        {
            "t.yaml": "topics:\n"
            + topic_yaml("vault", name="Zorblax Vault", keywords=keywords)
            + topic_yaml("other", name="Frobnicator", keywords=["spins turbines"])
        }
    )


def _no_build(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the index was built, not loaded")

    monkeypatch.setattr(matcher_module, "build_index", refuse)


def test_a_second_process_loads_the_index_instead_of_building_it(
    write_knowledge, tmp_path, monkeypatch
):
    folder = _knowledge(write_knowledge, ["stores passwords"])
    cache = tmp_path / "cache"
    first = AnswerService(folder, reload_interval=None, cache_dir=cache)
    assert first.answer("where are passwords stored").topic_ids == ["vault"]
    (kept,) = cache.glob("compiled-*.pickle")
    assert kept.stat().st_mode & 0o077 == 0  # private to this user

    _no_build(monkeypatch)
    second = AnswerService(folder, reload_interval=None, cache_dir=cache)
    assert second.answer("where are passwords stored").topic_ids == ["vault"]
    assert second.knowledge.version == first.knowledge.version


def test_an_edit_is_a_new_key_and_old_files_go(write_knowledge, tmp_path):
    from bot.matcher.compiled import MAX_COMPILED_FILES

    folder = _knowledge(write_knowledge, ["stores passwords"])
    cache = tmp_path / "cache"
    AnswerService(folder, reload_interval=None, cache_dir=cache)
    (before,) = cache.glob("compiled-*.pickle")
    for n in range(MAX_COMPILED_FILES + 1):
        _knowledge(write_knowledge, ["stores passwords", f"keeps licence plates {n}"])
        edited = AnswerService(folder, reload_interval=None, cache_dir=cache)
        assert edited.answer(f"keeps licence plates {n}").topic_ids == ["vault"]
    kept = list(cache.glob("compiled-*.pickle"))
    assert len(kept) == MAX_COMPILED_FILES and before not in kept


def test_a_broken_or_unsafe_file_is_rebuilt_not_trusted(write_knowledge, tmp_path, monkeypatch):
    folder = _knowledge(write_knowledge, ["stores passwords"])
    cache = tmp_path / "cache"
    AnswerService(folder, reload_interval=None, cache_dir=cache)
    (kept,) = cache.glob("compiled-*.pickle")
    kept.write_bytes(b"not a pickle")
    rebuilt = AnswerService(folder, reload_interval=None, cache_dir=cache)
    assert rebuilt.answer("where are passwords stored").topic_ids == ["vault"]

    # A folder others may write to could hold anyone's pickle: it is never read.
    os.chmod(cache, 0o777)
    _no_build(monkeypatch)
    with pytest.raises(AssertionError, match="built, not loaded"):
        AnswerService(folder, reload_interval=None, cache_dir=cache)


def test_the_cache_folder_comes_from_the_environment(tmp_path):
    assert cache_dir_from_env({"AWSSEC_CACHE_DIR": "off"}) is None
    assert cache_dir_from_env({"AWSSEC_CACHE_DIR": str(tmp_path)}) == tmp_path
    assert cache_dir_from_env({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "awssec"
    assert cache_dir_from_env({}) == Path.home() / ".cache" / "awssec"
