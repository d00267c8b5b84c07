"""End to end: workers killed mid-run lose no acknowledged question and answer none twice.

gunicorn runs as the Procfile starts it, with two workers sharing one database. A bounded
loop sends signed DMs at a steady rate (each in a channel of its own, so each reply can be
matched to its question); the fake Slack Web API takes a while to accept each post, so
answers queue up behind the acks. Mid-run one worker is killed with SIGKILL and, later, the
other original worker gets a SIGTERM; gunicorn starts replacements. Every event acked with
200 must get exactly one reply at the fake Slack: zero lost, zero duplicated.

Questions acked by a killed worker are answered by a surviving or restarted one once its
lease lapses (AWSSEC_CLAIM_LEASE_SECONDS, short here); a post that was in flight when its
worker died is found by its metadata and not repeated.

SQLite always; PostgreSQL when AWSSEC_TEST_POSTGRES_URL is set (required with
AWSSEC_REQUIRE_POSTGRES=1), in a database of its own.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from slackfakes import (
    Call,
    FakeSlackAPI,
    WebServer,
    dm_event,
    event_body,
    start_web_server,
    worker_pids,
)

# The run: EVENTS DMs at RATE per second (about 4 s of sending), the SIGKILL and the SIGTERM
# while they arrive. Replies take POST_DELAY_SECONDS each at the fake Slack, so each worker
# has a queue of answers to lose when it dies.
EVENTS = 240
RATE = 60.0
SENDERS = 8
KILL_AT_SECONDS = 1.5
TERM_AT_SECONDS = 2.8
POST_DELAY_SECONDS = 0.1
# Short leases, so a dead worker's questions are taken over within seconds.
LEASE_SECONDS = "2"
# Bounded waits: all replies in, then a little longer to catch late duplicates.
REPLY_WAIT_SECONDS = 25.0
SETTLE_SECONDS = 2.0
QUESTIONS = ("which service finds PII?", "kms vs cloudhsm", "guardduty", "threat data keys")


class SlowSlack(FakeSlackAPI):
    """The fake Web API, slower to accept posts, and reading messages back (with their
    metadata) as conversations.history and conversations.replies do."""

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        if handler.path.startswith("/api/chat.postMessage"):
            # Before the post is recorded: the time a post takes to reach Slack.
            time.sleep(POST_DELAY_SECONDS)
        super()._handle(handler)

    def _result(self, method: str, params: dict[str, Any], call: Call) -> dict[str, Any]:
        if method in ("conversations.history", "conversations.replies"):
            channel = params.get("channel")
            messages = [
                {"type": "message", "text": c.params.get("text"), "metadata": _metadata(c)}
                for c in self.find("chat.postMessage", channel=channel)
            ]
            return {"ok": True, "messages": messages, "has_more": False}
        return super()._result(method, params, call)


def _metadata(call: Call) -> Any:
    metadata = call.params.get("metadata")
    if isinstance(metadata, str):  # form-encoded calls carry it as JSON text
        try:
            metadata = json.loads(metadata)
        except ValueError:
            return None
    return metadata


@pytest.fixture
def slow_slack() -> Iterator[SlowSlack]:
    with SlowSlack() as fake:
        yield fake


def wait_for_workers(master: int, count: int, timeout: float = 20.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = worker_pids(master)
        if len(pids) >= count:
            return pids
        time.sleep(0.1)
    raise AssertionError(f"gunicorn did not start {count} workers")


def pending_rows(database_url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM pending_events")).scalar_one()
    finally:
        engine.dispose()


def pending_by_worker(database_url: str) -> Counter[int]:
    """Pending (acknowledged, not yet answered) rows per worker pid (owner "host:pid:id")."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            owners = conn.execute(text("SELECT owner FROM pending_events")).scalars().all()
    finally:
        engine.dispose()
    return Counter(int(owner.split(":")[1]) for owner in owners)


def busiest(database_url: str, pids: list[int], timeout: float = 1.0) -> int:
    """The worker holding the most acknowledged questions now (polled briefly, bounded), so
    that killing it really leaves work for the survivors; the first pid if none holds any."""
    deadline = time.monotonic() + timeout
    while True:
        held = pending_by_worker(database_url)
        if any(held[pid] for pid in pids) or time.monotonic() > deadline:
            return max(pids, key=lambda pid: held[pid])
        time.sleep(0.02)


def test_killed_workers_lose_no_acknowledged_question(
    slow_slack: SlowSlack, tmp_path: Path, database_url: str
) -> None:
    server: WebServer = start_web_server(
        slow_slack,
        tmp_path,
        WEB_CONCURRENCY="2",
        DATABASE_URL=database_url,
        AWSSEC_CLAIM_LEASE_SECONDS=LEASE_SECONDS,
    )
    master = server.process.proc.pid
    try:
        first, second = wait_for_workers(master, 2)[:2]
        # Both workers have built their app (and started their sweeper) before the run.
        for i in range(6):
            warm = event_body(dm_event("guardduty", channel=f"DWARM{i}"), event_id=f"EvWarm{i}")
            assert server.send(json.dumps(warm)).status == 200
        assert len(slow_slack.wait_for("chat.postMessage", 6, timeout=15)) == 6
        slow_slack.reset()

        acked: dict[str, bool] = {}
        lock = threading.Lock()

        def deliver(i: int) -> None:
            channel = f"DKILL{i:05d}"
            question = QUESTIONS[i % len(QUESTIONS)]
            body = event_body(dm_event(question, channel=channel), event_id=f"EvKill{i}")
            try:
                ok = server.send(json.dumps(body)).status == 200
            except OSError:  # the worker died holding the connection: not acknowledged
                ok = False
            with lock:
                acked[channel] = ok

        killed: list[tuple[str, int]] = []

        def kill_mid_run(started: float) -> None:
            time.sleep(max(0.0, started + KILL_AT_SECONDS - time.monotonic()))
            victim = busiest(database_url, [first, second])
            os.kill(victim, signal.SIGKILL)
            killed.append(("SIGKILL", victim))
            time.sleep(max(0.0, started + TERM_AT_SECONDS - time.monotonic()))
            survivor = second if victim == first else first
            os.kill(survivor, signal.SIGTERM)
            killed.append(("SIGTERM", survivor))

        started = time.monotonic()
        killer = threading.Thread(target=kill_mid_run, args=(started,))
        killer.start()
        with ThreadPoolExecutor(SENDERS) as senders:
            for i in range(EVENTS):  # a steady rate, bounded
                time.sleep(max(0.0, started + i / RATE - time.monotonic()))
                senders.submit(deliver, i)
        killer.join()
        assert [name for name, _ in killed] == ["SIGKILL", "SIGTERM"]

        acked_channels = {c for c, ok in acked.items() if ok}
        assert len(acked) == EVENTS
        # Most deliveries are acknowledged (only those held by the killed worker fail).
        assert len(acked_channels) >= EVENTS * 0.8, f"only {len(acked_channels)} acked"

        def replies() -> Counter[str]:
            return Counter(
                str(c.params.get("channel"))
                for c in slow_slack.find("chat.postMessage")
                if str(c.params.get("channel")).startswith("DKILL")
            )

        deadline = time.monotonic() + REPLY_WAIT_SECONDS
        while time.monotonic() < deadline and not acked_channels <= set(replies()):
            time.sleep(0.2)
        time.sleep(SETTLE_SECONDS)  # late duplicates would arrive now
        counts = replies()
        lost = sorted(acked_channels - set(counts))
        duplicated = sorted(c for c, n in counts.items() if n > 1)
        assert not lost, f"{len(lost)} acknowledged questions never answered: {lost[:5]}"
        assert not duplicated, f"{len(duplicated)} answered twice: {duplicated[:5]}"
        # Every reply answers its own question (not an empty or error reply).
        assert all(n == 1 for n in counts.values())
        # Takeovers really happened: a killed worker's questions were answered elsewhere.
        log = server.output()
        assert "acknowledged by a lost worker" in log, log[-3000:]
        assert "Traceback" not in log, log[-3000:]
        # Nothing is left pending: every claim was answered and forgotten.
        assert pending_rows(database_url) == 0
        # The question text never reaches the log.
        assert "cloudhsm" not in log and "finds PII" not in log
    finally:
        server.process.stop()
