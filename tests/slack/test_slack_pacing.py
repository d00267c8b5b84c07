"""Per-channel pacing and the listener pools: one rate-limited channel delays only itself.

The end-to-end tests run the Procfile's gunicorn (one worker, so one pacer) against a fake
Slack that answers 429 with Retry-After for one channel. Timing is only ever asserted as
an ordering or a lower bound that the pacer must guarantee, never as a speed target.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from slackfakes import (
    Call,
    FakeSlackAPI,
    WebServer,
    action_payload,
    event_body,
    interactivity_body,
    mention_event,
    start_web_server,
    unique,
)

from bot.rendering.blocks.ids import ACTION_FEEDBACK_NOT_HELPFUL
from bot.slack.reliability.pacing import ChannelLanes, ChannelPacer

FORM = "application/x-www-form-urlencoded"
# Long enough that "before the Retry-After ran out" cannot happen by luck on a slow machine.
RETRY_AFTER_SECONDS = 4
# More posts waiting in the limited channel than the old shared pool had threads (4).
LIMITED_POSTS = 6
POSTS_PER_MINUTE = 240  # 0.25 s apart: spacing visible without a slow test
INTERVAL = 60 / POSTS_PER_MINUTE


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------- the pacer on its own


def test_a_quiet_channel_gets_its_burst_then_one_post_per_interval() -> None:
    clock = Clock()
    pacer = ChannelPacer(posts_per_second=1, burst=3, clock=clock)
    assert [pacer.reserve("C1") for _ in range(5)] == [0, 0, 0, 1, 2]
    assert pacer.reserve("C2") == 0  # another channel is not affected
    clock.now += 10  # quiet for a while: the burst is back
    assert [pacer.reserve("C1") for _ in range(3)] == [0, 0, 0]


def test_a_retry_after_holds_only_that_channel() -> None:
    clock = Clock()
    pacer = ChannelPacer(posts_per_second=1, burst=3, clock=clock)
    pacer.hold("CLIMITED", 30)
    assert pacer.delay("CLIMITED") == 30
    assert pacer.reserve("CLIMITED") == 30
    assert pacer.delay("COTHER") == 0
    clock.now += 31
    assert pacer.delay("CLIMITED") == 0


def test_no_spacing_when_turned_off_but_holds_still_apply() -> None:
    clock = Clock()
    pacer = ChannelPacer(posts_per_second=0, clock=clock)
    assert [pacer.reserve("C1") for _ in range(20)] == [0] * 20
    pacer.hold("C1", 5)
    assert pacer.reserve("C1") == 5


def test_a_waiting_channel_holds_no_thread_and_keeps_its_order() -> None:
    # One thread for everything: if a channel waiting for its slot held it, the other
    # channel's job could not run until the wait was over.
    pacer = ChannelPacer(posts_per_second=0)
    lanes = ChannelLanes(ThreadPoolExecutor(max_workers=1), pacer)
    ran: list[str] = []
    done = threading.Event()
    try:
        pacer.hold("CLIMITED", 60)
        lanes.submit("CLIMITED", lambda: ran.append("limited-1"))
        lanes.submit("CLIMITED", lambda: ran.append("limited-2"))
        other = lanes.submit("COTHER", lambda: (ran.append("other"), done.set()))
        other.result(timeout=5)
        assert ran == ["other"]
        assert lanes.pending() == 2  # still waiting for the hold, in order
    finally:
        lanes.shutdown(wait=False)


def test_one_job_per_channel_at_a_time() -> None:
    pacer = ChannelPacer(posts_per_second=0)
    lanes = ChannelLanes(ThreadPoolExecutor(max_workers=4), pacer)
    running, peak, lock = 0, 0, threading.Lock()

    def job() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with lock:
            running -= 1

    try:
        futures = [lanes.submit("C1", job) for _ in range(10)]
        for future in futures:
            future.result(timeout=10)
        assert peak == 1
    finally:
        lanes.shutdown()


# ---------------------------------------------------------------- the real server


class RateLimitingSlack(FakeSlackAPI):
    """The fake Web API, answering every chat.postMessage into one channel with 429 and
    Retry-After until `limited_until` (as Slack does for a channel posted to too fast)."""

    def __init__(self) -> None:
        super().__init__()
        self.limited_channel: str | None = None
        self.limited_until = 0.0
        self.limited: list[Call] = []

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        handler.rfile = io.BytesIO(raw)  # the fake's own handling reads it again
        if handler.path.endswith("/chat.postMessage") and raw.lstrip().startswith(b"{"):
            params = json.loads(raw)
            if params.get("channel") == self.limited_channel and (
                time.monotonic() < self.limited_until
            ):
                call = Call("chat.postMessage", handler.path, params, {})
                with self._cond:
                    self.limited.append(call)
                self._reply(
                    handler,
                    429,
                    {"ok": False, "error": "ratelimited"},
                    {"Retry-After": str(RETRY_AFTER_SECONDS)},
                )
                return
        super()._handle(handler)


@pytest.fixture(scope="module")
def slack() -> Iterator[RateLimitingSlack]:
    with RateLimitingSlack() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(
    slack: RateLimitingSlack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebServer]:
    # One worker: one pacer and one set of pools see every request.
    web = start_web_server(
        slack,
        tmp_path_factory.mktemp("pacing"),
        WEB_CONCURRENCY="1",
        AWSSEC_CHANNEL_POSTS_PER_MINUTE=str(POSTS_PER_MINUTE),
    )
    try:
        yield web
    finally:
        web.process.stop()


def _mention(server: WebServer, channel: str, ts: str) -> None:
    reply = server.send(json.dumps(event_body(mention_event("kms", channel, ts))))
    assert reply.status == 200, reply


def test_a_rate_limited_channel_delays_neither_other_replies_nor_clicks(
    server: WebServer, slack: RateLimitingSlack
) -> None:
    limited, other = unique("CLIM"), unique("COK")
    slack.limited_channel = limited
    slack.limited_until = time.monotonic() + 3600
    for i in range(LIMITED_POSTS):
        _mention(server, limited, f"60.{i}")
    # The first post into the limited channel has met its 429: the wait has begun.
    deadline = time.monotonic() + 10
    while not slack.limited:
        assert time.monotonic() < deadline, server.output()[-2000:]
        time.sleep(0.02)
    first_429 = slack.limited[0].at

    _mention(server, other, "61.1")
    payload = action_payload(
        ACTION_FEEDBACK_NOT_HELPFUL, "1", channel=other, response_url=slack.response_url("pc")
    )
    trigger = unique("trigger")
    payload["trigger_id"] = trigger
    clicked = server.send(interactivity_body(payload), content_type=FORM)
    assert clicked.status == 200

    [reply] = slack.wait_for("chat.postMessage", channel=other, timeout=RETRY_AFTER_SECONDS)
    [modal] = slack.wait_for("views.open", trigger_id=trigger, timeout=RETRY_AFTER_SECONDS)
    # Both while the limited channel is still waiting out its Retry-After.
    assert reply.at < first_429 + RETRY_AFTER_SECONDS
    assert modal.at < first_429 + RETRY_AFTER_SECONDS
    # The channel's other posts queued behind the pacer instead of each meeting a 429.
    assert len(slack.limited) == 1

    # Once the limit is lifted, the limited channel gets every reply, none lost.
    slack.limited_until = 0
    posts = slack.wait_for(
        "chat.postMessage", count=LIMITED_POSTS, channel=limited, timeout=RETRY_AFTER_SECONDS + 15
    )
    assert sorted(c.params["thread_ts"] for c in posts) == [f"60.{i}" for i in range(LIMITED_POSTS)]
    assert posts[0].at >= first_429 + RETRY_AFTER_SECONDS - 0.1  # waited for Retry-After


def test_posts_to_one_channel_are_spaced_by_the_pacer(
    server: WebServer, slack: RateLimitingSlack
) -> None:
    channel, quiet = unique("CBUSY"), unique("CQUIET")
    count = 8
    for i in range(count):
        _mention(server, channel, f"70.{i}")
    _mention(server, quiet, "71.1")
    posts = slack.wait_for("chat.postMessage", count=count, channel=channel, timeout=20)
    assert len(posts) == count
    times = sorted(c.at for c in posts)
    burst = 3  # pacing.BURST
    # n posts sent at once need at least (n - burst) intervals; any burst + 1 posts, one.
    assert times[-1] - times[0] >= (count - burst) * INTERVAL * 0.95
    for i in range(burst, count):
        assert times[i] - times[i - burst] >= INTERVAL * 0.95
    # Meanwhile a quiet channel was answered at once, not after the busy one's queue.
    [quick] = slack.wait_for("chat.postMessage", channel=quiet, timeout=10)
    assert quick.at < times[-1]


def test_bad_pacing_setting_is_one_line(tmp_path: Path) -> None:
    from bot.config import Settings, SettingsError

    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "abc"}
    assert Settings.from_env(env, dotenv=False).channel_posts_per_minute == 60
    assert (
        Settings.from_env(
            {**env, "AWSSEC_CHANNEL_POSTS_PER_MINUTE": "0"}, dotenv=False
        ).channel_posts_per_minute
        == 0
    )
    with pytest.raises(SettingsError, match="AWSSEC_CHANNEL_POSTS_PER_MINUTE is malformed"):
        Settings.from_env({**env, "AWSSEC_CHANNEL_POSTS_PER_MINUTE": "1.5"}, dotenv=False)
