"""Fixtures for the Slack tests: fake Slack Web API, the real web server, request signing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from slackfakes import KNOWLEDGE, FakeSlackAPI, WebServer, sign, start_web_server

from bot.knowledge import KnowledgeBase
from bot.matcher.service import AnswerService


@pytest.fixture(scope="session")
def slack_service() -> AnswerService:
    return AnswerService(KNOWLEDGE, reload_interval=None)


@pytest.fixture(scope="session")
def slack_kb(slack_service: AnswerService) -> KnowledgeBase:
    return slack_service.knowledge


@pytest.fixture(scope="module")
def fake_slack() -> Iterator[FakeSlackAPI]:
    with FakeSlackAPI() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _no_ambient_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # In-process code must never touch a developer's database or ~/.local/share/awssec.
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("AWSSEC_ADMINS", raising=False)
    monkeypatch.delenv("AWSSEC_RETENTION_DAYS", raising=False)
    monkeypatch.setenv("AWSSEC_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture(scope="module")
def web_server(
    fake_slack: FakeSlackAPI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebServer]:
    server = start_web_server(fake_slack, tmp_path_factory.mktemp("web"))
    try:
        yield server
    finally:
        server.process.stop()


@pytest.fixture
def signer() -> Callable[..., dict[str, str]]:
    return sign


@pytest.fixture
def knowledge_dir() -> Path:
    return KNOWLEDGE
