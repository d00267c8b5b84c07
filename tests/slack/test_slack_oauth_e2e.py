"""End to end, many workspaces: the Procfile's web process in OAuth mode against the fake
Slack Web API (oauth.v2.access, auth.test per token), with requests signed as Slack signs them.

An install goes through Bolt's own flow (GET /slack/install sets the state cookie, GET
/slack/oauth_redirect exchanges the code), the installation lands in slack_sdk's SQLAlchemy
store on DATABASE_URL, and every later assertion is on what the fake Slack received (which
token each call carried) and on the database rows.
"""

from __future__ import annotations

import html
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import yaml
from slackfakes import (
    REPO,
    FakeSlackAPI,
    Install,
    WebServer,
    event_body,
    mention_event,
    sqlite_rows,
    start_web_server,
    unique,
)

from bot.config import DEFAULT_OAUTH_SCOPES, Settings, SettingsError
from bot.slack.answering.deps import Deps
from bot.slack.reliability.dedup import MemoryDeduplicator

CLIENT_ID = "1111111111.2222222222"
CLIENT_SECRET = "c0ffee5ecretc11e27ab1234567890ab"
STATE_COOKIE = "slack-app-oauth-state"
# How long to wait for a reply that must not come, after a reply that must (bounded).
SETTLE_SECONDS = 1.0


@dataclass
class Page:
    status: int
    body: str
    headers: dict[str, list[str]]


def fetch_page(url: str, cookie: str | None = None) -> Page:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            headers: dict[str, list[str]] = {}
            for key, value in response.headers.items():
                headers.setdefault(key.lower(), []).append(value)
            return Page(response.status, response.read().decode(), headers)
    except urllib.error.HTTPError as exc:
        return Page(exc.code, exc.read().decode(), {})


@pytest.fixture(scope="module")
def oauth_server(
    fake_slack: FakeSlackAPI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebServer]:
    fake_slack.oauth_client = (CLIENT_ID, CLIENT_SECRET)
    server = start_web_server(
        fake_slack,
        tmp_path_factory.mktemp("oauth"),
        # No single-workspace token at all: every token comes from an installation.
        SLACK_BOT_TOKEN="",
        SLACK_CLIENT_ID=CLIENT_ID,
        SLACK_CLIENT_SECRET=CLIENT_SECRET,
        # DEBUG: slack_sdk and Bolt log requests at this level; the secret must survive it.
        LOG_LEVEL="DEBUG",
    )
    try:
        yield server
    finally:
        server.process.stop()


def install(server: WebServer, fake: FakeSlackAPI, grant: Install) -> Page:
    """Click "Add to Slack" and come back with Slack's code, as a browser would."""
    fake.add_install(grant)
    page = fetch_page(f"{server.base_url}/slack/install")
    assert page.status == 200, page.body
    [cookie] = [c for c in page.headers["set-cookie"] if c.startswith(STATE_COOKIE)]
    state = cookie.split(";", 1)[0].split("=", 1)[1]
    link = html.unescape(re.search(r'<a href="([^"]+)"', page.body).group(1))
    query = parse_qs(urlsplit(link).query)
    assert query["state"] == [state] and query["client_id"] == [CLIENT_ID]
    assert query["scope"] == [",".join(DEFAULT_OAUTH_SCOPES)]
    redirect = f"{server.base_url}/slack/oauth_redirect?" + urlencode(
        {"code": grant.code, "state": state}
    )
    return fetch_page(redirect, cookie=f"{STATE_COOKIE}={state}")


def grant(team_id: str | None, **extra: object) -> Install:
    name = team_id or str(extra.get("enterprise_id"))
    return Install(
        code=unique(f"code-{name}-"),
        team_id=team_id,
        bot_token=f"xoxb-oauth-{name}-{unique()}",
        bot_user_id=f"UBOT{name}",
        bot_id=f"BBOT{name}",
        **extra,  # type: ignore[arg-type]
    )


def mention(
    server: WebServer, team_id: str, text: str, *, event_id: str | None = None, **envelope: object
) -> tuple[str, str, int]:
    """A mention from a workspace; (channel, event id, HTTP status)."""
    channel = unique("C")
    event = mention_event(text, channel, unique("1700000100."))
    event["text"] = f"<@UBOT{envelope.pop('bot_name', team_id)}> {text}"
    body = event_body(event, event_id, team_id=team_id, **envelope)  # type: ignore[arg-type]
    reply = server.send(json.dumps(body))
    return channel, body["event_id"], reply.status


def lifecycle_event(server: WebServer, team_id: str, event: dict, **envelope: object) -> int:
    body = event_body(event, team_id=team_id, **envelope)  # type: ignore[arg-type]
    return server.send(json.dumps(body)).status


def bots(server: WebServer) -> list[tuple]:
    return sqlite_rows(
        server.database_url,
        "SELECT team_id, enterprise_id, is_enterprise_install, bot_token, bot_user_id, bot_id "
        "FROM slack_bots ORDER BY id",
    )


def installed(server: WebServer, team_id: str | None, enterprise_id: str | None = None) -> int:
    where = "team_id IS ?" if team_id is None else "team_id = ?"
    rows = sqlite_rows(
        server.database_url,
        f"SELECT (SELECT count(*) FROM slack_bots WHERE {where} AND enterprise_id IS ?)"
        f" + (SELECT count(*) FROM slack_installations WHERE {where} AND enterprise_id IS ?)",
        team_id,
        enterprise_id,
        team_id,
        enterprise_id,
    )
    return rows[0][0]


# --- install -----------------------------------------------------------------------------------


def test_install_stores_the_installation(oauth_server, fake_slack) -> None:
    team = grant("T0ALPHA")
    page = install(oauth_server, fake_slack, team)
    assert page.status == 200, page.body
    # The code went to the fake with the app's own credentials (SLACK_API_BASE_URL honoured).
    [access] = fake_slack.find("oauth.v2.access", code=team.code)
    assert access.client_credentials == (CLIENT_ID, CLIENT_SECRET)
    assert ("T0ALPHA", None, 0, team.bot_token, "UBOTT0ALPHA", "BBOTT0ALPHA") in bots(oauth_server)
    # The state was consumed: the same link cannot be replayed.
    assert sqlite_rows(oauth_server.database_url, "SELECT count(*) FROM slack_oauth_states") == [
        (0,)
    ]


def test_redirect_without_the_browsers_state_installs_nothing(oauth_server, fake_slack) -> None:
    team = fake_slack.add_install(grant("T0MALLORY"))
    page = fetch_page(f"{oauth_server.base_url}/slack/install")
    state = page.headers["set-cookie"][0].split(";", 1)[0].split("=", 1)[1]
    base = f"{oauth_server.base_url}/slack/oauth_redirect?"
    # No cookie (another browser), then a forged state with a matching cookie.
    no_cookie = fetch_page(base + urlencode({"code": team.code, "state": state}))
    forged = fetch_page(
        base + urlencode({"code": team.code, "state": "forged"}), cookie=f"{STATE_COOKIE}=forged"
    )
    assert no_cookie.status == 400 and forged.status == 401
    assert fake_slack.find("oauth.v2.access", code=team.code) == []
    assert installed(oauth_server, "T0MALLORY") == 0


# --- answering ---------------------------------------------------------------------------------


def test_two_teams_are_answered_each_with_its_own_token(oauth_server, fake_slack) -> None:
    red, blue = grant("T0RED"), grant("T0BLUE")
    assert install(oauth_server, fake_slack, red).status == 200
    assert install(oauth_server, fake_slack, blue).status == 200
    auth_tests_before = len(fake_slack.find("auth.test"))

    red_channel, _, red_status = mention(oauth_server, "T0RED", "which service finds PII?")
    blue_channel, _, blue_status = mention(oauth_server, "T0BLUE", "which service finds PII?")
    assert red_status == blue_status == 200
    [red_reply] = fake_slack.wait_for("chat.postMessage", channel=red_channel)
    [blue_reply] = fake_slack.wait_for("chat.postMessage", channel=blue_channel)
    assert red_reply.token == red.bot_token
    assert blue_reply.token == blue.bot_token
    assert red_reply.params["blocks"][0]["text"]["text"] == "Amazon Macie"
    # Tokens came from the store: no auth.test before these acks (nor after).
    assert len(fake_slack.find("auth.test")) == auth_tests_before
    # Each record carries its own team.
    teams = sqlite_rows(
        oauth_server.database_url,
        "SELECT team_id FROM answers WHERE channel_id IN (?, ?) ORDER BY team_id",
        red_channel,
        blue_channel,
    )
    assert teams == [("T0BLUE",), ("T0RED",)]


def test_org_wide_install_answers_every_workspace_of_the_org(oauth_server, fake_slack) -> None:
    org = grant(None, enterprise_id="E0ORG", is_enterprise_install=True)
    assert install(oauth_server, fake_slack, org).status == 200
    assert (None, "E0ORG", 1, org.bot_token, "UBOTE0ORG", "BBOTE0ORG") in bots(oauth_server)

    envelope = {"enterprise_id": "E0ORG", "is_enterprise_install": True, "bot_name": "E0ORG"}
    first, _, _ = mention(oauth_server, "T0ORGWS1", "which service finds PII?", **envelope)
    second, _, _ = mention(oauth_server, "T0ORGWS2", "which service finds PII?", **envelope)
    [one] = fake_slack.wait_for("chat.postMessage", channel=first)
    [two] = fake_slack.wait_for("chat.postMessage", channel=second)
    assert one.token == two.token == org.bot_token
    # A workspace of another org, or outside Grid, is not served by that install.
    stranger, _, status = mention(
        oauth_server,
        "T0ORGWS3",
        "which service finds PII?",
        enterprise_id="E0OTHER",
        is_enterprise_install=True,
        bot_name="E0ORG",
    )
    assert status == 200
    time.sleep(SETTLE_SECONDS)
    assert fake_slack.find("chat.postMessage", channel=stranger) == []
    rows = sqlite_rows(
        oauth_server.database_url, "SELECT team_id FROM answers WHERE channel_id = ?", first
    )
    assert rows == [("T0ORGWS1",)]  # the workspace asked, not the org


def test_retries_get_exactly_one_reply_per_team(oauth_server, fake_slack) -> None:
    team = grant("T0RETRY")
    assert install(oauth_server, fake_slack, team).status == 200
    channel = unique("C")
    event = mention_event("which service finds PII?", channel, unique("1700000200."))
    body = json.dumps(event_body(event, unique("EvR"), team_id="T0RETRY"))
    for attempt in range(3):
        retry = {"X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": "http_timeout"}
        assert oauth_server.send(body, headers=retry if attempt else None).status == 200
    replies = fake_slack.wait_for("chat.postMessage", channel=channel)
    time.sleep(SETTLE_SECONDS)
    assert len(fake_slack.find("chat.postMessage", channel=channel)) == len(replies) == 1
    assert replies[0].token == team.bot_token


def test_rotating_token_is_refreshed_and_saved(oauth_server, fake_slack) -> None:
    # Expires in 60 s: inside Bolt's 120-minute window, so the first request refreshes it.
    team = grant("T0ROTATE", refresh_token=unique("xoxe-1-refresh-"), expires_in=60)
    original = team.bot_token
    assert install(oauth_server, fake_slack, team).status == 200
    channel, _, status = mention(oauth_server, "T0ROTATE", "which service finds PII?")
    assert status == 200
    [reply] = fake_slack.wait_for("chat.postMessage", channel=channel)
    [refresh] = fake_slack.find("oauth.v2.access", grant_type="refresh_token")
    assert refresh.client_credentials == (CLIENT_ID, CLIENT_SECRET)
    assert reply.token == team.bot_token != original
    stored = [b[3] for b in bots(oauth_server) if b[0] == "T0ROTATE"]
    assert stored == [team.bot_token]


# --- uninstall and revocation ------------------------------------------------------------------


def test_app_uninstalled_forgets_the_team(oauth_server, fake_slack) -> None:
    leaving, staying = grant("T0LEAVING"), grant("T0STAYING")
    assert install(oauth_server, fake_slack, leaving).status == 200
    assert install(oauth_server, fake_slack, staying).status == 200
    assert installed(oauth_server, "T0LEAVING") == 2  # a bot row and an installation row

    uninstalled = {"type": "app_uninstalled", "event_ts": "1700000300.000001"}
    assert lifecycle_event(oauth_server, "T0LEAVING", uninstalled) == 200
    assert installed(oauth_server, "T0LEAVING") == 0  # done before the ack
    assert installed(oauth_server, "T0STAYING") == 2
    # Slack's retry of the same event is harmless.
    assert lifecycle_event(oauth_server, "T0LEAVING", uninstalled) == 200

    gone, _, status = mention(oauth_server, "T0LEAVING", "which service finds PII?")
    here, _, _ = mention(oauth_server, "T0STAYING", "which service finds PII?")
    assert status == 200  # acknowledged (Slack must not retry), but not answered
    [reply] = fake_slack.wait_for("chat.postMessage", channel=here)
    assert reply.token == staying.bot_token
    time.sleep(SETTLE_SECONDS)
    assert fake_slack.find("chat.postMessage", channel=gone) == []
    assert [c for c in fake_slack.calls if c.token == leaving.bot_token and c.at > reply.at] == []


def test_org_wide_uninstall_forgets_the_org(oauth_server, fake_slack) -> None:
    org = grant(None, enterprise_id="E0GONE", is_enterprise_install=True)
    assert install(oauth_server, fake_slack, org).status == 200
    assert installed(oauth_server, None, "E0GONE") == 2
    envelope = {"enterprise_id": "E0GONE", "is_enterprise_install": True}
    assert lifecycle_event(oauth_server, "T0GONEWS", {"type": "app_uninstalled"}, **envelope) == 200
    assert installed(oauth_server, None, "E0GONE") == 0


def test_tokens_revoked_forgets_the_bot(oauth_server, fake_slack) -> None:
    team = grant("T0REVOKED")
    assert install(oauth_server, fake_slack, team).status == 200
    revoked = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["UBOTT0REVOKED"]}}
    assert lifecycle_event(oauth_server, "T0REVOKED", revoked) == 200
    assert installed(oauth_server, "T0REVOKED") == 0
    channel, _, status = mention(oauth_server, "T0REVOKED", "which service finds PII?")
    assert status == 200
    time.sleep(SETTLE_SECONDS)
    assert fake_slack.find("chat.postMessage", channel=channel) == []
    assert [
        c for c in fake_slack.calls if c.token == team.bot_token and c.method != "auth.test"
    ] == []


def test_reinstall_after_uninstall_answers_again(oauth_server, fake_slack) -> None:
    first = grant("T0BACK")
    assert install(oauth_server, fake_slack, first).status == 200
    assert lifecycle_event(oauth_server, "T0BACK", {"type": "app_uninstalled"}) == 200
    second = grant("T0BACK")
    assert install(oauth_server, fake_slack, second).status == 200
    channel, _, _ = mention(oauth_server, "T0BACK", "which service finds PII?")
    [reply] = fake_slack.wait_for("chat.postMessage", channel=channel)
    assert reply.token == second.bot_token


# --- the log -----------------------------------------------------------------------------------


def test_the_client_secret_and_team_tokens_never_reach_the_log(oauth_server, fake_slack) -> None:
    team = grant("T0LOGGED")
    assert install(oauth_server, fake_slack, team).status == 200
    channel, _, _ = mention(oauth_server, "T0LOGGED", "which service finds PII?")
    fake_slack.wait_for("chat.postMessage", channel=channel)
    output = oauth_server.output()
    assert "many workspaces (OAuth" in output  # the log is really there, at DEBUG
    assert CLIENT_SECRET not in output
    assert team.bot_token not in output
    assert "xoxb-oauth-" not in output
    # The one-time code is exchanged for the token: Bolt and slack_sdk log it at DEBUG.
    assert "Handling an OAuth callback success" in output
    assert team.code not in output


# --- settings, admins, reports (no server) -----------------------------------------------------


def oauth_env(**extra: str) -> dict[str, str]:
    env = {
        "SLACK_CLIENT_ID": CLIENT_ID,
        "SLACK_CLIENT_SECRET": CLIENT_SECRET,
        "SLACK_SIGNING_SECRET": "abc123",
    }
    env.update(extra)
    return {k: v for k, v in env.items() if v}


def test_oauth_settings() -> None:
    settings = Settings.from_env(oauth_env(), dotenv=False)
    assert settings.oauth and settings.bot_token is None
    assert CLIENT_SECRET in settings.secrets and CLIENT_SECRET not in repr(settings)
    assert settings.oauth_scopes == DEFAULT_OAUTH_SCOPES
    custom = Settings.from_env(oauth_env(SLACK_SCOPES="chat:write, commands"), dotenv=False)
    assert custom.oauth_scopes == ("chat:write", "commands")
    single = Settings.from_env(
        {"SLACK_BOT_TOKEN": "xoxb-1-2", "SLACK_SIGNING_SECRET": "abc"}, dotenv=False
    )
    assert not single.oauth and single.bot_token == "xoxb-1-2"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        (oauth_env(SLACK_APP_TOKEN="xapp-1-2"), "SLACK_APP_TOKEN"),
        (oauth_env(SLACK_SIGNING_SECRET=""), "SLACK_SIGNING_SECRET"),
        (oauth_env(SLACK_CLIENT_SECRET=""), "SLACK_CLIENT_SECRET"),
        (oauth_env(SLACK_CLIENT_ID=""), "SLACK_CLIENT_ID"),
        (oauth_env(SLACK_CLIENT_ID="not-an-id"), "SLACK_CLIENT_ID"),
        (oauth_env(SLACK_CLIENT_SECRET="has spaces!"), "SLACK_CLIENT_SECRET"),
        (oauth_env(SLACK_SCOPES="chat:write,,Bad Scope"), "SLACK_SCOPES"),
        (oauth_env(SLACK_REDIRECT_URI="ftp://x"), "SLACK_REDIRECT_URI"),
        ({"SLACK_SIGNING_SECRET": "abc"}, "SLACK_BOT_TOKEN"),
    ],
)
def test_bad_oauth_settings_stop_with_one_line(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env, dotenv=False)
    message = str(raised.value)
    assert message.startswith(variable) or f" {variable} " in f" {message} "
    assert "\n" not in message and CLIENT_SECRET not in message


def test_default_scopes_are_the_manifests() -> None:
    manifest = yaml.safe_load((REPO / "manifest.yaml").read_text())
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == set(DEFAULT_OAUTH_SCOPES)


def test_admins_per_team() -> None:
    settings = Settings.from_env(
        oauth_env(AWSSEC_ADMINS="U0EVERYWHERE, T0RED:U0REDBOSS"), dotenv=False
    )
    deps = Deps(service=None, dedup=MemoryDeduplicator(), admins=settings.admins)  # type: ignore[arg-type]
    assert deps.is_admin("U0EVERYWHERE", "T0RED") and deps.is_admin("U0EVERYWHERE", "T0BLUE")
    assert deps.is_admin("U0REDBOSS", "T0RED")
    assert not deps.is_admin("U0REDBOSS", "T0BLUE") and not deps.is_admin("U0REDBOSS", None)
    assert not deps.is_admin(None, "T0RED") and not deps.is_admin("U0NOBODY", "T0RED")
    with pytest.raises(SettingsError, match="AWSSEC_ADMINS"):
        Settings.from_env(oauth_env(AWSSEC_ADMINS="T0RED:"), dotenv=False)


def test_a_teams_report_shows_only_its_records(tmp_path: Path) -> None:
    from bot.storage import Store, build_report

    store = Store.from_url(f"sqlite:///{tmp_path / 'r.db'}", auto_purge=False)
    for team, enterprise, question in (
        ("T0RED", None, "red question one"),
        ("T0RED", None, "red question two"),
        ("T0BLUE", "E0ORG", "blue question"),
    ):
        store.record_answer(
            question=question,
            topic_ids=[],
            suggestion_ids=[],
            confidence=0.1,
            team_id=team,
            user_id="U1",
            channel_id="C1",
            surface="mention",
            enterprise_id=enterprise,
        )
    red = build_report(store, since=timedelta(days=1), team_id="T0RED")
    blue = build_report(store, since=timedelta(days=1), team_id="T0BLUE")
    everyone = build_report(store, since=timedelta(days=1))
    assert (red.misses, blue.misses, everyone.misses) == (2, 1, 3)
    assert "blue question" not in json.dumps(red.to_dict(), default=str)
    assert sqlite_rows(
        f"sqlite:///{tmp_path / 'r.db'}", "SELECT enterprise_id FROM answers ORDER BY id"
    ) == [(None,), (None,), ("E0ORG",)]
    store.dispose()
