"""Test doubles for Slack: a recording Web API server, a request signer, payload builders,
and a launcher for the real HTTP server from the Procfile.

Shared by tests/slack/conftest.py and bench/load_http.py. Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from slack_sdk.signature import SignatureVerifier

REPO = Path(__file__).resolve().parents[2]
KNOWLEDGE = REPO / "tests" / "slack" / "knowledge"
# A question the test knowledge refuses with KMS as its "did you mean" (probability about 0.15,
# far under any threshold the fit has chosen, 0.24-0.70): a miss the learning loop records.
NEAR_MISS_QUESTION = "how long until rotation"
BOT_USER_ID = "UAWSSECBOT"
BOT_ID = "BAWSSECBOT"
TEAM_ID = "T0TEST"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-1111-2222-SECRETbottoken"
APP_TOKEN = "xapp-1-A111-3333-SECRETapptoken"


# ---------------------------------------------------------------- fake Web API


@dataclass
class Call:
    method: str  # "chat.postMessage", or "response_url" for posts to a response URL
    path: str
    params: dict[str, Any]  # form/query parameters merged with the JSON body
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)

    @property
    def token(self) -> str | None:
        auth = self.headers.get("authorization", "")
        if auth.startswith("Basic "):  # oauth.v2.access: client id and secret, no token
            return self.params.get("token")
        return auth.removeprefix("Bearer ") or self.params.get("token")

    @property
    def client_credentials(self) -> tuple[str, str] | None:
        """(client_id, client_secret) as slack_sdk sends them to oauth.v2.access."""
        auth = self.headers.get("authorization", "")
        if auth.startswith("Basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            return client_id, secret
        if self.params.get("client_id"):
            return str(self.params["client_id"]), str(self.params.get("client_secret", ""))
        return None


@dataclass
class Install:
    """What the fake's oauth.v2.access hands out for one code (a workspace or an org)."""

    code: str
    team_id: str | None
    bot_token: str
    bot_user_id: str
    bot_id: str
    enterprise_id: str | None = None
    is_enterprise_install: bool = False
    # Token rotation: set both and oauth.v2.access returns them (refreshes issue new ones).
    refresh_token: str | None = None
    expires_in: int | None = None
    installer: str = "U0INSTALLER"


class FakeSlackAPI:
    """A Slack Web API on 127.0.0.1 that records every call and can be told to fail."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.ws_url: str | None = None  # what apps.connections.open hands out
        # OAuth: the app's credentials (None: any), codes not used yet, and who each bot
        # token belongs to (auth.test answers per token; unknown tokens get the default bot).
        self.oauth_client: tuple[str, str] | None = None
        self._codes: dict[str, Install] = {}
        self._refresh_tokens: dict[str, Install] = {}
        self.identities: dict[str, Install] = {}
        self._refreshes = 0
        self._failures: dict[str, list[tuple[int, float, str | None]]] = {}
        self._cond = threading.Condition()
        self._ts = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                fake._handle(self)

            def do_GET(self) -> None:
                fake._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/api/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # -- lifecycle

    def start(self) -> FakeSlackAPI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeSlackAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting and inspection

    def response_url(self, name: str = "r") -> str:
        return f"http://127.0.0.1:{self.port}/response/{name}"

    def fail(self, method: str, statuses: list[int], retry_after: float = 1) -> None:
        """The next len(statuses) calls to `method` get these HTTP statuses (429 → Retry-After)."""
        with self._cond:
            self._failures.setdefault(method, []).extend((s, retry_after, None) for s in statuses)

    def reject(self, method: str, error: str, times: int = 1) -> None:
        """The next `times` calls to `method` get HTTP 200 {"ok": false, "error": error}."""
        with self._cond:
            self._failures.setdefault(method, []).extend([(200, 0, error)] * times)

    def add_install(self, install: Install) -> Install:
        """oauth.v2.access will exchange `install.code` (once) for this installation."""
        with self._cond:
            self._codes[install.code] = install
            self.identities[install.bot_token] = install
            if install.refresh_token:
                self._refresh_tokens[install.refresh_token] = install
        return install

    def clear_failures(self) -> None:
        with self._cond:
            self._failures.clear()

    def reset(self) -> None:
        with self._cond:
            self.calls.clear()
            self._failures.clear()

    def find(self, method: str | None = None, **match: Any) -> list[Call]:
        with self._cond:
            calls = list(self.calls)
        return [
            c
            for c in calls
            if (method is None or c.method == method)
            and all(c.params.get(k) == v for k, v in match.items())
        ]

    def wait_for(
        self, method: str, count: int = 1, timeout: float = 10.0, **match: Any
    ) -> list[Call]:
        """Calls matching, once there are at least `count` (or whatever arrived by `timeout`)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.find(method, **match)
            remaining = deadline - time.monotonic()
            if len(found) >= count or remaining <= 0:
                return found
            with self._cond:
                self._cond.wait(min(remaining, 0.05))

    # -- request handling

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode("utf-8") if length else ""
        path, _, query = handler.path.partition("?")
        params: dict[str, Any] = dict(parse_qsl(query))
        content_type = handler.headers.get("Content-Type", "")
        if raw:
            if "json" in content_type or raw.lstrip().startswith("{"):
                try:
                    params.update(json.loads(raw))
                except ValueError:
                    params["_raw"] = raw
            else:
                params.update(parse_qsl(raw, keep_blank_values=True))
        headers = {k.lower(): v for k, v in handler.headers.items()}

        if path.startswith("/response/"):
            method = "response_url"
        elif path.startswith("/api/"):
            method = path[len("/api/") :]
        else:
            self._reply(handler, 404, {"ok": False, "error": "unknown_path"})
            return

        with self._cond:
            call = Call(method, path, params, headers)
            self.calls.append(call)
            script = self._failures.get(method)
            failure = script.pop(0) if script else None
            self._cond.notify_all()

        if failure is not None:
            status, retry_after, error = failure
            extra = {"Retry-After": str(int(retry_after))} if status == 429 else {}
            error = error or ("ratelimited" if status == 429 else "internal_error")
            self._reply(handler, status, {"ok": False, "error": error}, extra)
            return
        if method == "response_url":
            self._reply(handler, 200, None)
            return
        self._reply(handler, 200, self._result(method, params, call))

    def _result(self, method: str, params: dict[str, Any], call: Call) -> dict[str, Any]:
        if method == "oauth.v2.access":
            return self._oauth_access(call)
        if method == "auth.test" and call.token in self.identities:
            install = self.identities[call.token]
            domain = str(install.team_id or install.enterprise_id).lower()
            return {
                "ok": True,
                "url": f"https://{domain}.slack.com/",
                "team": install.team_id,
                "user": "awssec",
                "team_id": install.team_id,
                "user_id": install.bot_user_id,
                "bot_id": install.bot_id,
                "enterprise_id": install.enterprise_id,
                "is_enterprise_install": install.is_enterprise_install,
            }
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://test.slack.com/",
                "team": "Test",
                "user": "awssec",
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": BOT_ID,
                "is_enterprise_install": False,
            }
        if method == "apps.connections.open":
            return {"ok": True, "url": self.ws_url or "ws://127.0.0.1:9/"}
        if method in ("chat.postMessage", "chat.postEphemeral", "chat.update"):
            with self._cond:
                self._ts += 1
                ts = f"1700000000.{self._ts:06d}"
            return {"ok": True, "channel": params.get("channel"), "ts": ts, "message_ts": ts}
        if method == "views.publish":
            return {"ok": True, "view": {"id": "V1", "type": "home"}}
        if method == "chat.getPermalink":
            channel, ts = str(params.get("channel")), str(params.get("message_ts"))
            link = f"https://test.slack.com/archives/{channel}/p{ts.replace('.', '')}"
            return {"ok": True, "channel": channel, "permalink": link}
        if method == "views.open":
            return {"ok": True, "view": {"id": "V2", "type": "modal"}}
        return {"ok": True}

    def _oauth_access(self, call: Call) -> dict[str, Any]:
        """oauth.v2.access: a code for an installation, or a refresh token for a new token."""
        if self.oauth_client is not None and call.client_credentials != self.oauth_client:
            return {"ok": False, "error": "invalid_client_id"}
        with self._cond:
            if call.params.get("grant_type") == "refresh_token":
                install = self._refresh_tokens.pop(str(call.params.get("refresh_token")), None)
                if install is None:
                    return {"ok": False, "error": "invalid_refresh_token"}
                self._refreshes += 1
                install.bot_token = f"{install.bot_token.split('~')[0]}~r{self._refreshes}"
                install.refresh_token = f"xoxe-1-refresh-{install.code}-{self._refreshes}"
                self.identities[install.bot_token] = install
                self._refresh_tokens[install.refresh_token] = install
                return {
                    "ok": True,
                    "token_type": "bot",
                    "access_token": install.bot_token,
                    "refresh_token": install.refresh_token,
                    "expires_in": install.expires_in or 43200,
                }
            install = self._codes.pop(str(call.params.get("code")), None)
        if install is None:
            return {"ok": False, "error": "invalid_code"}
        team = {"id": install.team_id, "name": f"Team {install.team_id}"}
        enterprise = (
            {"id": install.enterprise_id, "name": f"Org {install.enterprise_id}"}
            if install.enterprise_id
            else None
        )
        response: dict[str, Any] = {
            "ok": True,
            "app_id": "A0TEST",
            "authed_user": {"id": install.installer},
            "scope": "app_mentions:read,chat:write,commands,im:history",
            "token_type": "bot",
            "access_token": install.bot_token,
            "bot_user_id": install.bot_user_id,
            # An org-wide install belongs to the organisation, not to a workspace.
            "team": None if install.is_enterprise_install else team,
            "enterprise": enterprise,
            "is_enterprise_install": install.is_enterprise_install,
        }
        if install.refresh_token:
            response["refresh_token"] = install.refresh_token
            response["expires_in"] = install.expires_in or 43200
        return response

    @staticmethod
    def _reply(
        handler: BaseHTTPRequestHandler,
        status: int,
        payload: dict[str, Any] | None,
        headers: dict[str, str] | None = None,
    ) -> None:
        body = b"ok" if payload is None else json.dumps(payload).encode()
        handler.send_response(status)
        content_type = "text/plain" if payload is None else "application/json; charset=utf-8"
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(body)


# ---------------------------------------------------------------- signing and payloads


def sign(
    body: str | bytes,
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    content_type: str = "application/json",
) -> dict[str, str]:
    """Headers exactly as Slack sends them: v0 HMAC-SHA256 over `v0:{ts}:{body}`."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    if isinstance(body, bytes):  # any bytes, even invalid UTF-8, signed as Slack would
        digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
        signature = f"v0={digest.hexdigest()}"
    else:
        signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
    }


_counter = iter(range(1, 10**9))


def unique(prefix: str = "") -> str:
    return f"{prefix}{os.getpid()}{next(_counter):06d}"


def event_body(
    event: dict[str, Any],
    event_id: str | None = None,
    *,
    team_id: str = TEAM_ID,
    enterprise_id: str | None = None,
    is_enterprise_install: bool = False,
    bot_user_id: str = BOT_USER_ID,
) -> dict[str, Any]:
    """An Events API envelope; the team (and org) arguments shape it as Slack does for
    another workspace or an Enterprise Grid (org-wide) install."""
    authorization: dict[str, Any] = {
        "team_id": team_id,
        "user_id": bot_user_id,
        "is_bot": True,
        "is_enterprise_install": is_enterprise_install,
    }
    body: dict[str, Any] = {
        "token": "legacy-verification-token",
        "team_id": team_id,
        "api_app_id": "A0TEST",
        "event": event,
        "type": "event_callback",
        "event_id": event_id or unique("Ev"),
        "event_time": int(time.time()),
        "authorizations": [authorization],
        "is_ext_shared_channel": False,
    }
    if enterprise_id is not None:
        body["enterprise_id"] = enterprise_id
        authorization["enterprise_id"] = enterprise_id
    return body


def mention_event(
    text: str, channel: str = "C0GENERAL", ts: str | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "type": "app_mention",
        "user": "U0ASKER",
        "text": f"<@{BOT_USER_ID}> {text}",
        "ts": ts or f"1700000001.{next(_counter):06d}",
        "channel": channel,
        "event_ts": ts or "1700000001.000001",
        **extra,
    }


def dm_event(text: str, channel: str = "D0DM", ts: str | None = None, **extra: Any) -> dict:
    return {
        "type": "message",
        "channel_type": "im",
        "user": "U0ASKER",
        "text": text,
        "ts": ts or f"1700000002.{next(_counter):06d}",
        "channel": channel,
        "event_ts": ts or "1700000002.000001",
        **extra,
    }


def command_body(
    text: str, response_url: str, channel: str = "C0GENERAL", user: str = "U0ASKER"
) -> str:
    return urlencode(
        {
            "token": "legacy",
            "team_id": TEAM_ID,
            "team_domain": "test",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": "asker",
            "command": "/awssec",
            "text": text,
            "api_app_id": "A0TEST",
            "response_url": response_url,
            "trigger_id": "1.2.3",
        }
    )


def action_payload(
    action_id: str,
    value: str,
    *,
    channel: str = "C0GENERAL",
    response_url: str,
    ephemeral: bool = False,
    message_ts: str = "1700000003.000001",
    thread_ts: str | None = None,
    url: str | None = None,
    user: str = "U0CLICKER",
    message: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A `block_actions` payload as Slack sends it. `message` (blocks and text of the
    message the button is on) is included for normal messages, as Slack does; ephemeral
    messages come without it."""
    action: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "block_id": "b1",
        "text": {"type": "plain_text", "text": "x"},
        "action_ts": "1700000004.000001",
    }
    if value:
        action["value"] = value
    if url:
        action["url"] = url
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user, "username": "clicker", "team_id": TEAM_ID},
        "api_app_id": "A0TEST",
        "token": "legacy",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": ephemeral,
        },
        "trigger_id": "1.2.3",
        "team": {"id": TEAM_ID, "domain": "test"},
        "channel": {"id": channel, "name": "general"},
        "response_url": response_url,
        "actions": [action],
    }
    if not ephemeral:
        posted: dict[str, Any] = {
            "type": "message",
            "ts": message_ts,
            "bot_id": BOT_ID,
            **(message or {}),
        }
        if thread_ts:
            posted["thread_ts"] = thread_ts
        payload["message"] = posted
    return payload


def view_submission_payload(
    callback_id: str,
    private_metadata: str,
    values: dict[str, dict[str, Any]],
    user: str = "U0CLICKER",
) -> dict[str, Any]:
    """A `view_submission` payload (a modal's Submit), as Slack sends it."""
    return {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": "test"},
        "user": {"id": user, "username": "clicker", "team_id": TEAM_ID},
        "api_app_id": "A0TEST",
        "token": "legacy",
        "trigger_id": "4.5.6",
        "view": {
            "id": "V0MODAL",
            "team_id": TEAM_ID,
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "state": {"values": values},
            "hash": "1.abc",
        },
        "response_urls": [],
    }


def interactivity_body(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


# ---------------------------------------------------------------- HTTP client


@dataclass
class Reply:
    status: int
    body: str
    elapsed: float


def post(url: str, body: str | bytes, headers: dict[str, str], timeout: float = 10.0) -> Reply:
    data = body if isinstance(body, bytes) else body.encode()
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read().decode()
            return Reply(response.status, text, time.perf_counter() - started)
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.read().decode(), time.perf_counter() - started)


def get(url: str, timeout: float = 5.0) -> Reply:
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return Reply(response.status, response.read().decode(), time.perf_counter() - started)
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.read().decode(), time.perf_counter() - started)


# ---------------------------------------------------------------- the real server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def procfile_command(process: str) -> str:
    for line in (REPO / "Procfile").read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() == process:
            return command.strip()
    raise LookupError(f"no {process}: line in the Procfile")


def server_env(api_base_url: str, **overrides: str) -> dict[str, str]:
    """The environment of a server under test; its database is a fresh SQLite file unless
    `DATABASE_URL` is given (never the developer's own database)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "AWSSEC_", "WEB_", "DATABASE_URL"))
    }
    # The venv's console scripts (gunicorn, awssec), as on a host where they are on PATH.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_BASE_URL=api_base_url,
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    if "DATABASE_URL" not in overrides:
        env["DATABASE_URL"] = sqlite_url(Path(tempfile.mkdtemp(prefix="awssec-db-")))
    env.update(overrides)
    return {k: v for k, v in env.items() if v != ""}


class ServerProcess:
    """A Procfile process run as a subprocess, output captured to a file."""

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path) -> None:
        self.command = command
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 (closed in stop())
        # Run outside the checkout so a developer's own .env can never leak into a test.
        self.proc = subprocess.Popen(
            command, env=env, cwd=log_path.parent, stdout=self._log, stderr=subprocess.STDOUT
        )

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode


def worker_pids(master: int) -> list[int]:
    """The gunicorn master's children (its workers), from /proc (Linux), sorted."""
    pids: set[int] = set()
    for task in Path(f"/proc/{master}/task").iterdir():
        pids.update(int(pid) for pid in (task / "children").read_text().split())
    return sorted(pids)


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'awssec.db'}"


def start_web(
    api_base_url: str, log_path: Path, *, timeout: float = 30.0, **env_overrides: str
) -> tuple[ServerProcess, str]:
    """Start the Procfile's `web:` command on a free port; wait for /healthz.

    The database defaults to `awssec.db` next to `log_path`."""
    env_overrides.setdefault("DATABASE_URL", sqlite_url(log_path.parent))
    port = free_port()
    env = server_env(api_base_url, PORT=str(port), **env_overrides)
    command = shlex.split(os.path.expandvars(procfile_command("web").replace("$PORT", str(port))))
    server = ServerProcess(command, env, log_path)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"web server exited early:\n{server.output()}")
        try:
            if get(f"{base}/healthz", timeout=1).status == 200:
                return server, base
        except OSError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"web server did not become healthy:\n{server.output()}")


class WebServer:
    """The Procfile's web process, plus a signed-request client for it."""

    def __init__(self, process: ServerProcess, base_url: str, database_url: str = "") -> None:
        self.process = process
        self.base_url = base_url
        self.events_url = f"{base_url}/slack/events"
        self.database_url = database_url

    def health(self) -> dict:
        return json.loads(get(f"{self.base_url}/healthz").body)

    def send(
        self,
        body: str | bytes,
        *,
        content_type: str = "application/json",
        timestamp: int | None = None,
        secret: str = SIGNING_SECRET,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        signed = sign(body, secret=secret, timestamp=timestamp, content_type=content_type)
        return post(self.events_url, body, {**signed, **(headers or {})})

    def output(self) -> str:
        return self.process.output()


def start_web_server(fake_slack: FakeSlackAPI, directory: Path, **env: str) -> WebServer:
    """The web process (log and SQLite database in `directory`, unless DATABASE_URL is
    given), on the test knowledge unless AWSSEC_KNOWLEDGE is given."""
    env.setdefault("AWSSEC_KNOWLEDGE", str(KNOWLEDGE))
    env.setdefault("DATABASE_URL", sqlite_url(directory))
    process, base = start_web(fake_slack.base_url, directory / "gunicorn.log", **env)
    return WebServer(process, base, env["DATABASE_URL"])


# ---------------------------------------------------------------- database inspection


def sqlite_dump(url: str) -> str:
    """Every row of every table of the SQLite database at `url`, as one string."""
    import sqlite3

    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path, timeout=30) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = [f"{t}: {row!r}" for t in tables for row in db.execute(f'SELECT * FROM "{t}"')]
    return "\n".join(rows)


def sqlite_rows(url: str, sql: str, *params: Any) -> list[tuple]:
    import sqlite3

    with sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30) as db:
        return list(db.execute(sql, params))
