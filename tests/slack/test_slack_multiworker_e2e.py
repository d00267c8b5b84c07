"""End to end: two gunicorn workers sharing one database, Slack retries racing the original.

Each event is sent twice at the same moment (the second with X-Slack-Retry-Num, as Slack
retries), on separate connections, so the two deliveries often land on different workers.
Exactly one reply per event, and one recorded answer, must come out.

SQLite always; PostgreSQL when AWSSEC_TEST_POSTGRES_URL is set (required with
AWSSEC_REQUIRE_POSTGRES=1), each run in a database of its own.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

from slackfakes import (
    FakeSlackAPI,
    WebServer,
    event_body,
    mention_event,
    start_web_server,
    unique,
)

EVENTS = 30
QUESTIONS = ("which service finds PII?", "kms vs cloudhsm", "guardduty", "threat data keys")


def answers_in(database_url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM answers")).scalar_one()
    finally:
        engine.dispose()


def test_retries_across_two_workers_are_answered_once(
    fake_slack: FakeSlackAPI, tmp_path: Path, database_url: str
) -> None:
    server: WebServer = start_web_server(
        fake_slack, tmp_path, WEB_CONCURRENCY="2", DATABASE_URL=database_url
    )
    try:
        deadline = time.monotonic() + 20
        while server.output().count("awssec HTTP app ready") < 2:
            assert time.monotonic() < deadline, server.output()[-3000:]
            time.sleep(0.1)

        # One channel per event: what is tested is cross-worker de-duplication, not the
        # per-channel pacing (1 post/s per channel), which would make 30 replies take ~30 s.
        channels = [unique("C") for _ in range(EVENTS)]
        retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
        statuses: list[int] = []
        lock = threading.Lock()

        def deliver(body: str, headers: dict[str, str], start: threading.Barrier) -> None:
            start.wait(5)
            status = server.send(body, headers=headers).status
            with lock:
                statuses.append(status)

        for i in range(EVENTS):
            event = mention_event(QUESTIONS[i % len(QUESTIONS)], channels[i], f"50.{i:03d}")
            body = json.dumps(event_body(event))
            start = threading.Barrier(2)
            pair = [
                threading.Thread(target=deliver, args=(body, {}, start)),
                threading.Thread(target=deliver, args=(body, retry, start)),
            ]
            for thread in pair:
                thread.start()
            for thread in pair:
                thread.join(10)
        assert statuses == [200] * (2 * EVENTS)

        ours = set(channels)

        def posted() -> list:
            return [c for c in fake_slack.find("chat.postMessage") if c.params["channel"] in ours]

        deadline = time.monotonic() + 20
        while len(posted()) < EVENTS and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # room for a (wrong) second reply to arrive
        replies = Counter((c.params["channel"], c.params["thread_ts"]) for c in posted())
        assert len(replies) == EVENTS, f"lost: {EVENTS - len(replies)}"
        assert max(replies.values()) == 1, {ts: n for ts, n in replies.items() if n > 1}
        assert answers_in(database_url) == EVENTS
        backend = "postgresql" if database_url.startswith("postgres") else "sqlite"
        assert server.health()["database"] == {"backend": backend, "ok": True}
    finally:
        server.process.stop()
