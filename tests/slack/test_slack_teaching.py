"""Teaching from Slack, the listener functions called directly: a real SQLite Store, the
test knowledge, Bolt's respond/client mocked.

The report's "Answer with…" menus, the DMs to askers (once per person per group), the
corrections of "Not helpful" votes, the hand-off to the security team, static versus external
topic menus, the settings, and database failures mid-click (nothing saved).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest
from slack_bolt import BoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse
from slackfakes import BOT_USER_ID
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.config import Settings, SettingsError, teaching_settings
from bot.knowledge.model import KnowledgeBase
from bot.matcher.answer import Answer, AnswerKind
from bot.matcher.service import AnswerService
from bot.rendering.blocks.answers import render_message
from bot.rendering.blocks.ids import (
    ACTION_ASK_EXPERTS,
    ACTION_EXPERT_WRITE,
    CORRECT_BLOCK_ID,
    EXPERT_ANSWER_ACTION_ID,
    EXPERT_ANSWER_BLOCK_ID,
    TEACH_BLOCK_ID,
    VIEW_EXPERT_ANSWER,
)
from bot.rendering.blocks.teaching import (
    MAX_SELECT_OPTIONS,
    NOT_QUOTED,
    topic_option_groups,
    topic_select,
)
from bot.slack.answering.deps import CONTEXT_KEY, Deps
from bot.slack.answering.replies import Where, build_reply
from bot.slack.listeners.actions import experts, teach
from bot.slack.listeners.actions.experts import (
    handle_ask_experts,
    handle_expert_topic,
    handle_expert_write,
)
from bot.slack.listeners.actions.teach import handle_correct, handle_teach
from bot.slack.listeners.commands.awssec import handle_awssec
from bot.slack.listeners.events.app_home import handle_app_home_opened
from bot.slack.listeners.options.topics import handle_topic_options, topic_menus_pattern
from bot.slack.listeners.views.expert_answer import ack_expert_answer, handle_expert_answer
from bot.slack.reliability.dedup import MemoryDeduplicator
from bot.storage import Store
from bot.storage import teaching as teaching_store
from bot.storage.schema import handoffs, learned_questions, teach_claims

log = logging.getLogger("test")
ADMIN = "U0ADMIN"
TEAM = "T1"
EXPERTS = "C0EXPERTS"
QUESTION = "how do we lock down the customer ledger backups"
REWORDED = "how do we lock down our customer ledger backups?"
KEY_ID = "AKIAIOSFODNN7EXAMPLE"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.from_url(f"sqlite:///{tmp_path / 'awssec.db'}", retention_days=90)
    try:
        yield s
    finally:
        s.dispose()


@pytest.fixture
def service(store: Store) -> AnswerService:
    from slackfakes import KNOWLEDGE

    return AnswerService(
        KNOWLEDGE, reload_interval=None, learned=store, background=False, learned_check_seconds=0
    )


@pytest.fixture
def context(service: AnswerService, store: Store) -> BoltContext:
    deps = Deps(service=service, dedup=MemoryDeduplicator(), store=store, admins=frozenset({ADMIN}))
    return BoltContext({CONTEXT_KEY: deps, "bot_user_id": BOT_USER_ID, "team_id": TEAM})


def set_settings(context: BoltContext, **fields: Any) -> None:
    """Give the app's Deps these settings (as create_app does from Settings.from_env)."""
    deps = context[CONTEXT_KEY]
    context[CONTEXT_KEY] = dataclasses.replace(deps, settings=Settings(**fields))


@pytest.fixture
def experts_on(context: BoltContext) -> None:
    set_settings(context, experts_channel=EXPERTS, experts_group="S0SECTEAM")


def miss(store: Store, question: str, user: str, channel: str = "C1") -> int:
    return store.record_answer(
        question=question,
        topic_ids=[],
        suggestion_ids=[],
        confidence=0.0,
        team_id=TEAM,
        user_id=user,
        channel_id=channel,
        surface="mention",
    )


def api_error(error: str = "channel_not_found") -> SlackApiError:
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="x",
        req_args={},
        data={"ok": False, "error": error},
        headers={},
        status_code=200,
    )
    return SlackApiError("failed", response)


def report(context: BoltContext, user: str = ADMIN) -> dict[str, Any]:
    respond = MagicMock()
    command = {"text": "report", "user_id": user, "team_id": TEAM, "channel_id": "C1"}
    handle_awssec(command, respond, context, log)
    return respond.call_args.kwargs


def menus(blocks: list[dict], prefix: str) -> list[dict]:
    return [b for b in blocks if str(b.get("block_id", "")).startswith(prefix + ":")]


def select_body(
    block: dict, topic_id: str, user: str = ADMIN, channel: str = "C1", home: bool = False
) -> tuple[dict, dict]:
    accessory = block.get("accessory") or block["elements"][0]
    action = {
        "type": accessory["type"],
        "action_id": accessory["action_id"],
        "block_id": block["block_id"],
        "selected_option": {"text": {"type": "plain_text", "text": topic_id}, "value": topic_id},
    }
    container: dict[str, Any] = (
        {"type": "view", "view_id": "V1"}
        if home
        else {"type": "message", "channel_id": channel, "is_ephemeral": True}
    )
    body: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user, "team_id": TEAM},
        "team": {"id": TEAM},
        "container": container,
        "trigger_id": "1.2.3",
        "actions": [action],
    }
    if home:
        body["view"] = {"type": "home", "id": "V1"}
    else:
        body["channel"] = {"id": channel}
    return body, action


def learned_rows(store: Store) -> list[tuple]:
    stmt = select(
        learned_questions.c.question,
        learned_questions.c.topic_id,
        learned_questions.c.source,
        learned_questions.c.taught_by,
        learned_questions.c.team_id,
    ).order_by(learned_questions.c.id)
    with store._read() as conn:
        return [tuple(r) for r in conn.execute(stmt)]


def dms(client: MagicMock) -> list[dict]:
    return [c.kwargs for c in client.chat_postMessage.call_args_list]


# ---------------------------------------------------------------- teaching a missed group


def test_teaching_a_group_learns_its_wordings_and_tells_each_asker_once(
    context: BoltContext, store: Store, service: AnswerService
) -> None:
    miss(store, QUESTION, "U0ASKER")
    miss(store, QUESTION, "U0ASKER")  # asked twice: told once
    miss(store, REWORDED, "U0SECOND")
    assert not service.answer(QUESTION, team_id=TEAM).answered

    message = report(context)
    [group] = menus(message["blocks"], TEACH_BLOCK_ID)
    assert "3 ×" in group["text"]["text"] and group["accessory"]["type"] == "static_select"

    body, action = select_body(group, "kms")
    respond, client = MagicMock(), MagicMock()
    handle_teach(body, action, respond, client, context, log)
    rows = learned_rows(store)
    assert sorted(r[0] for r in rows) == sorted([QUESTION, REWORDED])
    assert {r[1:] for r in rows} == {("kms", "report", ADMIN, TEAM)}
    told = dms(client)
    assert sorted(d["channel"] for d in told) == ["U0ASKER", "U0SECOND"]
    first = next(d for d in told if d["channel"] == "U0ASKER")
    intro = first["blocks"][0]["text"]["text"]
    assert intro.startswith(f"You asked “{QUESTION}” on ") and "here is the answer" in intro
    assert first["blocks"][1]["text"]["text"] == "AWS Key Management Service (KMS)"
    assert respond.call_args.kwargs["text"] == (
        "Taught 2 wordings as AWS Key Management Service (KMS). Told 2 people who asked."
    )
    # Now answered, the rewording too.
    assert service.answer(QUESTION, team_id=TEAM).topic_ids == ["kms"]
    assert service.answer("how do we lock down backups of the customer ledger", team_id=TEAM)

    # A double click (or a retry): nothing new, nobody told again.
    respond, client = MagicMock(), MagicMock()
    handle_teach(body, action, respond, client, context, log)
    assert len(learned_rows(store)) == 2 and dms(client) == []
    assert (
        respond.call_args.kwargs["text"]
        == "Already taught as AWS Key Management Service (KMS): nothing new to learn."
    )

    # The report now says what it was taught as.
    [group] = menus(report(context)["blocks"], TEACH_BLOCK_ID)
    assert "Taught as *AWS Key Management Service (KMS)* by <@U0ADMIN>" in group["text"]["text"]


def test_a_non_admin_cannot_see_the_menus_or_teach(context: BoltContext, store: Store) -> None:
    miss(store, QUESTION, "U0ASKER")
    assert "only available to awssec admins" in report(context, user="U0NOBODY")["text"]
    [group] = menus(report(context)["blocks"], TEACH_BLOCK_ID)
    body, action = select_body(group, "kms", user="U0NOBODY")
    respond, client = MagicMock(), MagicMock()
    handle_teach(body, action, respond, client, context, log)
    assert respond.call_args.kwargs["text"] == teach.NOT_ADMIN
    assert learned_rows(store) == [] and dms(client) == []


def test_notify_askers_off_teaches_but_tells_nobody(context: BoltContext, store: Store) -> None:
    set_settings(context, notify_askers=False)
    miss(store, QUESTION, "U0ASKER")
    [group] = menus(report(context)["blocks"], TEACH_BLOCK_ID)
    body, action = select_body(group, "guardduty")
    respond, client = MagicMock(), MagicMock()
    handle_teach(body, action, respond, client, context, log)
    assert [r[1] for r in learned_rows(store)] == ["guardduty"] and dms(client) == []
    with store._read() as conn:
        assert conn.execute(select(teach_claims)).all() == []


def test_a_dm_that_fails_is_sent_on_the_next_click(context: BoltContext, store: Store) -> None:
    miss(store, QUESTION, "U0ASKER")
    miss(store, REWORDED, "U0SECOND")
    [group] = menus(report(context)["blocks"], TEACH_BLOCK_ID)
    body, action = select_body(group, "kms")
    client = MagicMock()
    client.chat_postMessage.side_effect = lambda **kw: (
        (_ for _ in ()).throw(api_error()) if kw["channel"] == "U0SECOND" else None
    )
    handle_teach(body, action, MagicMock(), client, context, log)
    client2 = MagicMock()
    handle_teach(body, action, MagicMock(), client2, context, log)
    assert [d["channel"] for d in dms(client2)] == ["U0SECOND"]


def test_a_secret_shaped_question_is_not_quoted_in_the_dm(
    context: BoltContext, store: Store
) -> None:
    miss(store, f"lock down the ledger backups with key {KEY_ID}", "U0ASKER")
    message = report(context)
    assert KEY_ID not in json.dumps(message)
    [group] = menus(message["blocks"], TEACH_BLOCK_ID)
    body, action = select_body(group, "kms")
    client = MagicMock()
    handle_teach(body, action, MagicMock(), client, context, log)
    [dm] = dms(client)
    assert NOT_QUOTED in dm["blocks"][0]["text"]["text"] and KEY_ID not in json.dumps(dm)
    assert all(KEY_ID not in r[0] for r in learned_rows(store))


def test_a_database_failure_mid_click_saves_nothing(
    context: BoltContext, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    miss(store, QUESTION, "U0ASKER")
    [group] = menus(report(context)["blocks"], TEACH_BLOCK_ID)
    body, action = select_body(group, "kms")

    def dropped(*args: Any, **kwargs: Any) -> Any:
        # After the wordings were written in the transaction, before the DM claims.
        raise OperationalError("SELECT", {}, ConnectionError("server closed the connection"))

    monkeypatch.setattr(teaching_store, "_askers", dropped)
    respond, client = MagicMock(), MagicMock()
    handle_teach(body, action, respond, client, context, log)
    assert respond.call_args.kwargs["text"] == teach.CANNOT_SAVE
    assert learned_rows(store) == [] and dms(client) == []
    monkeypatch.undo()
    store.breaker._open_until = None  # the outage is over (skip the cooldown)
    handle_teach(body, action, MagicMock(), client, context, log)
    assert len(learned_rows(store)) == 1 and [d["channel"] for d in dms(client)] == ["U0ASKER"]


def test_teaching_from_the_app_home_republishes_it(context: BoltContext, store: Store) -> None:
    miss(store, QUESTION, "U0ASKER")
    client = MagicMock()
    handle_app_home_opened({"user": ADMIN, "tab": "home"}, client, context, log)
    home = client.views_publish.call_args.kwargs["view"]
    [group] = menus(home["blocks"], TEACH_BLOCK_ID)
    assert "Amazon Macie" in json.dumps(home)  # the catalogue is still there
    body, action = select_body(group, "kms", home=True)
    client = MagicMock()
    handle_teach(body, action, MagicMock(), client, context, log)
    view = client.views_publish.call_args.kwargs["view"]
    assert "Taught as *AWS Key Management Service (KMS)*" in json.dumps(view)
    # Anyone else's Home shows no teaching.
    client = MagicMock()
    handle_app_home_opened({"user": "U0NOBODY", "tab": "home"}, client, context, log)
    assert TEACH_BLOCK_ID not in json.dumps(client.views_publish.call_args.kwargs["view"])
    # A non-admin's click from a Home tab is refused in a modal.
    client = MagicMock()
    handle_teach(
        *select_body(group, "kms", user="U0NOBODY", home=True), MagicMock(), client, context, log
    )
    assert client.views_open.call_args.kwargs["view"]["blocks"][0]["text"]["text"].startswith(
        "Sorry, only awssec admins"
    )


# ---------------------------------------------------------------- corrections


def test_a_not_helpful_vote_is_corrected_to_the_right_topic(
    context: BoltContext, store: Store, service: AnswerService
) -> None:
    question = "who rotates the quarterly ledger signing secrets"
    answer_id = store.record_answer(
        question=question,
        topic_ids=["guardduty"],
        suggestion_ids=[],
        confidence=0.5,
        team_id=TEAM,
        user_id="U0ASKER",
        channel_id="C1",
        surface="mention",
    )
    store.record_vote(
        answer_id=answer_id, team_id=TEAM, user_id="U0VOTER", channel_id="C1", helpful=False
    )
    [vote] = menus(report(context)["blocks"], CORRECT_BLOCK_ID)
    assert "answered *Amazon GuardDuty*" in vote["text"]["text"]
    body, action = select_body(vote, "kms")
    respond = MagicMock()
    handle_correct(body, action, respond, MagicMock(), context, log)
    assert learned_rows(store) == [(question, "kms", "correction", ADMIN, TEAM)]
    assert "now taught as AWS Key Management Service (KMS)" in respond.call_args.kwargs["text"]
    assert service.answer(question, team_id=TEAM).topic_ids == ["kms"]
    [vote] = menus(report(context)["blocks"], CORRECT_BLOCK_ID)
    assert "Corrected to *AWS Key Management Service (KMS)*" in vote["text"]["text"]
    # Non-admins cannot correct.
    respond = MagicMock()
    handle_correct(*select_body(vote, "macie", user="U0NOBODY"), respond, MagicMock(), context, log)
    assert respond.call_args.kwargs["text"] == teach.NOT_ADMIN
    assert len(learned_rows(store)) == 1


# ---------------------------------------------------------------- topic menus


def big_kb(kb: KnowledgeBase, count: int) -> KnowledgeBase:
    base = kb.topics[0]
    topics = tuple(
        dataclasses.replace(base, id=f"topic-{i}", name=f"Topic {i:03d}", aliases=())
        for i in range(count)
    )
    return KnowledgeBase(topics=topics, synonyms=kb.synonyms, version="big")


def test_topic_menus_are_static_up_to_100_topics_then_external(slack_kb: KnowledgeBase) -> None:
    static = topic_select(slack_kb, "awssec_teach:1", "Answer with…")
    assert static["type"] == "static_select"
    labels = [g["label"]["text"] for g in static["option_groups"]]
    assert labels == list(slack_kb.by_category())
    values = [o["value"] for g in static["option_groups"] for o in g["options"]]
    assert sorted(values) == sorted(t.id for t in slack_kb.topics)

    exactly = big_kb(slack_kb, MAX_SELECT_OPTIONS)
    assert topic_select(exactly, "a", "x")["type"] == "static_select"
    many = big_kb(slack_kb, MAX_SELECT_OPTIONS + 1)
    external = topic_select(many, "a", "x")
    assert external["type"] == "external_select" and "option_groups" not in external
    assert sum(len(g["options"]) for g in topic_option_groups(many)) == MAX_SELECT_OPTIONS
    found = topic_option_groups(many, "topic 01")
    assert [o["value"] for g in found for o in g["options"]] == [
        f"topic-{i}" for i in range(10, 20)
    ]


def test_the_options_listener_serves_matching_topics(
    context: BoltContext, slack_kb: KnowledgeBase
) -> None:
    assert topic_menus_pattern("awssec_teach").match("awssec_teach:3")
    assert not topic_menus_pattern("awssec_teach").match("awssec_teach_x")
    ack = MagicMock()
    handle_topic_options(ack, {"value": "kms"}, context)
    groups = ack.call_args.kwargs["option_groups"]
    assert [o["value"] for g in groups for o in g["options"]] == ["kms"]
    ack = MagicMock()
    handle_topic_options(ack, {"value": "zzzz"}, context)
    assert ack.call_args.kwargs == {"options": []}


# ---------------------------------------------------------------- the security team


def ask_button_body(
    answer_id: int, *, channel: str = "C1", thread_ts: str | None = "5.5", ephemeral: bool = False
) -> tuple[dict, dict]:
    action = {"type": "button", "action_id": f"{ACTION_ASK_EXPERTS}:1", "value": str(answer_id)}
    body: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": "U0ASKER", "team_id": TEAM},
        "team": {"id": TEAM},
        "channel": {"id": channel},
        "container": {"type": "message", "channel_id": channel, "is_ephemeral": ephemeral},
        "trigger_id": "1.2.3",
        "actions": [action],
    }
    if not ephemeral:
        body["message"] = {"ts": "6.6", "thread_ts": thread_ts, "text": "I don't know"}
    return body, action


def posted_client(ts: str = "9.9") -> MagicMock:
    client = MagicMock()
    client.chat_postMessage.return_value = {"ok": True, "ts": ts}
    client.chat_getPermalink.return_value = {"ok": True, "permalink": "https://x.slack.com/p55"}
    return client


def test_the_ask_button_shows_only_when_experts_are_set_up(
    slack_kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    dont_know = Answer(question="zzz", kind=AnswerKind.NO_MATCH)
    # Rendering never reads the environment: the caller says whether the hand-off is on.
    monkeypatch.setenv("AWSSEC_EXPERTS_CHANNEL", EXPERTS)
    assert ACTION_ASK_EXPERTS not in json.dumps(render_message(dont_know, answer_id=4))
    message = render_message(dont_know, answer_id=4, ask_experts=True)
    [button] = [
        e
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"].startswith(ACTION_ASK_EXPERTS)
    ]
    assert button["value"] == "4" and button["text"]["text"] == "Ask the security team"
    # Not on an answer, nor on a miss that was not recorded.
    assert ACTION_ASK_EXPERTS not in json.dumps(render_message(dont_know, ask_experts=True))
    kms = Answer(question="kms", kind=AnswerKind.TOPIC, topics=(slack_kb.get("kms"),))
    assert ACTION_ASK_EXPERTS not in json.dumps(render_message(kms, answer_id=4, ask_experts=True))


def test_the_hand_off_follows_the_apps_settings_not_the_environment(
    context: BoltContext, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A miss answered through build_reply carries the button exactly when the app's
    Settings name an experts channel; the environment at request time changes nothing."""
    monkeypatch.setenv("AWSSEC_EXPERTS_CHANNEL", EXPERTS)
    where = Where("mention", TEAM, "U0ASKER", "C1")
    off = build_reply(context[CONTEXT_KEY], QUESTION, where, log)
    assert off.answer is not None and not off.answer.answered
    assert ACTION_ASK_EXPERTS not in json.dumps(off.message)
    respond = MagicMock()
    handle_ask_experts(
        *ask_button_body(miss(store, QUESTION, "U0ASKER")), respond, posted_client(), context, log
    )
    assert respond.call_args.kwargs["text"] == experts.NOT_ENABLED
    monkeypatch.delenv("AWSSEC_EXPERTS_CHANNEL")
    set_settings(context, experts_channel=EXPERTS)
    on = build_reply(context[CONTEXT_KEY], QUESTION, where, log)
    assert ACTION_ASK_EXPERTS in json.dumps(on.message)


@pytest.mark.usefixtures("experts_on")
def test_a_question_is_handed_over_once_and_answered_with_a_topic(
    context: BoltContext, store: Store, service: AnswerService
) -> None:
    answer_id = miss(store, QUESTION, "U0ASKER")
    body, action = ask_button_body(answer_id)
    respond, client = MagicMock(), posted_client()
    handle_ask_experts(body, action, respond, client, context, log)
    [post] = dms(client)
    assert post["channel"] == EXPERTS
    text = post["blocks"][0]["text"]["text"]
    assert text.startswith("<!subteam^S0SECTEAM> :raising_hand: <@U0ASKER> asked in <#C1>:")
    assert QUESTION in text and "<https://x.slack.com/p55|View the original message>" in text
    client.chat_getPermalink.assert_called_once_with(channel="C1", message_ts="5.5")
    assert respond.call_args.kwargs["text"] == experts.SENT

    # Double click and retry: still one hand-off, one post.
    respond, client2 = MagicMock(), posted_client()
    handle_ask_experts(body, action, respond, client2, context, log)
    assert (
        dms(client2) == [] and "Already with the security team" in respond.call_args.kwargs["text"]
    )

    controls = post["blocks"][1]
    # Only from the experts channel.
    respond = MagicMock()
    elsewhere = select_body(controls, "kms", user="U0EXPERT", channel="C1")
    handle_expert_topic(*elsewhere, respond, posted_client(), context, log)
    assert respond.call_args.kwargs["text"] == experts.NOT_EXPERTS
    body, action = select_body(controls, "kms", user="U0EXPERT", channel=EXPERTS)
    body["container"]["is_ephemeral"] = False
    respond, client = MagicMock(), posted_client()
    handle_expert_topic(body, action, respond, client, context, log)
    [reply] = dms(client)
    assert (reply["channel"], reply["thread_ts"]) == ("C1", "5.5")
    assert reply["blocks"][0]["text"]["text"].startswith("<@U0ASKER>, the security team answered")
    assert reply["blocks"][1]["text"]["text"] == "AWS Key Management Service (KMS)"
    assert "Answered by <@U0EXPERT>" in json.dumps(reply["blocks"][-1])
    update = client.chat_update.call_args.kwargs
    assert (update["channel"], update["ts"]) == (EXPERTS, "9.9")
    assert "Answered by <@U0EXPERT> with AWS Key Management Service (KMS)" in json.dumps(
        update["blocks"]
    )
    assert learned_rows(store) == [(QUESTION, "kms", "expert", "U0EXPERT", TEAM)]
    assert service.answer(QUESTION, team_id=TEAM).topic_ids == ["kms"]
    # A second expert (or a double click): already answered, nothing posted.
    respond, client = MagicMock(), posted_client()
    handle_expert_topic(body, action, respond, client, context, log)
    assert (
        dms(client) == [] and "Already answered by <@U0EXPERT>" in respond.call_args.kwargs["text"]
    )


@pytest.mark.usefixtures("experts_on")
def test_a_written_answer_goes_to_the_thread_and_into_a_draft(
    context: BoltContext, store: Store
) -> None:
    answer_id = miss(store, QUESTION, "U0ASKER")
    client = posted_client()
    handle_ask_experts(*ask_button_body(answer_id), MagicMock(), client, context, log)
    [post] = dms(client)
    write = post["blocks"][1]["elements"][1]
    assert write["action_id"].startswith(ACTION_EXPERT_WRITE)
    body = {
        "user": {"id": "U0EXPERT"},
        "team": {"id": TEAM},
        "channel": {"id": EXPERTS},
        "container": {"type": "message", "channel_id": EXPERTS},
        "trigger_id": "7.7",
    }
    client = posted_client()
    handle_expert_write(body, write, MagicMock(), client, context, log)
    view = client.views_open.call_args.kwargs["view"]
    assert view["callback_id"] == VIEW_EXPERT_ANSWER and QUESTION in json.dumps(view)

    def submitted(text: str) -> dict:
        values = {EXPERT_ANSWER_BLOCK_ID: {EXPERT_ANSWER_ACTION_ID: {"value": text}}}
        return {**view, "state": {"values": values}}

    for bad, reason in (("  ", "Write an answer first."), (f"use {KEY_ID}", "looks like")):
        ack = MagicMock()
        ack_expert_answer(ack, submitted(bad))
        assert ack.call_args.kwargs["response_action"] == "errors"
        assert reason in ack.call_args.kwargs["errors"][EXPERT_ANSWER_BLOCK_ID]
    answer = "Use AWS Backup vault lock & KMS keys <!channel>"
    ack = MagicMock()
    ack_expert_answer(ack, submitted(answer))
    assert ack.call_args == ((), {})
    client = posted_client()
    handle_expert_answer({"user": {"id": "U0EXPERT"}}, submitted(answer), client, context, log)
    [reply] = dms(client)
    assert (reply["channel"], reply["thread_ts"]) == ("C1", "5.5")
    assert "<@U0ASKER>, <@U0EXPERT> from the security team answered" in reply["text"]
    assert "&lt;!channel&gt;" in reply["blocks"][1]["text"]["text"]  # inert
    [draft] = store.drafts(TEAM)
    assert (draft.question, draft.answer_text, draft.expert_id) == (QUESTION, answer, "U0EXPERT")
    assert learned_rows(store) == []  # a draft is never served
    # Submitting again: already answered, told privately, nothing posted.
    client = posted_client()
    handle_expert_answer({"user": {"id": "U0EXPERT"}}, submitted(answer), client, context, log)
    assert (
        dms(client) == []
        and "Already answered" in client.chat_postEphemeral.call_args.kwargs["text"]
    )


@pytest.mark.usefixtures("experts_on")
def test_a_hand_off_that_cannot_be_posted_can_be_tried_again(
    context: BoltContext, store: Store
) -> None:
    answer_id = miss(store, QUESTION, "U0ASKER")
    client = posted_client()
    client.chat_postMessage.side_effect = api_error("not_in_channel")
    respond = MagicMock()
    handle_ask_experts(*ask_button_body(answer_id), respond, client, context, log)
    assert respond.call_args.kwargs["text"] == experts.CANNOT_POST
    with store._read() as conn:
        assert conn.execute(select(handoffs)).all() == []
    client = posted_client()
    handle_ask_experts(*ask_button_body(answer_id), MagicMock(), client, context, log)
    assert [d["channel"] for d in dms(client)] == [EXPERTS]


@pytest.mark.usefixtures("experts_on")
def test_a_private_question_is_answered_by_dm(context: BoltContext, store: Store) -> None:
    answer_id = miss(store, QUESTION, "U0ASKER")
    client = posted_client()
    handle_ask_experts(
        *ask_button_body(answer_id, ephemeral=True), MagicMock(), client, context, log
    )
    [post] = dms(client)
    assert "Asked privately" in post["blocks"][0]["text"]["text"]
    client.chat_getPermalink.assert_not_called()
    body, action = select_body(post["blocks"][1], "macie", user="U0EXPERT", channel=EXPERTS)
    client = posted_client()
    handle_expert_topic(body, action, MagicMock(), client, context, log)
    [reply] = dms(client)
    assert reply["channel"] == "U0ASKER" and "thread_ts" not in reply


def test_hand_off_is_off_without_the_setting(context: BoltContext, store: Store) -> None:
    answer_id = miss(store, QUESTION, "U0ASKER")
    respond, client = MagicMock(), posted_client()
    handle_ask_experts(*ask_button_body(answer_id), respond, client, context, log)
    assert respond.call_args.kwargs["text"] == experts.NOT_ENABLED and dms(client) == []


@pytest.mark.usefixtures("experts_on")
def test_hand_off_during_a_database_outage_says_so_and_sends_nothing(
    context: BoltContext, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer_id = miss(store, QUESTION, "U0ASKER")
    store.engine.dispose()
    monkeypatch.setattr(
        store.engine.pool,
        "connect",
        MagicMock(
            side_effect=OperationalError("connect", {}, ConnectionError("connection refused"))
        ),
    )
    respond, client = MagicMock(), posted_client()
    handle_ask_experts(*ask_button_body(answer_id), respond, client, context, log)
    assert respond.call_args.kwargs["text"] == experts.CANNOT_SAVE and dms(client) == []


# ---------------------------------------------------------------- settings


def test_teaching_settings() -> None:
    assert teaching_settings({}) == teaching_settings({"AWSSEC_NOTIFY_ASKERS": "true"})
    assert not teaching_settings({}).experts_enabled
    on = teaching_settings(
        {
            "AWSSEC_EXPERTS_CHANNEL": " C0EXPERTS ",
            "AWSSEC_EXPERTS_GROUP": "S0SEC",
            "AWSSEC_NOTIFY_ASKERS": "Off",
        }
    )
    assert (on.experts_channel, on.experts_group, on.notify_askers) == ("C0EXPERTS", "S0SEC", False)
    for env, name in (
        ({"AWSSEC_EXPERTS_CHANNEL": "#security"}, "AWSSEC_EXPERTS_CHANNEL"),
        ({"AWSSEC_EXPERTS_CHANNEL": "C0X", "AWSSEC_EXPERTS_GROUP": "@sec"}, "AWSSEC_EXPERTS_GROUP"),
        ({"AWSSEC_EXPERTS_GROUP": "S0SEC"}, "AWSSEC_EXPERTS_GROUP"),
        ({"AWSSEC_NOTIFY_ASKERS": "maybe"}, "AWSSEC_NOTIFY_ASKERS"),
    ):
        with pytest.raises(SettingsError) as error:
            teaching_settings(env)
        assert str(error.value).startswith(name) and "\n" not in str(error.value)
    settings = Settings.from_env(
        {
            "SLACK_BOT_TOKEN": "xoxb-1",
            "SLACK_SIGNING_SECRET": "abc",
            "AWSSEC_EXPERTS_CHANNEL": "C0EXPERTS",
            "AWSSEC_NOTIFY_ASKERS": "0",
        }
    )
    assert (settings.experts_channel, settings.notify_askers) == ("C0EXPERTS", False)
