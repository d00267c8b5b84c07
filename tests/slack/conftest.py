"""Fixtures for the Slack tests: fake Slack Web API, the real web server, request signing."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from slackfakes import KNOWLEDGE, FakeSlackAPI, WebServer, sign, sqlite_url, start_web_server

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


PG_ENV = "AWSSEC_TEST_POSTGRES_URL"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A server's DATABASE_URL: an SQLite file, then a fresh PostgreSQL database (created from
    AWSSEC_TEST_POSTGRES_URL, dropped after; skipped without it unless
    AWSSEC_REQUIRE_POSTGRES=1, which CI sets so PostgreSQL coverage cannot silently vanish)."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    base = os.environ.get(PG_ENV, "").strip()
    if not base:
        if os.environ.get("AWSSEC_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"AWSSEC_REQUIRE_POSTGRES=1 but {PG_ENV} is not set")
        pytest.skip(f'{PG_ENV} not set (run: eval "$(bash .ci/start-postgres.sh)")')
    import psycopg
    from sqlalchemy.engine import make_url

    admin_url = make_url(base).set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"awssec_slack_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
