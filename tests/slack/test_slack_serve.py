"""Start-up: manifest, Procfile, `awssec serve` in HTTP mode, settings errors, .env."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from slackfakes import (
    BOT_TOKEN,
    KNOWLEDGE,
    REPO,
    SIGNING_SECRET,
    FakeSlackAPI,
    ServerProcess,
    free_port,
    get,
    procfile_command,
    server_env,
)

from bot.config import Settings
from bot.slack.server import serve


def test_manifest_declares_everything_the_app_handles() -> None:
    manifest = yaml.safe_load((REPO / "manifest.yaml").read_text())
    features = manifest["features"]
    assert [c["command"] for c in features["slash_commands"]] == ["/awssec"]
    assert features["app_home"]["home_tab_enabled"] is True
    assert features["app_home"]["messages_tab_enabled"] is True
    settings = manifest["settings"]
    # Exactly what the listeners handle: mentions, DMs, channel messages (follow-ups in the
    # bot's threads, auto-answer channels), App Home, and the OAuth lifecycle events.
    assert set(settings["event_subscriptions"]["bot_events"]) == {
        "app_mention",
        "message.im",
        "message.channels",
        "message.groups",
        "app_home_opened",
        "app_uninstalled",
        "tokens_revoked",
    }
    assert settings["interactivity"]["is_enabled"] is True
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert scopes == {
        "app_mentions:read",
        "chat:write",
        "commands",
        "im:history",
        "channels:history",
        "groups:history",
    }


def test_procfile_lines() -> None:
    assert procfile_command("web").split()[0] == "gunicorn"
    assert "bot.slack.server.wsgi:application" in procfile_command("web")
    assert procfile_command("worker") == "awssec serve"


def test_serve_reports_a_bad_setting_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    for name in list(os.environ):
        if name.startswith("SLACK_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("PORT", "not-a-port")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    assert serve.serve(None) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "awssec: PORT is malformed: 'not-a-port' is not a port number"
    ]


@pytest.mark.parametrize(
    ("variable", "value"),
    [("WEB_CONCURRENCY", "two"), ("WEB_THREADS", "x"), ("AWSSEC_LISTENER_THREADS", "x")],
)
def test_serve_reports_a_bad_count_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    variable: str,
    value: str,
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    for name in list(os.environ):
        if name.startswith("SLACK_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv(variable, value)
    # Were the value accepted, serve() would replace this process with gunicorn.
    monkeypatch.setattr(serve, "exec_gunicorn", lambda settings: pytest.fail("exec gunicorn"))
    assert serve.serve(None) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"awssec: {variable} is malformed: {value!r} is not a whole number")


def run_web_line(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The Procfile's web: line as a process that is expected to refuse to start."""
    command = shlex.split(procfile_command("web"))
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=30)


def test_gunicorn_refuses_to_start_with_bad_web_threads(tmp_path: Path) -> None:
    # (A malformed WEB_CONCURRENCY is refused by gunicorn itself before it reads our config;
    # `awssec serve` checks it first, see above.)
    env = server_env(
        "http://127.0.0.1:9/api/",
        PORT=str(free_port()),
        AWSSEC_KNOWLEDGE=str(KNOWLEDGE),
        WEB_THREADS="four",
    )
    done = run_web_line(env, tmp_path)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "awssec: WEB_THREADS is malformed: 'four' is not a whole number from 1 to 256"
    )


def test_dotenv_is_read_but_real_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    # python-dotenv writes into os.environ; give it a throwaway copy.
    monkeypatch.setattr(os, "environ", dict(os.environ))
    for name in list(os.environ):
        if name.startswith("SLACK_") or name in ("PORT", "LOG_LEVEL"):
            del os.environ[name]
    (tmp_path / ".env").write_text(
        f"SLACK_BOT_TOKEN={BOT_TOKEN}\nSLACK_SIGNING_SECRET={SIGNING_SECRET}\nPORT=4000\n"
    )
    os.environ["PORT"] = "5000"
    settings = Settings.from_env()
    assert settings.bot_token == BOT_TOKEN and settings.port == 5000


def test_gunicorn_refuses_to_start_without_signing_secret(tmp_path: Path) -> None:
    env = server_env("http://127.0.0.1:9/api/", SLACK_SIGNING_SECRET="", PORT=str(free_port()))
    done = run_web_line(env, tmp_path)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1].startswith("awssec: SLACK_SIGNING_SECRET")
    assert BOT_TOKEN not in done.stderr + done.stdout


def test_awssec_serve_without_app_token_runs_http(tmp_path: Path) -> None:
    with FakeSlackAPI() as fake:
        port = free_port()
        env = server_env(fake.base_url, PORT=str(port), AWSSEC_KNOWLEDGE=str(KNOWLEDGE))
        server = ServerProcess([sys.executable, "-m", "bot.slack"], env, tmp_path / "serve.log")
        try:
            deadline = time.monotonic() + 20
            while True:
                assert server.proc.poll() is None, server.output()
                try:
                    if get(f"http://127.0.0.1:{port}/healthz", timeout=1).status == 200:
                        break
                except OSError:
                    pass
                assert time.monotonic() < deadline, server.output()
                time.sleep(0.1)
            assert "gunicorn" in server.output()
        finally:
            server.stop()


def test_gunicorn_refuses_to_start_with_a_bad_database_url(tmp_path: Path) -> None:
    env = server_env(
        "http://127.0.0.1:9/api/",
        PORT=str(free_port()),
        AWSSEC_KNOWLEDGE=str(KNOWLEDGE),
        DATABASE_URL="postgresql://awssec:hunter2@127.0.0.1:1/awssec",
    )
    done = run_web_line(env, tmp_path)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("awssec: DATABASE_URL: ")
    assert "postgresql+psycopg://awssec:***@127.0.0.1:1/awssec" in last
    assert "hunter2" not in done.stderr + done.stdout
