"""End to end, learning from use: feedback buttons, recorded answers and misses, reports and
the credential guard, through the Procfile's web process against the fake Slack, with the
database and the server's log inspected afterwards.

The server runs at LOG_LEVEL=DEBUG, so the log assertions also cover what Bolt and
slack_sdk log about requests.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from slackfakes import (
    KNOWLEDGE,
    NEAR_MISS_QUESTION,
    TEAM_ID,
    FakeSlackAPI,
    WebServer,
    action_payload,
    command_body,
    dm_event,
    event_body,
    interactivity_body,
    mention_event,
    sqlite_dump,
    sqlite_rows,
    start_web_server,
    unique,
    view_submission_payload,
)

from bot.matcher.service import AnswerService
from bot.rendering.blocks.ids import is_feedback_block

FORM = "application/x-www-form-urlencoded"
ADMIN = "U0ADMIN"

KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
PEM_BODY = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun"
PEM = f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----"
SLACK_TOKEN = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
SECRETS = (KEY_ID, SECRET_KEY, PEM_BODY, "BEGIN RSA PRIVATE KEY", SLACK_TOKEN)


@pytest.fixture(scope="module")
def web_server(
    fake_slack: FakeSlackAPI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebServer]:
    server = start_web_server(
        fake_slack,
        tmp_path_factory.mktemp("web"),
        LOG_LEVEL="DEBUG",
        AWSSEC_ADMINS=f"{ADMIN}, U0OTHERADMIN",
    )
    try:
        yield server
    finally:
        server.process.stop()


def send_event(web_server: WebServer, event: dict[str, Any]):
    return web_server.send(json.dumps(event_body(event)))


def click(web_server: WebServer, payload: dict[str, Any]) -> None:
    assert web_server.send(interactivity_body(payload), content_type=FORM).status == 200


def wait_until(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def wait_response(fake: FakeSlackAPI, url: str, count: int = 1, timeout: float = 10.0):
    def found():
        calls = [c for c in fake.find("response_url") if url.endswith(c.path)]
        return calls if len(calls) >= count else None

    return wait_until(found, timeout) or []


def feedback_block(blocks: list[dict]) -> dict:
    [block] = [b for b in blocks if is_feedback_block(b)]
    return block


def answer_row(web_server: WebServer, answer_id: int) -> tuple:
    [row] = sqlite_rows(
        web_server.database_url,
        "SELECT question, topic_ids, suggestion_ids, is_miss, surface, team_id, user_id, "
        "channel_id FROM answers WHERE id = ?",
        answer_id,
    )
    return row


def votes(web_server: WebServer, answer_id: int) -> list[tuple]:
    return sqlite_rows(
        web_server.database_url,
        "SELECT user_id, helpful, team_id, channel_id FROM votes WHERE answer_id = ?",
        answer_id,
    )


# ---------------------------------------------------------------- feedback


def test_votes_on_a_shared_answer_thanked_privately_changed_and_commented(
    web_server, fake_slack
) -> None:
    channel = unique("C")
    send_event(web_server, mention_event("which service finds PII?", channel, "30.1"))
    [reply] = fake_slack.wait_for("chat.postMessage", channel=channel)
    blocks = reply.params["blocks"]
    buttons = feedback_block(blocks)["elements"]
    assert [b["text"]["text"] for b in buttons] == ["👍 Helpful", "👎 Not helpful"]
    answer_id = int(buttons[0]["value"])
    assert buttons[1]["value"] == str(answer_id)
    question, topics, _, is_miss, surface, team, user, where = answer_row(web_server, answer_id)
    assert (question, json.loads(topics), is_miss, surface) == (
        "which service finds PII?",
        ["macie"],
        0,
        "mention",
    )
    assert (team, user, where) == (TEAM_ID, "U0ASKER", channel)

    # "Helpful", clicked on the posted message (Slack sends its blocks along).
    message = {"blocks": blocks, "text": reply.params["text"], "thread_ts": "30.1"}
    ts = "1700000030.000001"

    def vote(button: dict, user: str) -> Any:
        url = fake_slack.response_url(unique("vote"))
        payload = action_payload(
            button["action_id"],
            button["value"],
            channel=channel,
            response_url=url,
            message_ts=ts,
            message=message,
            user=user,
        )
        click(web_server, payload)
        [thanks] = wait_response(fake_slack, url)
        return thanks

    thanks = vote(buttons[0], "U0VOTER")
    # Thanked privately; the shared message (and everyone else's buttons) is left alone.
    assert thanks.params["response_type"] == "ephemeral"
    assert thanks.params["replace_original"] is False
    assert thanks.params["text"] == (
        "Thanks — recorded as helpful. Click the other button to change your vote."
    )
    assert wait_until(lambda: votes(web_server, answer_id)) == [("U0VOTER", 1, TEAM_ID, channel)]
    assert fake_slack.find("views.open") == []

    # Another person votes on the same, unchanged message.
    assert "not helpful" in vote(buttons[1], "U0OTHER").params["text"]
    # The first voter clicks the other button: the vote changes (still one row each) and
    # the comment modal opens.
    vote(buttons[1], "U0VOTER")
    assert wait_until(
        lambda: (
            sorted(votes(web_server, answer_id))
            == [("U0OTHER", 0, TEAM_ID, channel), ("U0VOTER", 0, TEAM_ID, channel)]
        )
    )
    assert fake_slack.find("chat.update", channel=channel) == []
    opened = fake_slack.wait_for("views.open", count=2)
    assert opened[-1].params["trigger_id"] == "1.2.3"
    view = opened[-1].params["view"]
    assert view["callback_id"] == "awssec_feedback_comment"

    # Submitting the modal stores the comment, credentials redacted.
    values = {"awssec_comment": {"comment": {"type": "plain_text_input", "value": "Wanted "}}}
    values["awssec_comment"]["comment"]["value"] += f"Macie pricing, key {KEY_ID}"
    submission = view_submission_payload(
        view["callback_id"], view["private_metadata"], values, user="U0VOTER"
    )
    click(web_server, submission)
    comments = wait_until(
        lambda: sqlite_rows(
            web_server.database_url,
            "SELECT user_id, comment FROM comments WHERE answer_id = ?",
            answer_id,
        )
    )
    assert comments == [("U0VOTER", "Wanted Macie pricing, key [REDACTED AWS access key id]")]


def test_vote_on_an_ephemeral_answer_replaces_it_via_response_url(web_server, fake_slack) -> None:
    url = fake_slack.response_url(unique("cmd"))
    web_server.send(command_body("kms", url), content_type=FORM)
    [answer] = wait_response(fake_slack, url)
    buttons = feedback_block(answer.params["blocks"])["elements"]
    answer_id = int(buttons[0]["value"])
    assert answer_row(web_server, answer_id)[4] == "slash"

    click_url = fake_slack.response_url(unique("vote"))
    payload = action_payload(
        buttons[0]["action_id"],
        buttons[0]["value"],
        response_url=click_url,
        ephemeral=True,
        user="U0ASKER",
    )
    click(web_server, payload)
    [swap] = wait_response(fake_slack, click_url)
    assert swap.params["replace_original"] is True
    assert swap.params["blocks"][0]["text"]["text"] == "AWS Key Management Service (KMS)"
    dumped = json.dumps(swap.params["blocks"])
    assert "Marked helpful." in dumped and "awssec_share" in dumped
    assert wait_until(lambda: votes(web_server, answer_id))[0][:2] == ("U0ASKER", 1)


def test_vote_on_an_unknown_answer_gets_a_polite_note(web_server, fake_slack) -> None:
    url = fake_slack.response_url(unique("gone"))
    payload = action_payload(
        "awssec_feedback_helpful", "987654321", response_url=url, ephemeral=True
    )
    click(web_server, payload)
    [note] = wait_response(fake_slack, url)
    assert note.params["replace_original"] is False
    assert "too old to rate" in note.params["text"]
    assert web_server.health()["ok"] is True


# ---------------------------------------------------------------- misses and other surfaces


def test_a_miss_is_recorded_with_its_suggestions(web_server, fake_slack) -> None:
    channel = unique("D")
    miss = "how long until rotation of hardware"  # vague: no topic is confident, two are close
    send_event(web_server, dm_event(miss, channel))
    [reply] = fake_slack.wait_for("chat.postMessage", channel=channel)
    answer_id = int(feedback_block(reply.params["blocks"])["elements"][0]["value"])
    question, topics, suggestions, is_miss, surface, *_ = answer_row(web_server, answer_id)
    assert (question, json.loads(topics), is_miss, surface) == (miss, [], 1, "dm")
    # What the matcher suggests for it on the server's knowledge, and not nothing.
    expected = AnswerService(KNOWLEDGE, reload_interval=None).answer(miss)
    assert expected.suggestion_ids and json.loads(suggestions) == list(expected.suggestion_ids)


def test_topic_buttons_and_share_are_recorded_small_talk_is_not(web_server, fake_slack) -> None:
    channel = unique("C")
    payload = action_payload(
        "awssec_show_topic:2",
        "cloudhsm",
        channel=channel,
        response_url=fake_slack.response_url("unused"),
        message_ts="31.2",
    )
    click(web_server, payload)
    [call] = fake_slack.wait_for("chat.postMessage", channel=channel)
    answer_id = int(feedback_block(call.params["blocks"])["elements"][0]["value"])
    assert answer_row(web_server, answer_id)[1:5] == ('["cloudhsm"]', "[]", 0, "topic_button")

    before = sqlite_rows(web_server.database_url, "SELECT count(*) FROM answers")[0][0]
    other = unique("D")
    send_event(web_server, dm_event("hello there", other))
    [hello] = fake_slack.wait_for("chat.postMessage", channel=other)
    assert "awssec_feedback" not in json.dumps(hello.params)
    time.sleep(0.2)
    after = sqlite_rows(web_server.database_url, "SELECT count(*) FROM answers")[0][0]
    assert after == before


# ---------------------------------------------------------------- reports


def test_report_for_admins_only(web_server, fake_slack) -> None:
    channel = unique("C")
    send_event(web_server, mention_event(NEAR_MISS_QUESTION, channel))
    assert fake_slack.wait_for("chat.postMessage", channel=channel)  # recorded before replying
    for text in ("report", "report 30d"):
        url = fake_slack.response_url(unique("report"))
        web_server.send(command_body(text, url, user=ADMIN), content_type=FORM)
        [reply] = wait_response(fake_slack, url)
        assert reply.params["response_type"] == "ephemeral"
        assert "Top missed questions" in reply.params["text"]
        dumped = json.dumps(reply.params["blocks"])
        assert NEAR_MISS_QUESTION in dumped
        assert reply.params["blocks"][0]["text"]["type"] == "plain_text"

    url = fake_slack.response_url(unique("report"))
    web_server.send(command_body("report", url, user="U0NOTADMIN"), content_type=FORM)
    [refusal] = wait_response(fake_slack, url)
    assert refusal.params["response_type"] == "ephemeral"
    assert "only available to awssec admins" in refusal.params["text"]
    assert "missed" not in json.dumps(refusal.params)


# ---------------------------------------------------------------- credential guard


def test_credentials_are_never_echoed_stored_or_logged(web_server, fake_slack) -> None:
    channel = unique("C")
    questions = [
        f"my keys {KEY_ID} {SECRET_KEY} leaked, how do I encrypt data with managed keys?",
        f"is this ok?\n{PEM}",
        f"our bot uses {SLACK_TOKEN} is that safe with kms",
    ]
    for n, question in enumerate(questions, start=1):
        send_event(web_server, mention_event(question, channel, f"40.{n}"))
    warnings = fake_slack.wait_for("chat.postEphemeral", count=3, channel=channel)
    assert len(warnings) == 3
    assert all(w.params["user"] == "U0ASKER" for w in warnings)
    by_kind = {w.params["text"].split(". ")[0]: w for w in warnings}
    texts = " | ".join(by_kind)
    assert "an AWS access key id and an AWS secret access key" in texts
    assert "a private key" in texts and "a Slack token" in texts
    for warning in warnings:
        dumped = json.dumps(warning.params)
        assert "rotate or revoke it right away" in dumped.lower()
    aws = next(w for w in warnings if "AWS access key id" in w.params["text"])
    # No `iam` topic in the test knowledge: the fixed AWS page on rotating access keys.
    assert "id_credentials_access-keys.html" in json.dumps(aws.params["blocks"])
    # The rest of the question is still answered, privately.
    assert "AWS Key Management Service (KMS)" in json.dumps(aws.params["blocks"])
    pem = next(w for w in warnings if "private key" in w.params["text"])
    assert "docs.aws.amazon.com/kms" in json.dumps(pem.params["blocks"])  # the kms topic
    slack = next(w for w in warnings if "Slack token" in w.params["text"])
    assert "https://api.slack.com/authentication/rotation" in json.dumps(slack.params["blocks"])

    # In a DM and with /awssec the warning is private too.
    dm = unique("D")
    send_event(web_server, dm_event(f"is {SLACK_TOKEN} a bot token?", dm))
    [dm_reply] = fake_slack.wait_for("chat.postMessage", channel=dm)
    assert "a Slack token" in dm_reply.params["text"]
    url = fake_slack.response_url(unique("cmd"))
    web_server.send(command_body(f"rotate {KEY_ID} please", url), content_type=FORM)
    [slash] = wait_response(fake_slack, url)
    assert slash.params["response_type"] == "ephemeral"
    assert "an AWS access key id" in slash.params["text"]

    time.sleep(0.3)
    assert fake_slack.find("chat.postMessage", channel=channel) == []  # nothing public
    everything_sent = json.dumps([c.params for c in fake_slack.find()])
    database = sqlite_dump(web_server.database_url)
    log = web_server.output()
    for secret in SECRETS:
        assert secret not in everything_sent, secret
        assert secret not in database, secret
        assert secret not in log, secret
    # The questions were recorded, redacted.
    assert "my keys [REDACTED AWS access key id] [REDACTED AWS secret access key]" in database
    assert "[REDACTED private key]" in database and "[REDACTED Slack token]" in database
    assert "credential guard: AWS access key id, AWS secret access key" in log


def test_healthz_reports_knowledge_and_database(web_server) -> None:
    health = web_server.health()
    assert health["ok"] is True and health["topics"] == 4
    assert health["knowledge_version"] and health["last_error"] is None
    assert health["database"] == {"backend": "sqlite", "ok": True}
