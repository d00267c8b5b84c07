"""End to end: the Procfile's web process (gunicorn) against a fake Slack Web API.

Requests are signed exactly as Slack signs them; assertions are on what Slack received.
"""

from __future__ import annotations

import json
import time

from slackfakes import (
    APP_TOKEN,
    BOT_ID,
    BOT_TOKEN,
    BOT_USER_ID,
    SIGNING_SECRET,
    FakeSlackAPI,
    action_payload,
    command_body,
    dm_event,
    event_body,
    get,
    interactivity_body,
    mention_event,
    post,
    sign,
    unique,
)

FORM = "application/x-www-form-urlencoded"


def send_event(web_server, event: dict, event_id: str | None = None, **kwargs):
    body = json.dumps(event_body(event, event_id))
    return web_server.send(body, **kwargs)


def first_header(call) -> str:
    return call.params["blocks"][0]["text"]["text"]


def settle(seconds: float = 0.5) -> None:
    """Give lazy listeners time to (wrongly) post something before asserting nothing came."""
    time.sleep(seconds)


def test_healthz_and_routing(web_server) -> None:
    health = get(f"{web_server.base_url}/healthz")
    assert health.status == 200
    assert json.loads(health.body)["topics"] == 4
    assert get(f"{web_server.base_url}/nope").status == 404
    assert get(web_server.events_url).status == 405


def test_url_verification(web_server) -> None:
    body = json.dumps({"token": "t", "challenge": "c-123", "type": "url_verification"})
    reply = web_server.send(body)
    assert reply.status == 200 and json.loads(reply.body) == {"challenge": "c-123"}


def test_mention_is_answered_in_a_thread(web_server, fake_slack: FakeSlackAPI) -> None:
    channel = unique("C")
    reply = send_event(web_server, mention_event("which service finds PII?", channel, "10.1"))
    assert reply.status == 200
    [call] = fake_slack.wait_for("chat.postMessage", channel=channel)
    assert call.params["thread_ts"] == "10.1"
    assert first_header(call) == "Amazon Macie"
    assert call.params["text"].startswith("Amazon Macie")
    assert call.token == BOT_TOKEN


def test_mention_in_thread_and_everything_is_escaped(web_server, fake_slack) -> None:
    channel = unique("C")
    event = mention_event(
        "<!channel> <!here> <@U0BOSS> zzqx blorp?", channel, "11.2", thread_ts="11.1"
    )
    send_event(web_server, event)
    [call] = fake_slack.wait_for("chat.postMessage", channel=channel)
    assert call.params["thread_ts"] == "11.1"
    dumped = json.dumps(call.params)
    for ping in ("<!channel>", "<!here>", "<@U0BOSS>"):
        assert ping not in dumped
    # Echoed as inert plain text, in a text object Slack must not auto-parse.
    [echo] = [b["text"] for b in call.params["blocks"] if "@channel" in json.dumps(b)]
    assert echo["text"].endswith(">@channel @here @U0BOSS zzqx blorp?")
    assert echo["verbatim"] is True


def test_dm_is_answered_in_the_dm(web_server, fake_slack) -> None:
    channel = unique("D")
    send_event(web_server, dm_event("kms vs cloudhsm", channel))
    [call] = fake_slack.wait_for("chat.postMessage", channel=channel)
    assert "thread_ts" not in call.params or call.params["thread_ts"] is None
    headers = [b["text"]["text"] for b in call.params["blocks"] if b["type"] == "header"]
    assert set(headers) == {"AWS Key Management Service (KMS)", "AWS CloudHSM"}


def test_retry_and_double_delivery_give_one_reply(web_server, fake_slack) -> None:
    channel = unique("D")
    event = mention_event("guardduty", channel, "12.1")
    event_id = unique("Ev")
    assert send_event(web_server, event, event_id).status == 200
    retry = send_event(
        web_server,
        event,
        event_id,
        headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )
    assert retry.status == 200
    # The same DM message also arrives as a `message` event with its own event id.
    twin = dm_event(event["text"], channel, "12.1")
    assert send_event(web_server, twin).status == 200
    fake_slack.wait_for("chat.postMessage", channel=channel)
    settle()
    assert len(fake_slack.find("chat.postMessage", channel=channel)) == 1


def test_ignored_events_are_acked_but_not_answered(web_server, fake_slack) -> None:
    channel = unique("C")
    events = [
        dm_event("kms", channel, subtype="message_changed"),
        dm_event("kms", channel, subtype="message_deleted"),
        dm_event("", channel, subtype="channel_join"),
        dm_event("kms", channel, bot_id="B0OTHER"),
        dm_event("kms", channel, user=BOT_USER_ID, bot_id=BOT_ID),  # our own message
        {**dm_event("kms", channel), "channel_type": "channel"},  # chatter without a mention
        mention_event("kms", channel, bot_id="B0OTHER"),
        mention_event("kms", channel, edited={"user": "U1", "ts": "1"}),
    ]
    for event in events:
        assert send_event(web_server, event).status == 200
    settle()
    assert fake_slack.find("chat.postMessage", channel=channel) == []


def test_bad_signature_and_stale_timestamp_are_rejected(web_server, fake_slack) -> None:
    channel = unique("C")
    body = json.dumps(event_body(mention_event("kms", channel)))
    assert web_server.send(body, secret="0" * 32).status == 401
    assert web_server.send(body, timestamp=int(time.time()) - 6 * 60).status == 401
    assert post(web_server.events_url, body, {"Content-Type": "application/json"}).status == 401
    tampered = web_server.send(body)  # valid signature...
    assert tampered.status == 200
    fake_slack.wait_for("chat.postMessage", channel=channel)
    other = body.replace(channel, unique("C"))
    headers = {
        "X-Slack-Signature": "v0=" + "0" * 64,
        "X-Slack-Request-Timestamp": str(int(time.time())),
        "Content-Type": "application/json",
    }
    assert post(web_server.events_url, other, headers).status == 401
    settle()
    assert len(fake_slack.find("chat.postMessage", channel=channel)) == 1


def test_malformed_bodies_get_4xx(web_server) -> None:
    for body, content_type in [
        ("{not json", "application/json"),
        ("payload=%7Bnot+json", FORM),
        ("payload=%5B1%2C2%5D", FORM),
        ("[1, 2]", "application/json"),
        ("", "application/json"),
    ]:
        signed = web_server.send(body, content_type=content_type)
        assert 400 <= signed.status < 500, (body, signed)
        unsigned = post(web_server.events_url, body, {"Content-Type": content_type})
        assert unsigned.status == 401, (body, unsigned)
    assert get(f"{web_server.base_url}/healthz").status == 200


def test_slash_command_flow(web_server, fake_slack) -> None:
    channel = unique("C")
    url = fake_slack.response_url(unique("cmd"))
    reply = web_server.send(
        command_body("which service finds PII?", url, channel), content_type=FORM
    )
    assert reply.status == 200
    [answer] = wait_response(fake_slack, url)
    assert answer.params["response_type"] == "ephemeral"
    assert first_header(answer) == "Amazon Macie"
    buttons = [e for b in answer.params["blocks"] if b["type"] == "actions" for e in b["elements"]]
    share = next(b for b in buttons if b["action_id"] == "awssec_share")
    related = next(b for b in buttons if b.get("value") == "guardduty")

    # A related-topic button in the ephemeral answer replaces it in place.
    click_url = fake_slack.response_url(unique("click"))
    payload = action_payload(
        related["action_id"], "guardduty", channel=channel, response_url=click_url, ephemeral=True
    )
    assert web_server.send(interactivity_body(payload), content_type=FORM).status == 200
    [swap] = wait_response(fake_slack, click_url)
    assert swap.params["replace_original"] is True
    assert first_header(swap) == "Amazon GuardDuty"

    # Share posts publicly through the response URL, naming who asked, then deletes the
    # ephemeral.
    share_url = fake_slack.response_url(unique("share"))
    payload = action_payload(
        "awssec_share", share["value"], channel=channel, response_url=share_url, ephemeral=True
    )
    assert web_server.send(interactivity_body(payload), content_type=FORM).status == 200
    public, delete = wait_response(fake_slack, share_url, count=2)
    assert public.params["response_type"] == "in_channel"
    assert public.params["blocks"][0]["elements"][0]["text"].startswith("<@U0CLICKER> asked:")
    assert any(b.get("text", {}).get("text") == "Amazon Macie" for b in public.params["blocks"])
    assert delete.params["delete_original"] is True
    assert fake_slack.find("chat.postMessage", channel=channel) == []


def wait_response(fake: FakeSlackAPI, url: str, timeout: float = 10.0, count: int = 1):
    deadline = time.monotonic() + timeout
    calls = []
    while time.monotonic() < deadline:
        calls = [c for c in fake.find("response_url") if url.endswith(c.path)]
        if len(calls) >= count:
            return calls
        time.sleep(0.05)
    return calls


def test_slash_command_help_list_and_escaping(web_server, fake_slack) -> None:
    for text, expect in [("", "/awssec list"), ("help", "/awssec list"), ("list", "4 topics")]:
        url = fake_slack.response_url(unique("cmd"))
        web_server.send(command_body(text, url), content_type=FORM)
        [call] = wait_response(fake_slack, url)
        assert expect in call.params["text"]
    url = fake_slack.response_url(unique("cmd"))
    web_server.send(command_body("<!channel> zzqx <@U0BOSS>", url), content_type=FORM)
    [call] = wait_response(fake_slack, url)
    assert "<!channel>" not in json.dumps(call.params)
    assert "<@U0BOSS>" not in json.dumps(call.params)


def test_topic_button_in_a_thread_and_docs_button(web_server, fake_slack) -> None:
    channel = unique("C")
    payload = action_payload(
        "awssec_show_topic:2",
        "cloudhsm",
        channel=channel,
        response_url=fake_slack.response_url("unused"),
        message_ts="13.2",
        thread_ts="13.1",
    )
    assert web_server.send(interactivity_body(payload), content_type=FORM).status == 200
    [call] = fake_slack.wait_for("chat.postMessage", channel=channel)
    assert call.params["thread_ts"] == "13.1" and first_header(call) == "AWS CloudHSM"
    docs = action_payload(
        "awssec_open_docs:1",
        "",
        channel=channel,
        response_url=fake_slack.response_url("unused"),
        url="https://docs.aws.amazon.com/",
    )
    assert web_server.send(interactivity_body(docs), content_type=FORM).status == 200
    settle(0.3)
    assert len(fake_slack.find("chat.postMessage", channel=channel)) == 1


def test_app_home_is_published(web_server, fake_slack) -> None:
    user = unique("U")
    event = {
        "type": "app_home_opened",
        "user": user,
        "channel": "D0HOME",
        "tab": "home",
        "event_ts": "14.1",
    }
    assert send_event(web_server, event).status == 200
    [call] = fake_slack.wait_for("views.publish", user_id=user)
    assert call.params["view"]["type"] == "home"
    assert "Amazon Macie" in json.dumps(call.params["view"])


def test_web_api_failures_are_retried(web_server, fake_slack) -> None:
    channel = unique("C")
    fake_slack.fail("chat.postMessage", [500, 429], retry_after=1)
    started = time.monotonic()
    send_event(web_server, mention_event("kms", channel))
    calls = fake_slack.wait_for("chat.postMessage", count=3, channel=channel, timeout=15)
    assert len(calls) == 3  # 500, 429, then the reply that went through
    assert calls[2].at - calls[1].at >= 0.9  # waited for Retry-After
    assert time.monotonic() - started < 15


def test_outage_is_logged_and_the_app_keeps_serving(web_server, fake_slack) -> None:
    channel = unique("C")
    fake_slack.fail("chat.postMessage", [500] * 20)
    try:
        send_event(web_server, mention_event("kms", channel))
        assert get(f"{web_server.base_url}/healthz").status == 200
        deadline = time.monotonic() + 15
        while "Slack API call failed (reply to mention): HTTP 500" not in web_server.output():
            assert time.monotonic() < deadline, web_server.output()[-2000:]
            time.sleep(0.1)
        assert 2 <= len(fake_slack.find("chat.postMessage", channel=channel)) <= 5  # bounded
    finally:
        fake_slack.clear_failures()
    assert get(f"{web_server.base_url}/healthz").status == 200
    other = unique("C")
    send_event(web_server, mention_event("kms", other))
    assert len(fake_slack.wait_for("chat.postMessage", channel=other)) == 1


def test_acks_are_fast(web_server) -> None:
    slowest = 0.0
    for _ in range(20):
        reply = send_event(web_server, mention_event("which service finds PII?", unique("C")))
        assert reply.status == 200
        slowest = max(slowest, reply.elapsed)
    assert slowest < 1.0


def test_secrets_never_reach_the_log(web_server) -> None:
    output = web_server.output()
    assert "awssec HTTP app ready" in output
    for secret in (BOT_TOKEN, SIGNING_SECRET, APP_TOKEN, "SECRET"):
        assert secret not in output


def test_bad_signature_headers_get_401_without_a_traceback(web_server, fake_slack) -> None:
    mark = len(web_server.output())
    channel = unique("C")
    body = json.dumps(event_body(mention_event("kms", channel)))
    good = sign(body)
    for timestamp in ("abc", "", "12.5", "-1", "1e9", "0x10", "1700000000abc"):
        headers = {**good, "X-Slack-Request-Timestamp": timestamp}
        assert post(web_server.events_url, body, headers).status == 401, timestamp
    no_signature = {k: v for k, v in good.items() if k != "X-Slack-Signature"}
    assert post(web_server.events_url, body, no_signature).status == 401
    no_timestamp = {k: v for k, v in good.items() if k != "X-Slack-Request-Timestamp"}
    assert post(web_server.events_url, body, no_timestamp).status == 401
    assert_still_serving(web_server, fake_slack, mark)
    settle(0.2)
    assert fake_slack.find("chat.postMessage", channel=channel) == []


def test_signed_malformed_bodies_get_400_and_unsigned_401(web_server, fake_slack) -> None:
    mark = len(web_server.output())

    def callback(event: object) -> str:
        return json.dumps({**event_body({}), "event": event})

    bodies: list[tuple[str | bytes, str]] = [
        (callback(None), "application/json"),
        (callback("x"), "application/json"),
        (callback([1, 2]), "application/json"),
        (callback(7), "application/json"),
        ('"just a string"', "application/json"),
        ("[1, 2]", "application/json"),
        ("{not json", "application/json"),
        (b'{"type": "event_callback", "event": "\xff\xfe"}', "application/json"),
        ("payload=%7Bnot+json", FORM),
        ("payload=%5B1%2C2%5D", FORM),
    ]
    for body, content_type in bodies:
        signed = web_server.send(body, content_type=content_type)
        assert signed.status == 400, (body, signed)
        unsigned = post(web_server.events_url, body, {"Content-Type": content_type})
        assert unsigned.status == 401, (body, unsigned)
    assert_still_serving(web_server, fake_slack, mark)


def assert_still_serving(web_server, fake_slack, mark: int) -> None:
    """The server answers as usual, and logged no traceback since `mark`."""
    assert get(f"{web_server.base_url}/healthz").status == 200
    channel = unique("C")
    assert send_event(web_server, mention_event("kms", channel)).status == 200
    assert len(fake_slack.wait_for("chat.postMessage", channel=channel)) == 1
    output = web_server.output()[mark:]
    assert "Traceback" not in output, output[-3000:]
