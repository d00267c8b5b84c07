from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from mp_workers import claim_keys, run_processes, write_answers
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, inspect, select
from sqlalchemy import update as sa_update

from bot.storage import (
    MAX_TEXT_CHARS,
    StorageError,
    Store,
    UnknownAnswerError,
    default_sqlite_path,
    normalize_url,
    retention_days_from_env,
)
from bot.storage.schema import answers, comments, events, votes
from bot.storage.store import utcnow
from tests.store_reads import row_counts


def answer(store: Store, question: str = "how do I encrypt S3?", **overrides) -> int:
    values = dict(
        question=question,
        topic_ids=["s3-encryption"],
        suggestion_ids=[],
        confidence=0.9,
        team_id="T1",
        user_id="U1",
        channel_id="C1",
        surface="mention",
    )
    values.update(overrides)
    return store.record_answer(**values)


def rows(store: Store, table) -> list:
    with store.engine.connect() as conn:
        return list(conn.execute(select(table)))


# --- answers, votes, comments ------------------------------------------------------------------


def test_record_answer_and_miss(store: Store) -> None:
    hit = answer(store)
    miss = answer(
        store, "what is the meaning of life?", topic_ids=[], suggestion_ids=["iam", "kms"]
    )
    assert hit != miss
    by_id = {r.id: r for r in rows(store, answers)}
    assert by_id[hit].is_miss is False and by_id[hit].topic_ids == ["s3-encryption"]
    assert by_id[miss].is_miss is True and by_id[miss].suggestion_ids == ["iam", "kms"]
    assert by_id[miss].surface == "mention" and by_id[miss].team_id == "T1"


def test_long_question_is_capped(store: Store) -> None:
    answer_id = answer(store, "x" * 10_000)
    (row,) = [r for r in rows(store, answers) if r.id == answer_id]
    assert len(row.question) == MAX_TEXT_CHARS


def test_vote_upsert_one_vote_per_user(store: Store) -> None:
    a = answer(store)
    store.record_vote(answer_id=a, team_id="T1", user_id="U1", channel_id="C1", helpful=True)
    store.record_vote(answer_id=a, team_id="T1", user_id="U1", channel_id="C1", helpful=False)
    store.record_vote(answer_id=a, team_id="T1", user_id="U2", channel_id="C1", helpful=True)
    got = sorted((r.user_id, r.helpful) for r in rows(store, votes))
    assert got == [("U1", False), ("U2", True)]


def test_vote_upsert_is_race_safe(store: Store) -> None:
    a = answer(store)
    barrier = threading.Barrier(8)

    def click(i: int) -> None:
        barrier.wait(timeout=30)
        for _ in range(10):
            store.record_vote(
                answer_id=a, team_id="T1", user_id="U1", channel_id="C1", helpful=i % 2 == 0
            )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(click, range(8)))
    assert len(rows(store, votes)) == 1


def test_vote_and_comment_on_unknown_answer(store: Store) -> None:
    with pytest.raises(UnknownAnswerError):
        store.record_vote(answer_id=424242, team_id="T", user_id="U", channel_id="C", helpful=True)
    with pytest.raises(UnknownAnswerError):
        store.record_comment(answer_id=424242, user_id="U", comment="nope")


def test_record_comment(store: Store) -> None:
    a = answer(store)
    store.record_comment(answer_id=a, user_id="U1", comment="wrong service " + "y" * 9000)
    (row,) = rows(store, comments)
    assert row.answer_id == a and row.user_id == "U1"
    assert row.comment.startswith("wrong service") and len(row.comment) == MAX_TEXT_CHARS


# --- secrets never stored ----------------------------------------------------------------------

KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9OiJjRazXBZ1BjP5CE/Wm/Rr500P\n"
    "RK+Lh9x5eJPo5CAZ3/ANBE0sTK0ZsDGMak2m1g7334NzvFQzSSmUsFvfS4t4PO2R\n"
    "-----END RSA PRIVATE KEY-----"
)
SLACK = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"


def test_secrets_never_reach_the_database(store: Store, db_url: str) -> None:
    question = f"is this safe? aws_access_key_id={KEY_ID} secret {SECRET}\n{PEM}\nthanks"
    a = answer(store, question, topic_ids=[], suggestion_ids=["iam-access-keys"])
    store.record_comment(answer_id=a, user_id="U1", comment=f"my token {SLACK} and {KEY_ID}")
    with store.engine.connect() as conn:
        stored = [r.question for r in conn.execute(select(answers.c.question))]
        stored += [r.comment for r in conn.execute(select(comments.c.comment))]
    text = "\n".join(stored)
    for fragment in (KEY_ID, SECRET, "PRIVATE KEY", "MIIEpAIBAAKCAQEA", SLACK, "xoxb-"):
        assert fragment not in text
    assert "[REDACTED AWS access key id]" in text and "[REDACTED private key]" in text
    assert "[REDACTED Slack token]" in text and "is this safe?" in text
    if db_url.startswith("sqlite"):
        # The raw file and its WAL, not just what SQL returns.
        store.dispose()
        path = Path(db_url.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        assert KEY_ID.encode() not in raw and SECRET.encode() not in raw


# --- event de-duplication ----------------------------------------------------------------------


def test_claim_event_once_then_reclaimable_after_expiry(store: Store) -> None:
    assert store.claim_event("Ev1") is True
    assert store.claim_event("Ev1") is False
    assert store.claim_event("Ev2") is True
    with store.engine.begin() as conn:
        past = utcnow() - timedelta(seconds=1)
        conn.execute(sa_update(events).where(events.c.key == "Ev1").values(expires_at=past))
    assert store.claim_event("Ev1") is True
    assert store.claim_event("Ev1") is False


def test_claim_event_long_key(store: Store) -> None:
    key = "retry:" + "k" * 1000
    assert store.claim_event(key) is True
    assert store.claim_event(key) is False


def test_claim_event_threads_exactly_once(store: Store) -> None:
    keys = [f"Ev{i}" for i in range(60)]
    barrier = threading.Barrier(8)

    def race(_: int) -> list[str]:
        barrier.wait(timeout=30)
        return [k for k in keys if store.claim_event(k)]

    with ThreadPoolExecutor(8) as pool:
        won = [k for result in pool.map(race, range(8)) for k in result]
    assert sorted(won) == sorted(keys)


def test_claim_event_processes_exactly_once(db_url: str) -> None:
    Store.from_url(db_url).dispose()
    keys = [f"Ev{i}" for i in range(150)]
    results = run_processes(claim_keys, [(db_url, keys, seed) for seed in range(4)])
    won = [k for result in results for k in result]
    assert len(won) == len(keys) and set(won) == set(keys)


def test_concurrent_writer_processes_lose_nothing(db_url: str) -> None:
    # No pre-created schema: the four processes also race the start-up migration.
    count = 60
    results = run_processes(write_answers, [(db_url, w, count) for w in range(4)])
    ids = [i for result in results for i in result]
    assert len(set(ids)) == 4 * count
    store = Store.from_url(db_url)
    try:
        assert row_counts(store)["answers"] == 4 * count
        assert row_counts(store)["votes"] == 4 * count
    finally:
        store.dispose()


# --- retention ---------------------------------------------------------------------------------


def _age(store: Store, answer_id: int, days: int) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            sa_update(answers)
            .where(answers.c.id == answer_id)
            .values(created_at=utcnow() - timedelta(days=days))
        )


def test_purge(store: Store) -> None:
    old, new = answer(store), answer(store)
    for a in (old, new):
        store.record_vote(answer_id=a, team_id="T", user_id="U", channel_id="C", helpful=True)
        store.record_comment(answer_id=a, user_id="U", comment="meh")
    store.claim_event("expired", ttl_seconds=0)
    _age(store, old, 100)
    assert store.purge(90) == 3
    assert [r.id for r in rows(store, answers)] == [new]
    assert len(rows(store, votes)) == 1 and len(rows(store, comments)) == 1
    assert rows(store, events) == []
    assert store.purge(90) == 0


def test_purge_runs_at_start_up(db_url: str) -> None:
    store = Store.from_url(db_url, retention_days=30)
    a = answer(store)
    _age(store, a, 31)
    store.dispose()
    store = Store.from_url(db_url, retention_days=30)
    try:
        assert rows(store, answers) == []
    finally:
        store.dispose()


def test_retention_days_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert retention_days_from_env() == 90
    monkeypatch.setenv("AWSSEC_RETENTION_DAYS", "30")
    assert retention_days_from_env() == 30
    for bad in ("0", "-3", "ninety"):
        monkeypatch.setenv("AWSSEC_RETENTION_DAYS", bad)
        with pytest.raises(StorageError, match="AWSSEC_RETENTION_DAYS"):
            retention_days_from_env()


# --- schema ------------------------------------------------------------------------------------


def test_start_up_adds_missing_columns(db_url: str) -> None:
    old = MetaData()
    Table(
        "answers",
        old,
        Column("id", Integer, primary_key=True),
        Column("question", String(100)),
    )
    engine = create_engine(normalize_url(db_url))
    old.create_all(engine)
    engine.dispose()
    store = Store.from_url(db_url)
    try:
        with store.engine.connect() as conn:
            names = {c["name"] for c in inspect(conn).get_columns("answers")}
        assert {"surface", "topic_ids", "is_miss", "created_at"} <= names
        assert answer(store) > 0
    finally:
        store.dispose()


def test_reopening_is_idempotent(db_url: str) -> None:
    for _ in range(3):
        Store.from_url(db_url).dispose()


# --- URLs and locations ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "driver"),
    [
        ("postgres://u:pw@db.example.com:5432/d1", "postgresql+psycopg"),
        ("postgresql://u:pw@db.example.com/d1", "postgresql+psycopg"),
        ("postgresql+psycopg://u:pw@db.example.com/d1", "postgresql+psycopg"),
        ("sqlite:///relative.db", "sqlite"),
        ("sqlite:////abs/path.db", "sqlite"),
    ],
)
def test_normalize_url(raw: str, driver: str) -> None:
    assert normalize_url(raw).drivername == driver


@pytest.mark.parametrize(
    "raw",
    [
        "not a url",
        "postgresql://user:hunter2@host:notaport/db",
        "mysql://user:hunter2@host/db",
        "postgresql://user:hunter2@host",
        "postgresql://user:hun@ter2@127.0.0.1:1/db",  # unencoded @: "ter2" would be the host
    ],
)
def test_bad_url_is_one_clear_line_without_password(raw: str) -> None:
    with pytest.raises(StorageError) as info:
        Store.from_url(raw)
    message = str(info.value)
    assert "\n" not in message and "hunter2" not in message and "ter2" not in message


def test_unreachable_database_hides_password() -> None:
    with pytest.raises(StorageError) as info:
        Store.from_url("postgresql://user:hunter2@127.0.0.1:9/nowhere")
    assert "hunter2" not in str(info.value) and "***" in str(info.value)


def test_heroku_postgres_scheme_connects(pg_url: str) -> None:
    store = Store.from_url(pg_url.replace("postgresql://", "postgres://", 1))
    try:
        assert store.backend == "postgresql"
        assert answer(store) > 0
        assert "***" in store.url
    finally:
        store.dispose()


def test_database_url_env(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    store = Store.from_url()
    try:
        assert store.backend == ("sqlite" if db_url.startswith("sqlite") else "postgresql")
    finally:
        store.dispose()


def test_default_sqlite_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWSSEC_DATA_DIR", str(tmp_path / "nested" / "data"))
    store = Store.from_url()
    try:
        answer(store)
        assert (tmp_path / "nested" / "data" / "awssec.db").is_file()
    finally:
        store.dispose()
    monkeypatch.delenv("AWSSEC_DATA_DIR")
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_sqlite_path() == tmp_path / ".local" / "share" / "awssec" / "awssec.db"


def test_sqlite_uses_wal(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    finally:
        store.dispose()


def test_storage_does_not_import_upper_layers() -> None:
    sources = Path(__file__).resolve().parents[2] / "bot" / "storage"
    # slack_sdk's SQLAlchemy OAuth stores are storage (tables on our engine, created by our
    # migration); installations.py alone may import them, and nothing else of slack_sdk.
    allowed_sdk = re.compile(r"slack_sdk\.oauth\.(installation_store|state_store)\.sqlalchemy\b")
    for path in sources.glob("*.py"):
        text = path.read_text()
        for layer in ("bot.slack", "bot.matcher", "bot.rendering", "slack_bolt"):
            assert layer not in text, f"{path.name} imports {layer}"
        sdk_uses = re.findall(r"^\s*(?:from|import)\s+(slack_sdk[\w.]*)", text, re.M)
        if path.name == "installations.py":
            assert sdk_uses and all(allowed_sdk.match(use) for use in sdk_uses), sdk_uses
        else:
            assert not sdk_uses, f"{path.name} imports slack_sdk"
