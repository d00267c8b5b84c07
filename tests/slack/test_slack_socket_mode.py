"""End to end in Socket Mode: the Procfile's worker process, a local WebSocket server
standing in for Slack's, and the fake Web API handing out its ws:// URL."""

from __future__ import annotations

import json
import os
import queue
import shlex
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from slackfakes import (
    APP_TOKEN,
    BOT_TOKEN,
    KNOWLEDGE,
    FakeSlackAPI,
    ServerProcess,
    event_body,
    free_port,
    mention_event,
    procfile_command,
    server_env,
    sqlite_rows,
    sqlite_url,
    unique,
)
from websockets.sync.server import ServerConnection, serve

from bot.rendering.blocks.ids import is_feedback_block


class FakeSocketModeServer:
    """Pushes queued envelopes to each connection and records what the app sends back."""

    def __init__(self) -> None:
        self.outbox: queue.Queue[dict] = queue.Queue()
        self.received: list[dict] = []
        self.connections = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.server = serve(self._handler, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{self.server.socket.getsockname()[1]}/link"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _handler(self, connection: ServerConnection) -> None:
        with self._lock:
            self.connections += 1
        connection.send(
            json.dumps(
                {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0TEST"}}
            )
        )
        while not self._stop.is_set():
            try:
                envelope = self.outbox.get(timeout=0.05)
            except queue.Empty:
                envelope = None
            if envelope is not None:
                connection.send(json.dumps(envelope))
            try:
                message = connection.recv(timeout=0.05)
            except TimeoutError:
                continue
            except Exception:  # the client went away
                return
            with self._lock:
                self.received.append(json.loads(message))

    def acks(self, envelope_id: str) -> list[dict]:
        with self._lock:
            return [m for m in self.received if m.get("envelope_id") == envelope_id]

    def close(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self._thread.join(5)


@pytest.fixture(scope="module")
def socket_mode_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    ws = FakeSocketModeServer()
    with FakeSlackAPI() as fake:
        fake.ws_url = ws.url
        env = server_env(
            fake.base_url,
            SLACK_APP_TOKEN=APP_TOKEN,
            SLACK_SIGNING_SECRET="",
            AWSSEC_KNOWLEDGE=str(KNOWLEDGE),
        )
        command = shlex.split(os.path.expandvars(procfile_command("worker")))
        directory = Path(tmp_path_factory.mktemp("worker"))
        env["DATABASE_URL"] = sqlite_url(directory)
        process = ServerProcess(command, env, directory / "worker.log")
        try:
            deadline = time.monotonic() + 20
            while ws.connections == 0:
                assert process.proc.poll() is None, process.output()
                assert time.monotonic() < deadline, process.output()
                time.sleep(0.05)
            yield ws, fake, process, env["DATABASE_URL"]
        finally:
            process.stop()
            ws.close()


def test_socket_mode_acks_and_replies(socket_mode_app) -> None:
    ws, fake, process, database_url = socket_mode_app
    channel = unique("C")
    envelope_id = unique("env-")
    ws.outbox.put(
        {
            "envelope_id": envelope_id,
            "type": "events_api",
            "accepts_response_payload": False,
            "retry_attempt": 0,
            "retry_reason": "",
            "payload": event_body(
                mention_event("<!channel> which service finds PII?", channel, "20.1")
            ),
        }
    )
    [call] = fake.wait_for("chat.postMessage", channel=channel, timeout=15)
    assert call.params["thread_ts"] == "20.1"
    assert call.params["blocks"][0]["text"]["text"] == "Amazon Macie"
    assert "<!channel>" not in json.dumps(call.params)
    # Recorded, with feedback buttons carrying the answer id.
    [feedback] = [b for b in call.params["blocks"] if is_feedback_block(b)]
    answer_id = int(feedback["elements"][0]["value"])
    rows = sqlite_rows(
        database_url, "SELECT topic_ids, surface FROM answers WHERE id = ?", answer_id
    )
    assert rows == [('["macie"]', "mention")]
    deadline = time.monotonic() + 5
    while not ws.acks(envelope_id):
        assert time.monotonic() < deadline, "envelope was never acked"
        time.sleep(0.05)
    opened = fake.find("apps.connections.open")
    assert opened and opened[0].token == APP_TOKEN
    output = process.output()
    assert "Socket Mode" in output
    for secret in (BOT_TOKEN, APP_TOKEN):
        assert secret not in output


def test_socket_mode_redelivery_is_answered_once(socket_mode_app) -> None:
    ws, fake, _, _ = socket_mode_app
    channel = unique("C")
    body = event_body(mention_event("kms", channel, "21.1"))
    for attempt in range(2):
        ws.outbox.put(
            {
                "envelope_id": unique("env-"),
                "type": "events_api",
                "accepts_response_payload": False,
                "retry_attempt": attempt,
                "retry_reason": "timeout" if attempt else "",
                "payload": body,
            }
        )
    fake.wait_for("chat.postMessage", channel=channel, timeout=15)
    time.sleep(0.5)
    assert len(fake.find("chat.postMessage", channel=channel)) == 1


def run_worker(tmp_path: Path, api_base_url: str) -> subprocess.CompletedProcess:
    env = server_env(
        api_base_url,
        SLACK_APP_TOKEN=APP_TOKEN,
        SLACK_SIGNING_SECRET="",
        AWSSEC_KNOWLEDGE=str(KNOWLEDGE),
        DATABASE_URL=sqlite_url(tmp_path),
    )
    command = shlex.split(os.path.expandvars(procfile_command("worker")))
    return subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )


def test_unreachable_slack_at_start_up_is_one_line_and_exit_2(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}/api/"  # nothing listens there
    done = run_worker(tmp_path, closed)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("awssec: cannot open a Socket Mode connection: ")
    assert "Connection refused" in last
    for secret in (APP_TOKEN, BOT_TOKEN, "SECRET"):
        assert secret not in done.stderr + done.stdout


def test_a_rejected_app_token_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with FakeSlackAPI() as fake:
        fake.reject("apps.connections.open", "invalid_auth")
        done = run_worker(tmp_path, fake.base_url)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stderr.strip().splitlines()[-1] == (
        "awssec: cannot open a Socket Mode connection: "
        "Slack answered HTTP 200 invalid_auth (check SLACK_APP_TOKEN)"
    )
    for secret in (APP_TOKEN, BOT_TOKEN, "SECRET"):
        assert secret not in done.stderr + done.stdout
