"""Backends for the storage tests: SQLite always, PostgreSQL when AWSSEC_TEST_POSTGRES_URL is set.

Each PostgreSQL test gets a fresh database (created from the URL's database, dropped after), so
tests never see each other's rows. With AWSSEC_REQUIRE_POSTGRES=1 a missing URL fails the PG
tests instead of skipping them (CI sets it so PG coverage cannot silently vanish).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

from bot.storage import Store

PG_ENV = "AWSSEC_TEST_POSTGRES_URL"


def _pg_base_url() -> str:
    base = os.environ.get(PG_ENV, "").strip()
    if not base:
        if os.environ.get("AWSSEC_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"AWSSEC_REQUIRE_POSTGRES=1 but {PG_ENV} is not set")
        pytest.skip(f'{PG_ENV} not set (run: eval "$(bash .ci/start-postgres.sh)")')
    return base


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def pg_url() -> Iterator[str]:
    base = _pg_base_url()
    name = f"awssec_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(base), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        _drop_database(base, name)


# FORCE cannot end an autovacuum worker that happens to be on the database (it runs as the
# server's superuser, the test role is not): wait for it a little, then leave the database
# to the throwaway server rather than fail a test that passed.
DROP_ATTEMPTS = 20
DROP_RETRY_SECONDS = 0.25


def _drop_database(base: str, name: str) -> None:
    for _ in range(DROP_ATTEMPTS):
        try:
            with psycopg.connect(_libpq(base), autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectInUse):
            time.sleep(DROP_RETRY_SECONDS)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'awssec.db'}"
    else:
        yield request.getfixturevalue("pg_url")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.from_url(db_url, retention_days=90)
    try:
        yield s
    finally:
        s.dispose()


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's DATABASE_URL or retention must not leak into the tests.
    for var in ("DATABASE_URL", "AWSSEC_RETENTION_DAYS", "AWSSEC_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
