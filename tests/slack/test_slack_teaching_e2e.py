"""End to end, teaching from Slack: the Procfile's web process (two gunicorn workers, one
SQLite database) against the fake Slack Web API on 127.0.0.1, every request signed.

A question is missed; a non-admin's teach is refused; an admin opens `/awssec report` and
teaches the group (double click and a Slack retry at once): each asker gets one DM, and the
question and a close rewording are then answered with that topic by both workers (told apart
by gunicorn's access log, which names the worker's pid). The hand-off to the security team,
from the miss's button to the answer in the original thread, with a topic and in writing (a
draft). A database that hangs mid-click: a clear message, nothing saved.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from slackfakes import (
    FakeSlackAPI,
    WebServer,
    action_payload,
    command_body,
    event_body,
    interactivity_body,
    mention_event,
    sqlite_rows,
    start_web_server,
    unique,
    view_submission_payload,
)

from bot.rendering.blocks.ids import (
    ACTION_ASK_EXPERTS,
    ACTION_EXPERT_WRITE,
    EXPERT_ANSWER_ACTION_ID,
    EXPERT_ANSWER_BLOCK_ID,
    TEACH_BLOCK_ID,
)
from bot.slack.listeners.actions import experts, teach

FORM = "application/x-www-form-urlencoded"
ADMIN = "U0ADMIN"
EXPERTS = "C0EXPERTS"
GROUP = "S0SECTEAM"
KMS = "AWS Key Management Service (KMS)"
QUESTION = "how do we lock down the customer ledger backups"
REWORDED = "how do we lock down our customer ledger backups?"
CLOSE = "how do we lock down backups of the customer ledger"
# Bounds of the "both workers answered" loop: each question is one signed request.
MAX_SENDS = 80
ACCESS = re.compile(r"awssec-access <(\d+)>")


@pytest.fixture(scope="module")
def web_server(
    fake_slack: FakeSlackAPI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebServer]:
    server = start_web_server(
        fake_slack,
        tmp_path_factory.mktemp("web"),
        AWSSEC_ADMINS=ADMIN,
        AWSSEC_EXPERTS_CHANNEL=EXPERTS,
        AWSSEC_EXPERTS_GROUP=GROUP,
        WEB_CONCURRENCY="2",
        # gunicorn's own access log, naming the worker that served each request.
        GUNICORN_CMD_ARGS="--access-logfile - --access-logformat 'awssec-access %(p)s'",
    )
    try:
        yield server
    finally:
        server.process.stop()


def wait_until(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def responses(fake: FakeSlackAPI, url: str, count: int = 1, timeout: float = 15.0) -> list:
    def found() -> list | None:
        calls = [c for c in fake.find("response_url") if url.endswith(c.path)]
        return calls if len(calls) >= count else None

    return wait_until(found, timeout) or []


def pids(server: WebServer) -> list[str]:
    return ACCESS.findall(server.output())


def send_event(server: WebServer, event: dict[str, Any]) -> str:
    """Send an event; the pid of the worker that took it (from the access log)."""
    before = len(pids(server))
    assert server.send(json.dumps(event_body(event))).status == 200
    served = wait_until(lambda: pids(server)[before:] or None)
    assert served, "no access log line"
    return served[0]


def click(server: WebServer, payload: dict[str, Any], retry: bool = False) -> Any:
    headers = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"} if retry else {}
    reply = server.send(interactivity_body(payload), content_type=FORM, headers=headers)
    assert reply.status == 200
    return reply


def at_once(*calls: Callable[[], Any]) -> None:
    threads = [threading.Thread(target=call) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)


def select(payload: dict[str, Any], element: dict[str, Any], block_id: str, value: str) -> dict:
    payload["actions"] = [
        {
            "type": element["type"],
            "action_id": element["action_id"],
            "block_id": block_id,
            "selected_option": {"text": {"type": "plain_text", "text": value}, "value": value},
            "action_ts": str(time.time()),
        }
    ]
    return payload


def ask(server: WebServer, fake: FakeSlackAPI, text: str, channel: str, user: str) -> Any:
    ts = f"1700000100.{unique()[-6:]}"
    event = mention_event(text, channel, ts, user=user)
    pid = send_event(server, event)
    [reply] = fake.wait_for("chat.postMessage", channel=channel, thread_ts=ts)
    return reply, pid, ts


def is_miss(reply: Any) -> bool:
    return reply.params["blocks"][0]["text"]["text"].startswith("I don")


def header(reply: Any) -> str:
    return reply.params["blocks"][0]["text"]["text"]


def learned(server: WebServer) -> list[tuple]:
    return sqlite_rows(
        server.database_url,
        "SELECT question, topic_id, source, taught_by FROM learned_questions ORDER BY id",
    )


def teach_menu(fake: FakeSlackAPI, server: WebServer, question: str) -> tuple[dict, dict]:
    url = fake.response_url(unique("report"))
    assert server.send(command_body("report", url, user=ADMIN), content_type=FORM).status == 200
    [message] = responses(fake, url)
    blocks = message.params["blocks"]
    [group] = [
        b
        for b in blocks
        if str(b.get("block_id", "")).startswith(TEACH_BLOCK_ID + ":")
        and question in b["text"]["text"]
    ]
    return group, group["accessory"]


def teach_payload(group: dict, element: dict, user: str, url: str) -> dict:
    payload = action_payload(
        "x", "", channel="C0ADMINS", response_url=url, ephemeral=True, user=user
    )
    return select(payload, element, group["block_id"], "kms")


def test_an_admin_teaches_a_miss_and_both_workers_answer_it(
    web_server: WebServer, fake_slack: FakeSlackAPI
) -> None:
    channel = unique("C")
    first, _, _ = ask(web_server, fake_slack, QUESTION, channel, "U0ASKER")
    second, _, _ = ask(web_server, fake_slack, REWORDED, channel, "U0SECOND")
    assert is_miss(first) and is_miss(second)
    group, menu = teach_menu(fake_slack, web_server, QUESTION)
    assert menu["type"] == "static_select"
    assert "kms" in json.dumps(menu["option_groups"])

    # A non-admin's choice is refused and teaches nothing.
    url = fake_slack.response_url(unique("nobody"))
    click(web_server, teach_payload(group, menu, "U0NOBODY", url))
    [note] = responses(fake_slack, url)
    assert note.params["text"] == teach.NOT_ADMIN and learned(web_server) == []

    # The admin chooses KMS: a double click and a Slack retry of one of them, at once.
    urls = [fake_slack.response_url(unique("teach")) for _ in range(2)]
    payloads = [teach_payload(group, menu, ADMIN, url) for url in urls]
    at_once(
        lambda: click(web_server, payloads[0]),
        lambda: click(web_server, payloads[1]),
        lambda: click(web_server, payloads[1], retry=True),
    )
    notes = [c.params["text"] for url in urls for c in responses(fake_slack, url)]
    notes += [c.params["text"] for c in responses(fake_slack, urls[1], count=2)[1:]]
    assert sorted(notes)[-1] == f"Taught 2 wordings as {KMS}. Told 2 people who asked."
    assert sorted(notes)[:2] == [f"Already taught as {KMS}: nothing new to learn."] * 2
    assert sorted(learned(web_server)) == sorted(
        [(QUESTION, "kms", "report", ADMIN), (REWORDED, "kms", "report", ADMIN)]
    )
    for asker, question in (("U0ASKER", QUESTION), ("U0SECOND", REWORDED)):
        [dm] = fake_slack.wait_for("chat.postMessage", channel=asker)
        intro = dm.params["blocks"][0]["text"]["text"]
        assert intro.startswith(f"You asked “{question}” on ") and "here is the answer" in intro
        assert dm.params["blocks"][1]["text"]["text"] == KMS
    time.sleep(1)  # nothing late: still one DM each
    assert len(fake_slack.find("chat.postMessage", channel="U0ASKER")) == 1
    assert len(fake_slack.find("chat.postMessage", channel="U0SECOND")) == 1

    # The question and a close rewording, answered with KMS by both workers.
    answered: dict[tuple[str, str], str] = {}
    for n in range(MAX_SENDS):
        question = (QUESTION, CLOSE)[n % 2]
        reply, pid, _ = ask(web_server, fake_slack, question, channel, "U0THIRD")
        if header(reply) == KMS:
            answered[(pid, question)] = KMS
        else:
            # Only until that worker notices the change (LEARNED_CHECK_SECONDS).
            assert all(p != pid for p, _ in answered), "a worker forgot what it learned"
        workers = {p for p, _ in answered}
        if len(workers) == 2 and len(answered) == 4:
            break
    assert len({p for p, _ in answered}) == 2, f"one worker only: {answered}"
    assert len(answered) == 4


def ask_experts_button(reply: Any) -> dict:
    return next(
        e
        for b in reply.params["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"].startswith(ACTION_ASK_EXPERTS)
    )


def hand_over(
    web_server: WebServer, fake_slack: FakeSlackAPI, question: str
) -> tuple[str, str, Any]:
    """Miss `question` in a new channel, click "Ask the security team" (twice, and a
    retry); the channel, the question's ts and the one post in the experts channel."""
    channel = unique("C")
    reply, _, ts = ask(web_server, fake_slack, question, channel, "U0ASKER")
    assert is_miss(reply)
    button = ask_experts_button(reply)
    message = {"blocks": reply.params["blocks"], "text": reply.params["text"]}
    before = len(fake_slack.find("chat.postMessage", channel=EXPERTS))
    urls = [fake_slack.response_url(unique("ask")) for _ in range(2)]
    payloads = [
        action_payload(
            button["action_id"],
            button["value"],
            channel=channel,
            response_url=url,
            message_ts="1700000200.000001",
            thread_ts=ts,
            message=message,
            user="U0ASKER",
        )
        for url in urls
    ]
    at_once(
        lambda: click(web_server, payloads[0]),
        lambda: click(web_server, payloads[1]),
        lambda: click(web_server, payloads[1], retry=True),
    )
    notes = [c.params["text"] for c in responses(fake_slack, urls[0])]
    notes += [c.params["text"] for c in responses(fake_slack, urls[1], count=2)]
    assert sorted(notes)[-1] == experts.SENT
    assert all(n.startswith("Already with the security team") for n in sorted(notes)[:2])
    posts = fake_slack.find("chat.postMessage", channel=EXPERTS)[before:]
    assert len(posts) == 1
    return channel, ts, posts[0]


def test_a_hand_off_answered_with_a_topic_reaches_the_original_thread(
    web_server: WebServer, fake_slack: FakeSlackAPI
) -> None:
    question = "who approves break glass access to prod"
    channel, ts, post = hand_over(web_server, fake_slack, question)
    text = post.params["blocks"][0]["text"]["text"]
    assert text.startswith(f"<!subteam^{GROUP}> :raising_hand: <@U0ASKER> asked in <#{channel}>:")
    assert question in text
    link = f"https://test.slack.com/archives/{channel}/p{ts.replace('.', '')}"
    assert f"<{link}|View the original message>" in text
    controls = post.params["blocks"][1]
    menu = controls["elements"][0]

    # From another channel: refused.
    url = fake_slack.response_url(unique("elsewhere"))
    payload = action_payload("x", "", channel=channel, response_url=url, user="U0EXPERT")
    click(web_server, select(payload, menu, controls["block_id"], "guardduty"))
    assert responses(fake_slack, url)[0].params["text"] == experts.NOT_EXPERTS

    url = fake_slack.response_url(unique("expert"))
    payload = action_payload("x", "", channel=EXPERTS, response_url=url, user="U0EXPERT")
    click(web_server, select(payload, menu, controls["block_id"], "guardduty"))
    [reply] = fake_slack.wait_for("chat.postMessage", channel=channel, thread_ts=ts, count=2)[1:]
    assert reply.params["text"].startswith("<@U0ASKER>, the security team answered")
    assert reply.params["blocks"][1]["text"]["text"] == "Amazon GuardDuty"
    assert "Answered by <@U0EXPERT>" in json.dumps(reply.params["blocks"][-1])
    [update] = fake_slack.wait_for("chat.update", channel=EXPERTS)
    assert "Answered by <@U0EXPERT> with Amazon GuardDuty" in json.dumps(update.params["blocks"])
    assert (question, "guardduty", "expert", "U0EXPERT") in learned(web_server)
    # Clicking again: already answered, no second reply.
    url = fake_slack.response_url(unique("again"))
    payload = action_payload("x", "", channel=EXPERTS, response_url=url, user="U0OTHER")
    click(web_server, select(payload, menu, controls["block_id"], "kms"))
    assert "Already answered by <@U0EXPERT>" in responses(fake_slack, url)[0].params["text"]
    assert len(fake_slack.find("chat.postMessage", channel=channel, thread_ts=ts)) == 2


def test_a_written_answer_reaches_the_thread_and_is_saved_as_a_draft(
    web_server: WebServer, fake_slack: FakeSlackAPI
) -> None:
    question = "which tool keeps the hsm-less signing material"
    channel, ts, post = hand_over(web_server, fake_slack, question)
    write = post.params["blocks"][1]["elements"][1]
    assert write["action_id"].startswith(ACTION_EXPERT_WRITE)
    before = len(fake_slack.find("views.open"))
    url = fake_slack.response_url(unique("write"))
    payload = action_payload(
        write["action_id"], write["value"], channel=EXPERTS, response_url=url, user="U0EXPERT"
    )
    click(web_server, payload)
    opened = fake_slack.wait_for("views.open", count=before + 1)[before:]
    view = opened[0].params["view"]
    assert question in json.dumps(view)

    def submit(text: str) -> Any:
        values = {EXPERT_ANSWER_BLOCK_ID: {EXPERT_ANSWER_ACTION_ID: {"value": text}}}
        submission = view_submission_payload(
            view["callback_id"], view["private_metadata"], values, user="U0EXPERT"
        )
        return click(web_server, submission)

    refused = json.loads(submit("   ").body)
    assert refused["response_action"] == "errors"
    answer = "Keep it in AWS CloudHSM-free KMS custom key stores; ask #sec-keys."
    submit(answer)
    [reply] = fake_slack.wait_for("chat.postMessage", channel=channel, thread_ts=ts, count=2)[1:]
    assert reply.params["text"].startswith("<@U0ASKER>, <@U0EXPERT> from the security team")
    assert "custom key stores" in reply.params["blocks"][1]["text"]["text"]
    drafts = wait_until(
        lambda: sqlite_rows(
            web_server.database_url, "SELECT question, answer_text, expert_id FROM drafts"
        )
    )
    assert (question, answer, "U0EXPERT") in drafts
    assert question not in [q for q, *_ in learned(web_server)]  # never served


def test_a_database_hang_mid_click_says_so_and_saves_nothing(
    web_server: WebServer, fake_slack: FakeSlackAPI
) -> None:
    # Last in this module: the worker that meets the hang keeps its breaker open a while.
    question = "who audits the payroll cold storage shards"
    channel = unique("C")
    reply, _, _ = ask(web_server, fake_slack, question, channel, "U0HUNG")
    assert is_miss(reply)
    group, menu = teach_menu(fake_slack, web_server, question)
    before = len(learned(web_server))
    url = fake_slack.response_url(unique("hung"))
    lock = sqlite3.connect(web_server.database_url.removeprefix("sqlite:///"), timeout=30)
    lock.isolation_level = None
    lock.execute("BEGIN EXCLUSIVE")  # every writer now waits: the database "hangs"
    try:
        click(web_server, teach_payload(group, menu, ADMIN, url))
        [note] = responses(fake_slack, url, timeout=20)
        assert note.params["text"] == teach.CANNOT_SAVE
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    # The stalled transaction may go on once the lock is gone: it must roll back.
    time.sleep(2)
    assert len(learned(web_server)) == before
    assert fake_slack.find("chat.postMessage", channel="U0HUNG") == []
    claims = sqlite_rows(
        web_server.database_url,
        "SELECT claim_key FROM teach_claims WHERE claim_key LIKE ?",
        "%U0HUNG",
    )
    assert claims == []
