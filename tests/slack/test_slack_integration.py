"""The features built in parallel, wired together: durable claims for follow-ups and
auto-answers, unhandled requests, teams in reports and admin checks, and the settings
reaching listeners through Deps (never the environment at request time).

Real Bolt apps from `create_app`, signed requests through `App.dispatch`, a real SQLite
Store and the fake Slack Web API on 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from slack_bolt import App, BoltRequest
from slack_sdk import WebClient
from slackfakes import (
    BOT_TOKEN,
    BOT_USER_ID,
    SIGNING_SECRET,
    TEAM_ID,
    FakeSlackAPI,
    command_body,
    event_body,
    interactivity_body,
    sign,
)

from bot.config import Settings, parse_admins
from bot.matcher.service import AnswerService
from bot.slack.answering.deps import CONTEXT_KEY, Deps
from bot.slack.app import create_app
from bot.slack.listeners.commands.awssec import NOT_ADMIN, report_reply
from bot.slack.listeners.events import conversations as conv
from bot.slack.reliability import claims as claims_module
from bot.slack.reliability.dedup import MemoryDeduplicator, StoreDeduplicator
from bot.storage import Store
from bot.storage.conversations import SqlConversations

log = logging.getLogger("test")
# The shortest lease AWSSEC_CLAIM_LEASE_SECONDS allows: a dead worker's claims lapse fast.
LEASE_SECONDS = 2.0


@pytest.fixture(scope="module")
def bundled() -> AnswerService:
    return AnswerService(reload_interval=None)  # the bundled knowledge: realistic confidence


class DeadWorker(Executor):
    """A worker that acks and then dies: its lazy listeners never run."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        return Future()


def _signed(body: dict[str, Any]) -> BoltRequest:
    raw = json.dumps(body)
    return BoltRequest(body=raw, headers=sign(raw))


def _form(raw: str) -> BoltRequest:
    return BoltRequest(
        body=raw, headers=sign(raw, content_type="application/x-www-form-urlencoded")
    )


def _app(
    fake: FakeSlackAPI, service: AnswerService, store: Store | None, executor: Executor, **fields
) -> App:
    settings = Settings(
        bot_token=BOT_TOKEN,
        signing_secret=SIGNING_SECRET,
        claim_lease_seconds=LEASE_SECONDS,
        **fields,
    )
    client = WebClient(token=BOT_TOKEN, base_url=fake.base_url, timeout=5)
    dedup = StoreDeduplicator(store) if store is not None else MemoryDeduplicator()
    return create_app(
        settings, service, store=store, dedup=dedup, client=client, listener_executor=executor
    )


# ---------------------------------------------------------------- durable claims


def _channel_message(text: str, channel: str, ts: str, thread_ts: str | None = None) -> dict:
    event = {
        "type": "message",
        "channel_type": "channel",
        "channel": channel,
        "user": "U0ASKER",
        "text": text,
        "ts": ts,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


@pytest.mark.parametrize("kind", ["followup", "auto"])
def test_a_question_acked_by_a_dead_worker_is_answered_by_another(
    kind: str, fake_slack: FakeSlackAPI, bundled: AnswerService, tmp_path: Path
) -> None:
    """Worker A acks a follow-up (or an auto-answer channel's question) and dies before
    answering; worker B, on the same database, answers it once A's lease lapses."""
    fake_slack.reset()
    url = f"sqlite:///{tmp_path / 'awssec.db'}"
    store_a, store_b = Store.from_url(url), Store.from_url(url)
    channel = f"C0{kind.upper()}"
    if kind == "followup":
        # The bot answered in this thread about GuardDuty: follow-ups there are answered.
        SqlConversations(store_a).remember_thread(
            team_id=TEAM_ID, channel_id=channel, thread_ts="1.0", topic_id="guardduty", minutes=30
        )
        event = _channel_message("how do I enable guardduty?", channel, "1.5", "1.0")
        expected = "GuardDuty"
        thread_ts = "1.0"
    else:
        SqlConversations(store_a).set_autoanswer(
            team_id=TEAM_ID, channel_id=channel, enabled=True, set_by="U0ADMIN"
        )
        event = _channel_message("what is amazon macie?", channel, "2.0")
        expected = "Macie"
        thread_ts = "2.0"
    live = ThreadPoolExecutor(max_workers=2, thread_name_prefix="worker-b")
    app_a = _app(fake_slack, bundled, store_a, DeadWorker())
    claims_a = claims_module._PROCESS_CLAIMS[-1]
    try:
        assert app_a.dispatch(_signed(event_body(event))).status == 200
        assert claims_a.pending.count() == 1  # claimed durably before the ack
        claims_a.stop()  # the worker is gone: nobody renews its lease
        app_b = _app(fake_slack, bundled, store_b, live)
        claims_b = claims_module._PROCESS_CLAIMS[-1]
        try:
            [reply] = fake_slack.wait_for(
                "chat.postMessage", channel=channel, timeout=LEASE_SECONDS * 5
            )
            assert reply.params["thread_ts"] == thread_ts
            assert expected in reply.params["text"]
            deadline = time.monotonic() + 5
            while claims_b.pending.count() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert claims_b.pending.count() == 0 and claims_b.replayed == 1
            # A's worker is not coming back, but a Slack retry of the same event to B is
            # still answered once: no second reply.
            assert app_b.dispatch(_signed(event_body(event))).status == 200
            time.sleep(0.5)
            assert len(fake_slack.find("chat.postMessage", channel=channel)) == 1
        finally:
            claims_b.stop()
    finally:
        claims_a.stop()
        live.shutdown(wait=True)
        store_a.dispose()
        store_b.dispose()


def test_channel_chatter_costs_no_claim(
    fake_slack: FakeSlackAPI, bundled: AnswerService, tmp_path: Path
) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'awssec.db'}")
    app = _app(fake_slack, bundled, store, DeadWorker())
    claims = claims_module._PROCESS_CLAIMS[-1]
    try:
        for event in (
            _channel_message("thanks!", "C0CHAT", "3.1", "3.0"),
            _channel_message("lunch at noon", "C0CHAT", "3.2"),
            _channel_message(f"<@{BOT_USER_ID}> what is kms?", "C0CHAT", "3.3", "3.0"),
        ):
            assert app.dispatch(_signed(event_body(event))).status == 200
        assert claims.pending.count() == 0
    finally:
        claims.stop()
        store.dispose()


# ---------------------------------------------------------------- unhandled requests


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "shortcut", "callback_id": "not_ours", "trigger_id": "1.2"},
        {"type": "message_action", "callback_id": "not_ours", "trigger_id": "1.2"},
        {"type": "block_suggestion", "action_id": "unknown_menu", "block_id": "b", "value": "k"},
    ],
    ids=["shortcut", "message_action", "options"],
)
def test_an_unhandled_request_is_a_404_and_one_log_line(
    payload: dict[str, Any],
    fake_slack: FakeSlackAPI,
    bundled: AnswerService,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = _app(fake_slack, bundled, None, ThreadPoolExecutor(max_workers=1))
    payload = {**payload, "team": {"id": TEAM_ID}, "user": {"id": "U0A", "team_id": TEAM_ID}}
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        response = app.dispatch(_form(interactivity_body(payload)))
    assert response.status == 404
    logged = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(logged) == 1, [r.getMessage() for r in logged]
    line = logged[0].getMessage()
    assert "\n" not in line and "unhandled request" in line
    assert repr(payload["type"]) in line
    assert "@app." not in caplog.text  # not Bolt's sample code


# ---------------------------------------------------------------- teams


def _record(store: Store, team: str, question: str, surface: str = "mention") -> int:
    return store.record_answer(
        question=question,
        topic_ids=[],
        suggestion_ids=[],
        confidence=0.0,
        team_id=team,
        user_id="U0ASKER",
        channel_id="C1",
        surface=surface,
    )


def test_the_slack_report_shows_only_its_own_teams_misses(
    fake_slack: FakeSlackAPI, bundled: AnswerService, tmp_path: Path
) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'awssec.db'}")
    try:
        for _ in range(2):
            _record(store, "TAAA", "how do we rotate the alpha ledger keys")
        _record(store, "TBBB", "how do we rotate the bravo vault keys")
        deps = Deps(
            service=bundled,
            dedup=MemoryDeduplicator(),
            store=store,
            admins=parse_admins("TAAA:U0ONE, TBBB:U0TWO"),
            settings=Settings(stale_days=1),
        )
        message = report_reply(deps, "U0ONE", None, log, team_id="TAAA")
        text = json.dumps(message)
        assert "alpha ledger" in text and "bravo vault" not in text
        assert "2 answers, 2 missed" in text
        # The stale topics follow the summary (every bundled topic is older than a day).
        assert "Stale topics (reviewed more than 1 days ago)" in text
        # U0ONE is an admin in TAAA only; U0TWO in TBBB only.
        assert report_reply(deps, "U0ONE", None, log, team_id="TBBB") == {"text": NOT_ADMIN}
        other = json.dumps(report_reply(deps, "U0TWO", None, log, team_id="TBBB"))
        assert "bravo vault" in other and "alpha ledger" not in other
    finally:
        store.dispose()


def test_admins_scoped_to_a_team_are_admins_there_only() -> None:
    deps = Deps(
        service=AnswerService(reload_interval=None),
        dedup=MemoryDeduplicator(),
        admins=parse_admins("TAAA:U0ONE,U0ALL"),
    )
    assert deps.is_admin("U0ONE", "TAAA")
    assert not deps.is_admin("U0ONE", "TBBB") and not deps.is_admin("U0ONE", None)
    assert deps.is_admin("U0ALL", "TBBB") and deps.is_admin("U0ALL", None)


def test_slash_report_through_the_app_is_scoped_to_the_team(
    fake_slack: FakeSlackAPI, bundled: AnswerService, tmp_path: Path
) -> None:
    fake_slack.reset()
    store = Store.from_url(f"sqlite:///{tmp_path / 'awssec.db'}")
    executor = ThreadPoolExecutor(max_workers=2)
    app = _app(fake_slack, bundled, store, executor, admins=parse_admins(f"{TEAM_ID}:U0ASKER"))
    claims = claims_module._PROCESS_CLAIMS[-1]
    try:
        _record(store, TEAM_ID, "how do we rotate the alpha ledger keys")
        _record(store, "T0OTHER", "how do we rotate the bravo vault keys")
        url = fake_slack.response_url("report-team")
        assert app.dispatch(_form(command_body("report", url))).status == 200
        [posted] = fake_slack.wait_for("response_url", timeout=10)
        text = json.dumps(posted.params)
        assert "alpha ledger" in text and "bravo vault" not in text
    finally:
        claims.stop()
        executor.shutdown(wait=True)
        store.dispose()


# ---------------------------------------------------------------- settings through Deps


def test_listeners_read_the_follow_up_window_from_deps_not_the_environment(
    bundled: AnswerService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWSSEC_FOLLOWUP_MINUTES", "0")  # would turn follow-ups off
    monkeypatch.setenv("AWSSEC_AUTOANSWER_THRESHOLD", "0.1")
    deps = Deps(
        service=bundled,
        dedup=MemoryDeduplicator(),
        settings=Settings(followup_minutes=12.0, autoanswer_threshold=0.95),
    )
    found = conv.conversations_of(deps)
    assert (found.settings.followup_minutes, found.settings.autoanswer_threshold) == (12.0, 0.95)


def test_create_app_hands_its_settings_to_the_listeners(
    fake_slack: FakeSlackAPI, bundled: AnswerService
) -> None:
    seen: list[Deps] = []
    app = _app(fake_slack, bundled, None, ThreadPoolExecutor(max_workers=1), stale_days=42)

    @app.middleware
    def spy(context: Any, next: Callable[[], Any]) -> Any:
        seen.append(context[CONTEXT_KEY])
        return next()

    body = event_body(_channel_message("lunch at noon", "C0X", "9.1"))
    assert app.dispatch(_signed(body)).status == 200
    assert seen and seen[0].settings.stale_days == 42


@pytest.fixture(autouse=True)
def _stop_claims() -> Iterator[None]:
    before = len(claims_module._PROCESS_CLAIMS)
    yield
    for claims in claims_module._PROCESS_CLAIMS[before:]:
        claims.stop()
