"""Fixtures for the Slack tests: fake Slack Web API, the real web server, request signing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from slackfakes import (
    KNOWLEDGE,
    SIGNING_SECRET,
    FakeSlackAPI,
    Reply,
    ServerProcess,
    post,
    sign,
    start_web,
)

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


class WebServer:
    """The Procfile's web process, plus a signed-request client for it."""

    def __init__(self, process: ServerProcess, base_url: str) -> None:
        self.process = process
        self.base_url = base_url
        self.events_url = f"{base_url}/slack/events"

    def send(
        self,
        body: str,
        *,
        content_type: str = "application/json",
        timestamp: int | None = None,
        secret: str = SIGNING_SECRET,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        signed = sign(body, secret=secret, timestamp=timestamp, content_type=content_type)
        return post(self.events_url, body, {**signed, **(headers or {})})

    def output(self) -> str:
        return self.process.output()


@pytest.fixture(scope="module")
def web_server(
    fake_slack: FakeSlackAPI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebServer]:
    log = tmp_path_factory.mktemp("web") / "gunicorn.log"
    process, base = start_web(fake_slack.base_url, log, AWSSEC_KNOWLEDGE=str(KNOWLEDGE))
    try:
        yield WebServer(process, base)
    finally:
        process.stop()


@pytest.fixture
def signer() -> Callable[..., dict[str, str]]:
    return sign


@pytest.fixture
def knowledge_dir() -> Path:
    return KNOWLEDGE
