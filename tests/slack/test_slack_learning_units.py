"""Learning from use, in-process: recording, feedback, comments, reports, the credential
guard, database de-duplication and log redaction. Listeners are called directly with Bolt's
arguments mocked, against a real SQLite store."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest
from slack_bolt import BoltContext
from slackfakes import BOT_USER_ID, NEAR_MISS_QUESTION, sqlite_dump

from bot.config import Settings, SettingsError
from bot.matcher import match_question
from bot.matcher.service import AnswerService
from bot.rendering.blocks.answers import render_blocks
from bot.rendering.blocks.feedback import (
    comment_answer_id,
    comment_modal,
    feedback_thanks_blocks,
    replace_feedback,
)
from bot.rendering.blocks.ids import (
    ACTION_FEEDBACK_HELPFUL,
    ACTION_FEEDBACK_NOT_HELPFUL,
    FEEDBACK_BLOCK_ID,
    VIEW_FEEDBACK_COMMENT,
    is_feedback_block,
)
from bot.slack.answering.deps import CONTEXT_KEY, Deps
from bot.slack.answering.replies import first_delivery
from bot.slack.listeners.actions.feedback import ANSWER_GONE, handle_feedback, vote_recorded
from bot.slack.listeners.commands.awssec import NOT_ADMIN, handle_awssec
from bot.slack.listeners.events.direct_message import handle_direct_message
from bot.slack.listeners.events.mention import handle_app_mention
from bot.slack.listeners.views.feedback_comment import handle_feedback_comment
from bot.slack.reliability.database import open_store
from bot.slack.reliability.dedup import MemoryDeduplicator, StoreDeduplicator
from bot.slack.server.logs import install_log_filters
from bot.storage import Store
from tests.store_reads import answer_rows, comment_rows, row_counts, vote_pairs

log = logging.getLogger("test.learning")
KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ADMIN = "U0ADMIN"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.from_url(f"sqlite:///{tmp_path / 'awssec.db'}", retention_days=90)
    try:
        yield s
    finally:
        s.dispose()


def make_context(service: AnswerService, store: Store | None) -> BoltContext:
    deps = Deps(
        service=service,
        dedup=MemoryDeduplicator(),
        store=store,
        admins=frozenset({ADMIN}),
    )
    return BoltContext({CONTEXT_KEY: deps, "bot_user_id": BOT_USER_ID})


@pytest.fixture
def context(slack_service: AnswerService, store: Store) -> BoltContext:
    return make_context(slack_service, store)


def mention(text: str, ts: str = "1.1", channel: str = "C1") -> dict[str, Any]:
    return {
        "type": "app_mention",
        "text": f"<@{BOT_USER_ID}> {text}",
        "channel": channel,
        "ts": ts,
        "user": "U1",
    }


def feedback_buttons(blocks: list[dict]) -> list[dict]:
    [block] = [b for b in blocks if is_feedback_block(b)]
    return block["elements"]


def ask(context: BoltContext, text: str, ts: str = "1.1") -> dict[str, Any]:
    say = MagicMock()
    handle_app_mention(mention(text, ts), {"team_id": "T1"}, say, MagicMock(), context, log)
    say.assert_called_once()
    return say.call_args.kwargs


# ---------------------------------------------------------------- rendering


def test_feedback_blocks_thanks_and_replacement(slack_kb) -> None:
    blocks = render_blocks(match_question("kms", slack_kb), kb=slack_kb, answer_id=42)
    helpful, not_helpful = feedback_buttons(blocks)
    assert (helpful["action_id"], helpful["value"]) == (ACTION_FEEDBACK_HELPFUL, "42")
    assert (not_helpful["action_id"], not_helpful["value"]) == (ACTION_FEEDBACK_NOT_HELPFUL, "42")
    assert "awssec_feedback" not in json.dumps(render_blocks(match_question("kms", slack_kb)))

    thanks = feedback_thanks_blocks(42, "U0VOTER", helpful=True)
    replaced = replace_feedback(blocks, thanks)
    assert replaced[: len(blocks) - 1] == blocks[:-1]
    assert replaced[-2]["elements"][0]["text"] == "Thanks, <@U0VOTER>! Marked helpful."
    assert replaced[-1]["elements"][0]["action_id"] == ACTION_FEEDBACK_NOT_HELPFUL
    # Replacing again swaps the thanks, never stacks them.
    again = replace_feedback(replaced, feedback_thanks_blocks(42, "U0VOTER", helpful=False))
    assert len(again) == len(replaced)
    assert "Marked not helpful" in json.dumps(again) and "Marked helpful." not in json.dumps(again)
    # A user id that is not one is not turned into a mention.
    assert "<@" not in json.dumps(feedback_thanks_blocks(1, "<!channel>", helpful=True))

    view = comment_modal(42)
    assert view["callback_id"] == VIEW_FEEDBACK_COMMENT and comment_answer_id(view) == 42
    assert comment_answer_id({"private_metadata": "junk"}) is None


# ---------------------------------------------------------------- recording


def test_answers_are_recorded_with_feedback_buttons(context: BoltContext, store: Store) -> None:
    reply = ask(context, "which service finds PII?")
    [helpful, _] = feedback_buttons(reply["blocks"])
    row = store.get_answer(int(helpful["value"]))
    assert row is not None
    assert (row.question, row.topic_ids, row.surface, row.is_miss) == (
        "which service finds PII?",
        ["macie"],
        "mention",
        False,
    )
    miss = ask(context, NEAR_MISS_QUESTION, ts="1.2")
    row = store.get_answer(int(feedback_buttons(miss["blocks"])[0]["value"]))
    assert row is not None and row.is_miss and row.suggestion_ids == ["kms"]


def test_small_talk_is_not_recorded(context: BoltContext, store: Store) -> None:
    reply = ask(context, "hello")
    assert FEEDBACK_BLOCK_ID not in json.dumps(reply["blocks"])
    assert row_counts(store)["answers"] == 0


def test_storage_failure_still_answers(
    slack_service: AnswerService, caplog: pytest.LogCaptureFixture
) -> None:
    broken = MagicMock()
    broken.record_answer.side_effect = RuntimeError("database is down\nSQL: INSERT ...")
    context = make_context(slack_service, broken)
    with caplog.at_level(logging.ERROR):
        reply = ask(context, "which service finds PII?")
    assert reply["blocks"][0]["text"]["text"] == "Amazon Macie"
    assert FEEDBACK_BLOCK_ID not in json.dumps(reply["blocks"])
    assert "could not record an answer (mention): RuntimeError: database is down" in caplog.text
    assert "INSERT" not in caplog.text


# ---------------------------------------------------------------- feedback


def vote_body(answer_id: int, action_id: str, *, ephemeral: bool = False, user: str = "U0TWO"):
    body: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user, "team_id": "T1"},
        "team": {"id": "T1"},
        "trigger_id": "trig-1",
        "container": {
            "type": "message",
            "channel_id": "C1",
            "message_ts": "9.9",
            "is_ephemeral": ephemeral,
        },
        "channel": {"id": "C1"},
    }
    action = {"action_id": action_id, "value": str(answer_id)}
    return body, action


def test_votes_on_a_shared_message_keep_its_buttons_and_thank_privately(
    context: BoltContext, store: Store
) -> None:
    reply = ask(context, "which service finds PII?")
    answer_id = int(feedback_buttons(reply["blocks"])[0]["value"])
    posted = {"ts": "9.9", "text": reply["text"], "blocks": reply["blocks"]}

    def vote(user: str, action_id: str) -> tuple[MagicMock, MagicMock]:
        body, action = vote_body(answer_id, action_id, user=user)
        body["message"] = posted  # the shared message, as every voter sees it
        client, respond = MagicMock(), MagicMock()
        handle_feedback(body, action, respond, client, context, log)
        # The message everyone sees keeps both buttons: it is never rewritten.
        client.chat_update.assert_not_called()
        return client, respond

    client, respond = vote("U0TWO", ACTION_FEEDBACK_HELPFUL)
    respond.assert_called_once_with(
        response_type="ephemeral", replace_original=False, text=vote_recorded(True)
    )
    assert "recorded as helpful. Click the other button" in vote_recorded(True)
    client.views_open.assert_not_called()

    # Someone else can still vote on the same message (nothing took their buttons away).
    client, respond = vote("U0THREE", ACTION_FEEDBACK_NOT_HELPFUL)
    assert respond.call_args.kwargs["text"] == vote_recorded(False)
    opened = client.views_open.call_args.kwargs
    assert opened["trigger_id"] == "trig-1" and comment_answer_id(opened["view"]) == answer_id

    # Clicking the other button changes that user's vote: still one vote per user.
    vote("U0TWO", ACTION_FEEDBACK_NOT_HELPFUL)
    assert row_counts(store)["votes"] == 2
    since = store.get_answer(answer_id).created_at
    assert sorted(vote_pairs(store, since)) == [(answer_id, False), (answer_id, False)]


def test_a_message_thanked_the_old_way_gets_both_buttons_back(
    context: BoltContext, store: Store
) -> None:
    reply = ask(context, "kms")
    answer_id = int(feedback_buttons(reply["blocks"])[0]["value"])
    old_style = replace_feedback(reply["blocks"], feedback_thanks_blocks(answer_id, "U0A", True))
    body, action = vote_body(answer_id, ACTION_FEEDBACK_NOT_HELPFUL)
    body["message"] = {"ts": "9.9", "text": reply["text"], "blocks": old_style}
    client, respond = MagicMock(), MagicMock()
    handle_feedback(body, action, respond, client, context, log)
    update = client.chat_update.call_args.kwargs
    assert (update["channel"], update["ts"]) == ("C1", "9.9")

    # Both buttons, no "Thanks, @someone"; block ids fresh, as Slack wants for an update.
    def without_block_ids(blocks: list[dict]) -> list[dict]:
        return [{k: v for k, v in b.items() if k != "block_id"} for b in blocks]

    assert without_block_ids(update["blocks"]) == without_block_ids(reply["blocks"])
    old_ids = {b.get("block_id") for b in old_style + reply["blocks"]} - {None}
    assert old_ids.isdisjoint(b.get("block_id") for b in update["blocks"])
    assert respond.call_args.kwargs["text"] == vote_recorded(False)


def test_vote_on_ephemeral_answer_is_rerendered(context: BoltContext, store: Store) -> None:
    respond = MagicMock()
    handle_awssec(
        {"text": "kms vs cloudhsm", "user_id": "U1", "channel_id": "C1", "team_id": "T1"},
        respond,
        context,
        log,
    )
    blocks = respond.call_args.kwargs["blocks"]
    answer_id = int(feedback_buttons(blocks)[0]["value"])
    body, action = vote_body(answer_id, ACTION_FEEDBACK_NOT_HELPFUL, ephemeral=True)
    client, respond = MagicMock(), MagicMock()
    handle_feedback(body, action, respond, client, context, log)
    swap = respond.call_args.kwargs
    assert swap["replace_original"] is True

    def headers(blocks: list[dict]) -> list[str]:
        return [b["text"]["text"] for b in blocks if b["type"] == "header"]

    assert headers(swap["blocks"]) == headers(blocks)
    assert set(headers(blocks)) == {"AWS Key Management Service (KMS)", "AWS CloudHSM"}
    assert "Marked not helpful" in json.dumps(swap["blocks"])
    client.chat_update.assert_not_called()
    client.views_open.assert_called_once()


@pytest.mark.parametrize("value", ["123456", "not-a-number", "-1"])
def test_vote_on_unknown_answer_is_a_polite_note(context: BoltContext, value: str) -> None:
    body, action = vote_body(1, ACTION_FEEDBACK_HELPFUL)
    action["value"] = value
    client, respond = MagicMock(), MagicMock()
    handle_feedback(body, action, respond, client, context, log)
    note = respond.call_args.kwargs
    assert note["text"] == ANSWER_GONE and note["replace_original"] is False
    client.chat_update.assert_not_called()
    client.views_open.assert_not_called()


def test_comment_submission(context: BoltContext, store: Store) -> None:
    reply = ask(context, "kms")
    answer_id = int(feedback_buttons(reply["blocks"])[0]["value"])
    view = comment_modal(answer_id)
    value = f"wanted rotation, my key is {KEY_ID}"
    view["state"] = {"values": {"awssec_comment": {"comment": {"value": value}}}}
    handle_feedback_comment({"user": {"id": "U2"}}, view, context, log)
    view["state"] = {"values": {"awssec_comment": {"comment": {"value": "   "}}}}
    handle_feedback_comment({"user": {"id": "U2"}}, view, context, log)  # empty: nothing
    [(_, comment, _)] = comment_rows(store, store.get_answer(answer_id).created_at)
    assert comment == "wanted rotation, my key is [REDACTED AWS access key id]"
    gone = comment_modal(999999)
    gone["state"] = {"values": {"awssec_comment": {"comment": {"value": "x"}}}}
    handle_feedback_comment({"user": {"id": "U2"}}, gone, context, log)  # no crash


# ---------------------------------------------------------------- reports


@pytest.mark.parametrize(
    ("user", "text", "expect"),
    [
        (ADMIN, "report", "Top missed questions"),
        (ADMIN, "report 30d", "Top missed questions"),
        (ADMIN, "REPORT 2w", "Top missed questions"),
        (ADMIN, "report 0d", "/awssec report 30d"),
        ("U0SOMEONE", "report", NOT_ADMIN),
    ],
)
def test_report_command(context: BoltContext, user: str, text: str, expect: str) -> None:
    ask(context, NEAR_MISS_QUESTION)
    respond = MagicMock()
    handle_awssec({"text": text, "user_id": user}, respond, context, log)
    reply = respond.call_args.kwargs
    assert reply["response_type"] == "ephemeral"
    assert expect in reply["text"]


def test_report_word_in_a_question_is_a_question(context: BoltContext) -> None:
    respond = MagicMock()
    handle_awssec({"text": "report sensitive data in S3", "user_id": ADMIN}, respond, context, log)
    assert respond.call_args.kwargs["blocks"][0]["text"]["text"] == "Amazon Macie"


def test_report_without_store(slack_service: AnswerService) -> None:
    respond = MagicMock()
    context = make_context(slack_service, None)
    handle_awssec({"text": "report", "user_id": ADMIN}, respond, context, log)
    assert "database" in respond.call_args.kwargs["text"]


# ---------------------------------------------------------------- credential guard


def test_secret_in_a_channel_is_answered_only_privately(
    context: BoltContext, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    say, client = MagicMock(), MagicMock()
    event = mention(f"how do I rotate {KEY_ID} {SECRET_KEY}", ts="5.1")
    event["thread_ts"] = "5.0"
    with caplog.at_level(logging.DEBUG):
        handle_app_mention(event, {"team_id": "T1"}, say, client, context, log)
    say.assert_not_called()
    warning = client.chat_postEphemeral.call_args.kwargs
    assert (warning["channel"], warning["user"], warning["thread_ts"]) == ("C1", "U1", "5.0")
    sent = json.dumps(warning)
    assert KEY_ID not in sent and SECRET_KEY not in sent
    assert "an AWS access key id and an AWS secret access key" in warning["text"]
    assert "id_credentials_access-keys.html" in sent  # no `iam` topic in the test knowledge
    # The question is stored redacted, and only redacted.
    [row] = answer_rows(store, store.get_answer(1).created_at)
    assert row.question == (
        "how do I rotate [REDACTED AWS access key id] [REDACTED AWS secret access key]"
    )
    assert KEY_ID not in sqlite_dump(str(store.engine.url))
    assert KEY_ID not in caplog.text and "credential guard" in caplog.text


def test_secret_in_a_dm_and_slash_command(context: BoltContext) -> None:
    say = MagicMock()
    event = {
        "type": "message",
        "channel_type": "im",
        "text": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n",
        "channel": "D1",
        "ts": "6.1",
        "user": "U1",
    }
    handle_direct_message(event, {"event_id": "Ev6"}, say, context, log)
    reply = say.call_args.kwargs
    assert "a private key" in reply["text"] and "MIIEvQ" not in json.dumps(reply)
    assert "docs.aws.amazon.com/kms" in json.dumps(reply["blocks"])  # the kms topic's docs
    respond = MagicMock()
    token = "xoxp-1234567890-1234567890-abcdefABCDEF"
    handle_awssec({"text": f"is {token} safe", "user_id": "U1"}, respond, context, log)
    reply = respond.call_args.kwargs
    assert reply["response_type"] == "ephemeral" and token not in json.dumps(reply)
    assert "https://api.slack.com/authentication/rotation" in json.dumps(reply["blocks"])


def test_log_filters_redact_pasted_credentials(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    handler = logging.FileHandler(path)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        install_log_filters(("xoxb-1111-2222-SECRETbottoken",))
        logging.getLogger("some.library").warning(
            "body=%s token=%s", f"key {KEY_ID}", "xoxb-1111-2222-SECRETbottoken"
        )
    finally:
        root.removeHandler(handler)
        handler.close()
    text = path.read_text()
    assert KEY_ID not in text and "SECRETbottoken" not in text
    assert "[REDACTED AWS access key id]" in text


# ---------------------------------------------------------------- dedup, settings, store


def test_store_deduplicator_claims_once_and_survives_an_outage(store: Store) -> None:
    dedup = StoreDeduplicator(store)
    assert dedup.claim("message:C1:1.1") is True
    assert dedup.claim("message:C1:1.1") is False
    assert StoreDeduplicator(store).claim("message:C1:1.1") is False  # another "worker"
    broken = MagicMock()
    broken.claim_event.side_effect = RuntimeError("down")
    fallback = StoreDeduplicator(broken)
    assert fallback.claim("k") is True and fallback.claim("k") is False


def test_first_delivery_uses_one_key_per_message() -> None:
    dedup = MemoryDeduplicator()
    event = {"channel": "D1", "ts": "1.1"}
    assert first_delivery(dedup, {"event_id": "Ev1"}, event)
    assert not first_delivery(dedup, {"event_id": "Ev1"}, event)  # retry
    assert not first_delivery(dedup, {"event_id": "Ev2"}, event)  # message.im twin
    assert first_delivery(dedup, {"event_id": "Ev3"}, {})
    assert not first_delivery(dedup, {"event_id": "Ev3"}, {})


def test_admins_setting() -> None:
    base = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "abc"}
    assert Settings.from_env(base).admins == frozenset()
    settings = Settings.from_env({**base, "AWSSEC_ADMINS": " U0A1, W0B2 U0C3,"})
    assert settings.admins == {"U0A1", "W0B2", "U0C3"}
    with pytest.raises(SettingsError, match=r"^AWSSEC_ADMINS is malformed"):
        Settings.from_env({**base, "AWSSEC_ADMINS": "U0A1, @alice"})


def test_bad_database_url_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://awssec:hunter2@127.0.0.1:1/awssec")
    with pytest.raises(SettingsError) as caught:
        open_store()
    message = str(caught.value)
    assert message.startswith("DATABASE_URL: ") and "\n" not in message
    assert "hunter2" not in message and "awssec:***@127.0.0.1:1" in message
    monkeypatch.setenv("DATABASE_URL", "mysql://u:hunter2@h/db")
    with pytest.raises(SettingsError, match=r"^DATABASE_URL: unsupported") as caught:
        open_store()
    assert "hunter2" not in str(caught.value)
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv("AWSSEC_RETENTION_DAYS", "0")
    with pytest.raises(SettingsError, match=r"^AWSSEC_RETENTION_DAYS"):
        open_store()


def test_healthz_shows_a_database_problem_without_its_details(
    slack_service: AnswerService, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.slack.server.wsgi import AwssecWSGI

    store = MagicMock()
    store.backend = "postgresql"
    problem = 'OperationalError: connection to server at "db.internal" (10.0.0.5) refused'
    store.ping.return_value = problem
    wsgi = AwssecWSGI(MagicMock(), slack_service, "secret", store)
    statuses: list[str] = []
    environ = {"PATH_INFO": "/healthz", "REQUEST_METHOD": "GET"}

    def health() -> tuple[bytes, dict]:
        body = b"".join(wsgi(environ, lambda status, headers: statuses.append(status)))
        return body, json.loads(body)

    with caplog.at_level(logging.ERROR, logger="bot.slack.server.wsgi"):
        body, payload = health()
        health()  # the same problem again soon after: not logged again
    assert statuses == ["200 OK", "200 OK"] and payload["ok"] is True
    # What the issue asks /healthz to show, still there.
    assert payload["knowledge_version"] == slack_service.knowledge.version
    assert "last_error" in payload and payload["last_error"] is None
    assert payload["database"] == {"backend": "postgresql", "ok": False}
    assert b"db.internal" not in body and b"10.0.0.5" not in body
    logged = [r.getMessage() for r in caplog.records if "db.internal" in r.getMessage()]
    assert len(logged) == 1 and problem in logged[0]


def test_a_worker_booting_on_broken_knowledge_starts_from_the_snapshot(tmp_path: Path) -> None:
    import shutil

    from slackfakes import KNOWLEDGE

    from bot.slack.server.live_knowledge import open_service, remove_snapshot, snapshot_knowledge

    live = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, live)
    snapshot = snapshot_knowledge(str(live))
    try:
        topics = live / "topics.yaml"
        good = topics.read_text()
        topics.write_text(good.replace("name: Amazon Macie", "name: [Amazon Macie", 1))
        with pytest.raises(Exception, match=r"topics\.yaml"):
            open_service(str(live), 0.0, snapshot=None)
        service = open_service(str(live), 0.0, snapshot=str(snapshot))
        assert service.answer("which service finds PII?").topic_ids == ["macie"]
        assert "topics.yaml:" in (service.last_error or "")
        topics.write_text(good.replace("name: Amazon Macie", "name: Amazon Macie (fixed)", 1))
        assert service.answer("which service finds PII?").topics[0].name == "Amazon Macie (fixed)"
        assert service.last_error is None
    finally:
        remove_snapshot(snapshot)
    assert not snapshot.exists()
