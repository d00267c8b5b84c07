"""Issue 11 items 7, 8 and 10: slow clients, an honest and fast /healthz, malformed bodies.

The web process is the Procfile's (gunicorn); everything listens on 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlencode

import pytest
from slack_bolt import App
from slackfakes import (
    BOT_TOKEN,
    SIGNING_SECRET,
    FakeSlackAPI,
    event_body,
    mention_event,
    post,
    sign,
    unique,
)
from sqlalchemy import event

from bot.slack.server.wsgi import AwssecWSGI, DatabaseHealth
from bot.storage import Store

FORM = "application/x-www-form-urlencoded"
# More slow connections than the server has request threads (2 workers x 4 threads).
SLOW_CONNECTIONS = 64
SLACK_ACK_SECONDS = 3.0


def _slow_clients(port: int, count: int) -> Iterator[socket.socket]:
    """Connections that send part of a request and then nothing more."""
    partial_headers = b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Le"
    partial_body = (
        b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 5000\r\n\r\n{"type":'
    )
    for i in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if i % 3 == 1:
            sock.sendall(partial_headers)
        elif i % 3 == 2:
            sock.sendall(partial_body)
        # i % 3 == 0: connected, sends nothing
        yield sock


def test_slow_clients_do_not_delay_slack_acks(web_server, fake_slack: FakeSlackAPI) -> None:
    port = int(web_server.base_url.rsplit(":", 1)[1])
    with ExitStack() as stack:
        for sock in _slow_clients(port, SLOW_CONNECTIONS):
            stack.callback(sock.close)
        channel = unique("C")
        reply = web_server.send(json.dumps(event_body(mention_event("kms", channel))))
        assert reply.status == 200
        assert reply.elapsed < SLACK_ACK_SECONDS, reply.elapsed
    assert fake_slack.wait_for("chat.postMessage", channel=channel)


def test_expect_100_continue_still_works(web_server) -> None:
    port = int(web_server.base_url.rsplit(":", 1)[1])
    body = json.dumps({"token": "t", "challenge": "c-9", "type": "url_verification"}).encode()
    headers = sign(body)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (
        f"POST /slack/events HTTP/1.1\r\nHost: x\r\n{head}Content-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        assert sock.recv(64).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(body)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    # gunicorn may send its own (second) 100 Continue first: HTTP allows several.
    assert b"HTTP/1.1 200 OK\r\n" in reply
    assert b'"challenge": "c-9"' in reply


DEEP = "[" * 100_000 + "]" * 100_000


def _payload(value: object) -> str:
    return urlencode({"payload": value if isinstance(value, str) else json.dumps(value)})


MALFORMED_SIGNED = [
    (DEEP, "application/json"),
    ('{"a":' * 50_000 + "1" + "}" * 50_000, "application/json"),
    (_payload(DEEP), FORM),
    (_payload("not json"), FORM),
    (_payload([1, 2]), FORM),
    (_payload({}), FORM),  # no type
    (_payload({"type": 3}), FORM),
    (_payload({"type": "block_actions"}), FORM),
    (_payload({"type": "block_actions", "actions": "x"}), FORM),
    (_payload({"type": "block_actions", "actions": [1]}), FORM),
    (_payload({"type": "block_actions", "actions": [{}]}), FORM),
    (_payload({"type": "view_submission", "view": "x"}), FORM),
    (_payload({"type": "view_closed", "view": 1}), FORM),
    (_payload({"type": "message_action", "channel": 3}), FORM),
    (json.dumps(event_body({"type": 3})), "application/json"),
    (json.dumps(event_body({**mention_event("kms"), "channel": ["C1"]})), "application/json"),
    (json.dumps(event_body({**mention_event("kms"), "text": 5})), "application/json"),
    (
        json.dumps({"type": "event_callback", "authorizations": "x", "event": {}}),
        "application/json",
    ),
    (urlencode({"command": "/awssec", "text": "kms", "user_id": "U1"}), FORM),  # no response_url
]


def test_malformed_bodies_get_4xx_and_one_line(web_server) -> None:
    for body, content_type in MALFORMED_SIGNED:
        signed = web_server.send(body, content_type=content_type)
        assert signed.status == 400, (body[:80], signed)
        # Unsigned (a signature that does not match): refused before anything is parsed.
        forged = sign(body, secret="0" * 32, content_type=content_type)
        assert post(web_server.events_url, body, forged).status == 401, body[:80]
    output = web_server.output()
    assert "Traceback" not in output and "Error handling request" not in output
    assert output.count("rejected a malformed request body") >= len(MALFORMED_SIGNED)
    assert SIGNING_SECRET not in output


# ----------------------------------------------------------------------------- /healthz


def _health(wsgi: AwssecWSGI) -> dict:
    body = b"".join(wsgi(_HEALTH_ENVIRON, lambda status, headers: None))
    return json.loads(body)


_HEALTH_ENVIRON = {"PATH_INFO": "/healthz", "REQUEST_METHOD": "GET"}


def _bolt_app() -> App:
    """A Bolt app with no listeners: /healthz never reaches it."""
    return App(token=BOT_TOKEN, signing_secret="secret", token_verification_enabled=False)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = Store.from_url(f"sqlite:///{tmp_path / 'awssec.db'}")
    yield store
    store.dispose()


def test_healthz_reports_failing_writes(slack_service, sqlite_store: Store) -> None:
    wsgi = AwssecWSGI(_bolt_app(), slack_service, "secret", sqlite_store)
    assert _health(wsgi)["database"] == {"backend": "sqlite", "ok": True}
    # From now on the file is read-only: reads still work, every write fails.
    sqlite_store.dispose()
    event.listen(
        sqlite_store.engine,
        "connect",
        lambda conn, _record: conn.execute("PRAGMA query_only = ON"),
    )
    assert sqlite_store.ping() is None  # what /healthz used to look at
    failing = AwssecWSGI(
        _bolt_app(),
        slack_service,
        "secret",
        sqlite_store,
        DatabaseHealth(sqlite_store, interval=0),
    )
    health = _health(failing)
    assert health["database"] == {"backend": "sqlite", "ok": False}
    assert health["database_checked_seconds_ago"] is not None


def test_healthz_answers_fast_while_the_database_hangs(slack_service) -> None:
    release = threading.Event()

    class HangingStore:
        backend = "postgresql"

        def ping(self) -> None:
            release.wait(30)  # a server that accepted the connection and went silent

        def claim_event(self, key: str, ttl_seconds: int) -> bool:
            return True

    store = HangingStore()
    health = DatabaseHealth(store, interval=0, deadline=0.2, wait=0.1)  # type: ignore[arg-type]
    wsgi = AwssecWSGI(_bolt_app(), slack_service, "secret", store, health)
    try:
        deadline = time.monotonic() + 5
        while True:
            started = time.perf_counter()
            payload = _health(wsgi)
            assert time.perf_counter() - started < 1.0
            if payload["database"]["ok"] is False or time.monotonic() > deadline:
                break
        assert payload["database"] == {"backend": "postgresql", "ok": False}
    finally:
        release.set()
