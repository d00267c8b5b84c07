"""Configuration: every environment variable the bot reads, parsed and validated here.

The Slack settings are read once (from the environment and `.env` if present) into
`Settings`; the storage and knowledge settings have small readers below. Each reader raises
`SettingsError` with one line naming the variable.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_API_BASE_URL = "https://slack.com/api/"
DEFAULT_PORT = 3000
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# How often (at most) the servers check the knowledge files for edits.
KNOWLEDGE_RELOAD_SECONDS = 2.0
# gunicorn workers and threads per worker (WEB_CONCURRENCY, WEB_THREADS), and the threads
# running lazy listeners in each process (AWSSEC_LISTENER_THREADS). See gunicorn_conf.py and
# app.py for why these values.
DEFAULT_WEB_CONCURRENCY = 2
DEFAULT_WEB_THREADS = 4
# Answering threads mostly wait (for their database commit, for Slack's Web API), so they
# are sized for latency, not cores: at 500 events/s on 2 cores (bench/load_http.py) 32 gave
# reply p99 249 ms vs 307 ms with 16, and with a Web API answering after 100 ms (250/s)
# 446 ms vs 1.4 s; with 4, replies fell seconds behind. Each idle thread costs a little memory.
DEFAULT_LISTENER_THREADS = 32
MAX_COUNT = 256  # far above anything useful; catches typos such as 40000
# Posts per minute into one channel (AWSSEC_CHANNEL_POSTS_PER_MINUTE; 0 turns the spacing
# off): Slack allows about one a second per channel and answers faster posting with 429.
DEFAULT_CHANNEL_POSTS_PER_MINUTE = 60
# Seconds a worker's durable claims on acknowledged events stay its own without renewal
# (AWSSEC_CLAIM_LEASE_SECONDS; bot/slack/reliability/claims.py). A dead worker's questions
# are answered by another this long after it died; too short and a worker stalled that long
# (a stuck database) has its questions answered twice. Allowed 2 to 3600.
DEFAULT_CLAIM_LEASE_SECONDS = 30.0
MAX_CHANNEL_POSTS_PER_MINUTE = 6000
# An answer from a topic reviewed longer ago than this says it may be out of date
# (AWSSEC_STALE_DAYS). A year matches how often AWS security services change materially;
# shorter flags more answers, longer trusts old facts longer.
DEFAULT_STALE_DAYS = 365
MAX_STALE_DAYS = 36500
# Longer digit strings are refused before int() (which is slow on huge inputs).
_MAX_DIGITS = 9
# Follow-ups in a thread the bot answered are answered without a mention for this many
# minutes after its last answer there (AWSSEC_FOLLOWUP_MINUTES; 0 turns follow-ups off).
# Longer: later follow-ups answered, and more chatter read by the bot as questions.
DEFAULT_FOLLOWUP_MINUTES = 30.0
MAX_FOLLOWUP_MINUTES = 7 * 24 * 60  # a week: far beyond any conversation
# Auto-answer channels answer only at this confidence or above (AWSSEC_AUTOANSWER_THRESHOLD).
# From the reliability table of `awssec eval tests/questions.yaml`: answers at confidence
# 0.9 or more were right 98.3% of the time (352/358), 0.8-0.9 only 94.4% when it was set;
# 99.5% (380/382) and 97.8% (45/46) after the 2026-12-03 evening refit, 99.7% (376/377) and
# 98.0% (50/51) after the 2026-12-04 one (the public set is fitted on, so both flatter).
# Lower: more questions answered unasked, and more wrong answers nobody asked for.
DEFAULT_AUTOANSWER_THRESHOLD = 0.9

_BOT_TOKEN = re.compile(r"^xoxb-[A-Za-z0-9-]+$")
_APP_TOKEN = re.compile(r"^xapp-[A-Za-z0-9-]+$")
_SIGNING_SECRET = re.compile(r"^[A-Za-z0-9]+$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
# AWSSEC_ADMINS entries scoped to one workspace: TEAM:USER.
_TEAM_USER_ID = re.compile(r"^T[A-Z0-9]{2,}:[UW][A-Z0-9]{2,}$")
# OAuth (many workspaces): the app's client id ("1234567890.1234567890") and secret (hex).
_CLIENT_ID = re.compile(r"^[0-9]+\.[0-9]+$")
_CLIENT_SECRET = re.compile(r"^[A-Za-z0-9]+$")
_SCOPE = re.compile(r"^[a-z][a-z0-9._-]*(?::[a-z][a-z0-9._-]*)*$")
# The bot scopes an OAuth install asks for (SLACK_SCOPES overrides them): the bot scopes of
# manifest.yaml, which tests/slack/test_slack_oauth_e2e.py keeps in step with this list.
DEFAULT_OAUTH_SCOPES = (
    "app_mentions:read",
    "chat:write",
    "commands",
    "im:history",
    # Follow-ups in threads and auto-answer channels read channel messages (conversations).
    "channels:history",
    "groups:history",
)


class SettingsError(ValueError):
    """A missing or malformed setting; the message is one line naming the variable."""


@dataclass(frozen=True)
class Settings:
    # Secrets are excluded from repr so a logged Settings never leaks them.
    # None only with OAuth (many workspaces): each team's token comes from the installations.
    bot_token: str | None = field(default=None, repr=False)
    signing_secret: str | None = field(default=None, repr=False)
    app_token: str | None = field(default=None, repr=False)
    port: int = DEFAULT_PORT
    knowledge_path: str | None = None
    log_level: str = "INFO"
    api_base_url: str = DEFAULT_API_BASE_URL
    # Slack user ids allowed to run `/awssec report` (AWSSEC_ADMINS, comma-separated).
    admins: frozenset[str] = frozenset()
    web_concurrency: int = DEFAULT_WEB_CONCURRENCY
    web_threads: int = DEFAULT_WEB_THREADS
    listener_threads: int = DEFAULT_LISTENER_THREADS
    channel_posts_per_minute: int = DEFAULT_CHANNEL_POSTS_PER_MINUTE
    claim_lease_seconds: float = DEFAULT_CLAIM_LEASE_SECONDS
    # Follow-ups in threads (AWSSEC_FOLLOWUP_MINUTES) and auto-answer channels'
    # confidence bar (AWSSEC_AUTOANSWER_THRESHOLD); see docs/slack-setup.md.
    followup_minutes: float = DEFAULT_FOLLOWUP_MINUTES
    autoanswer_threshold: float = DEFAULT_AUTOANSWER_THRESHOLD
    # OAuth (many workspaces): all set, or none (SLACK_CLIENT_ID, SLACK_CLIENT_SECRET).
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    # Bot scopes asked for on /slack/install (SLACK_SCOPES) and the redirect URL registered
    # under "OAuth & Permissions" (SLACK_REDIRECT_URI; None: the app's only one).
    oauth_scopes: tuple[str, ...] = DEFAULT_OAUTH_SCOPES
    redirect_uri: str | None = None
    # Answers from topics reviewed more than this many days ago say so (AWSSEC_STALE_DAYS).
    stale_days: int = DEFAULT_STALE_DAYS
    # The security team's hand-off (AWSSEC_EXPERTS_CHANNEL, AWSSEC_EXPERTS_GROUP; None: off)
    # and the DM to askers of a taught question (AWSSEC_NOTIFY_ASKERS). See TeachingSettings.
    experts_channel: str | None = None
    experts_group: str | None = None
    notify_askers: bool = True

    @property
    def teaching(self) -> TeachingSettings:
        """The teaching fields as one value (what the teaching listeners read)."""
        return TeachingSettings(self.experts_channel, self.experts_group, self.notify_askers)

    @property
    def experts_enabled(self) -> bool:
        """Is the security team's hand-off on ("Ask the security team" on misses)?"""
        return self.experts_channel is not None

    @property
    def conversations(self) -> ConversationSettings:
        """The follow-up and auto-answer fields as one value."""
        return ConversationSettings(self.followup_minutes, self.autoanswer_threshold)

    @property
    def socket_mode(self) -> bool:
        return self.app_token is not None

    @property
    def oauth(self) -> bool:
        """Many workspaces: Bolt's OAuth flow and per-team tokens from the installations."""
        return self.client_id is not None and self.client_secret is not None

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret value, for scrubbing logs."""
        values = (self.bot_token, self.signing_secret, self.app_token, self.client_secret)
        return tuple(s for s in values if s)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        knowledge_path: str | None = None,
        dotenv: bool = True,
    ) -> Settings:
        """Settings from `environ` (default `os.environ`, after loading `.env` if present).

        Socket Mode is chosen by `SLACK_APP_TOKEN`; HTTP mode then needs
        `SLACK_SIGNING_SECRET`. `SLACK_CLIENT_ID` with `SLACK_CLIENT_SECRET` turns on OAuth
        (many workspaces, HTTP mode only), where `SLACK_BOT_TOKEN` is not needed. Raises
        `SettingsError` naming the first bad variable.
        """
        if environ is None:
            if dotenv:
                _load_dotenv()
            environ = os.environ
        env = {k: v.strip() for k, v in environ.items() if v is not None and v.strip()}

        client_id, client_secret = _oauth_credentials(env)
        bot_token = env.get("SLACK_BOT_TOKEN")
        if not bot_token and client_id is None:
            raise SettingsError("SLACK_BOT_TOKEN is not set (the bot token, xoxb-...)")
        if bot_token is not None and not _BOT_TOKEN.match(bot_token):
            raise SettingsError("SLACK_BOT_TOKEN is malformed: expected a bot token starting xoxb-")

        app_token = env.get("SLACK_APP_TOKEN")
        if app_token is not None and not _APP_TOKEN.match(app_token):
            raise SettingsError(
                "SLACK_APP_TOKEN is malformed: expected an app-level token starting xapp-"
            )

        signing_secret = env.get("SLACK_SIGNING_SECRET")
        if signing_secret is not None and not _SIGNING_SECRET.match(signing_secret):
            raise SettingsError("SLACK_SIGNING_SECRET is malformed: expected letters and digits")
        if client_id is not None and app_token is not None:
            raise SettingsError(
                "SLACK_APP_TOKEN is set with SLACK_CLIENT_ID: OAuth (many workspaces) needs "
                "HTTP mode; unset SLACK_APP_TOKEN, or SLACK_CLIENT_ID for one workspace"
            )
        if client_id is not None and signing_secret is None:
            raise SettingsError(
                "SLACK_SIGNING_SECRET is not set (needed with SLACK_CLIENT_ID: OAuth runs in "
                "HTTP mode)"
            )
        if app_token is None and signing_secret is None:
            raise SettingsError(
                "SLACK_SIGNING_SECRET is not set (needed in HTTP mode; "
                "set SLACK_APP_TOKEN instead for Socket Mode)"
            )
        oauth_scopes = _oauth_scopes(env)
        redirect_uri = env.get("SLACK_REDIRECT_URI")
        if redirect_uri is not None:
            parts = urlsplit(redirect_uri)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise SettingsError("SLACK_REDIRECT_URI is malformed: expected an http(s):// URL")

        port = whole_number(
            env, "PORT", DEFAULT_PORT, minimum=1, maximum=65535, expected="a port number"
        )

        log_level = env.get("LOG_LEVEL", "INFO").upper()
        if log_level not in LOG_LEVELS:
            raise SettingsError(f"LOG_LEVEL is malformed: use one of {', '.join(LOG_LEVELS)}")

        api_base_url = env.get("SLACK_API_BASE_URL", DEFAULT_API_BASE_URL)
        parts = urlsplit(api_base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SettingsError("SLACK_API_BASE_URL is malformed: expected an http(s):// URL")
        if not api_base_url.endswith("/"):
            # slack_sdk joins the method name straight onto the base URL.
            api_base_url += "/"

        admins = parse_admins(env.get("AWSSEC_ADMINS", ""))
        web_concurrency = _count(env, "WEB_CONCURRENCY", DEFAULT_WEB_CONCURRENCY)
        web_threads = _count(env, "WEB_THREADS", DEFAULT_WEB_THREADS)
        listener_threads = _count(env, "AWSSEC_LISTENER_THREADS", DEFAULT_LISTENER_THREADS)
        channel_posts_per_minute = whole_number(
            env,
            "AWSSEC_CHANNEL_POSTS_PER_MINUTE",
            DEFAULT_CHANNEL_POSTS_PER_MINUTE,
            minimum=0,
            maximum=MAX_CHANNEL_POSTS_PER_MINUTE,
        )

        return cls(
            bot_token=bot_token,
            signing_secret=signing_secret,
            app_token=app_token,
            port=port,
            knowledge_path=knowledge_path or env.get(KNOWLEDGE_ENV),
            log_level=log_level,
            api_base_url=api_base_url,
            admins=admins,
            web_concurrency=web_concurrency,
            web_threads=web_threads,
            listener_threads=listener_threads,
            channel_posts_per_minute=channel_posts_per_minute,
            claim_lease_seconds=_number(
                env, "AWSSEC_CLAIM_LEASE_SECONDS", DEFAULT_CLAIM_LEASE_SECONDS, 2.0, 3600.0
            ),
            **dataclasses.asdict(conversation_settings(env)),
            client_id=client_id,
            client_secret=client_secret,
            oauth_scopes=oauth_scopes,
            redirect_uri=redirect_uri,
            stale_days=stale_days(env),
            **teaching_settings(env).as_settings(),
        )


def _oauth_credentials(env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(SLACK_CLIENT_ID, SLACK_CLIENT_SECRET): both, or neither (one alone is a mistake)."""
    client_id = env.get("SLACK_CLIENT_ID")
    client_secret = env.get("SLACK_CLIENT_SECRET")
    if client_id is None and client_secret is None:
        return None, None
    if client_id is None:
        raise SettingsError("SLACK_CLIENT_ID is not set (needed with SLACK_CLIENT_SECRET)")
    if client_secret is None:
        raise SettingsError("SLACK_CLIENT_SECRET is not set (needed with SLACK_CLIENT_ID)")
    if not _CLIENT_ID.match(client_id):
        raise SettingsError(
            "SLACK_CLIENT_ID is malformed: expected digits, a dot, digits (Basic Information)"
        )
    if not _CLIENT_SECRET.match(client_secret):
        raise SettingsError("SLACK_CLIENT_SECRET is malformed: expected letters and digits")
    return client_id, client_secret


def _oauth_scopes(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = env.get("SLACK_SCOPES")
    if raw is None:
        return DEFAULT_OAUTH_SCOPES
    scopes = [part for part in re.split(r"[\s,]+", raw) if part]
    bad = [s for s in scopes if not _SCOPE.match(s)]
    if bad or not scopes:
        shown = repr(bad[0][:40]) if bad else "nothing"
        raise SettingsError(
            f"SLACK_SCOPES is malformed: {shown} is not a scope "
            "(expected names such as chat:write, separated by commas)"
        )
    return tuple(dict.fromkeys(scopes))


@dataclass(frozen=True)
class ConversationSettings:
    """Follow-ups in threads and auto-answer channels (also fields of `Settings`)."""

    followup_minutes: float = DEFAULT_FOLLOWUP_MINUTES
    autoanswer_threshold: float = DEFAULT_AUTOANSWER_THRESHOLD


def conversation_settings(environ: Mapping[str, str] | None = None) -> ConversationSettings:
    """AWSSEC_FOLLOWUP_MINUTES and AWSSEC_AUTOANSWER_THRESHOLD from `environ` (default
    `os.environ`); SettingsError naming the variable when malformed."""
    env = {k: v.strip() for k, v in (os.environ if environ is None else environ).items() if v}
    env = {k: v for k, v in env.items() if v}
    return ConversationSettings(
        followup_minutes=_number(
            env, "AWSSEC_FOLLOWUP_MINUTES", DEFAULT_FOLLOWUP_MINUTES, 0.0, MAX_FOLLOWUP_MINUTES
        ),
        autoanswer_threshold=_number(
            env, "AWSSEC_AUTOANSWER_THRESHOLD", DEFAULT_AUTOANSWER_THRESHOLD, 0.0, 1.0
        ),
    )


def _number(
    env: Mapping[str, str], name: str, default: float, minimum: float, maximum: float
) -> float:
    """A decimal number from `minimum` to `maximum`, or SettingsError naming `name`."""
    raw = env.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,9}(?:\.[0-9]{1,9})?|\.[0-9]{1,9}", raw) or not (
        minimum <= float(raw) <= maximum
    ):
        raise SettingsError(
            f"{name} is malformed: {raw[:40]!r} is not a number from {minimum:g} to {maximum:g}"
        )
    return float(raw)


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    """A whole number from 1 to MAX_COUNT, or SettingsError naming `name`."""
    return whole_number(env, name, default, minimum=1, maximum=MAX_COUNT)


def whole_number(
    env: Mapping[str, str],
    name: str,
    default: int,
    *,
    minimum: int,
    maximum: int,
    expected: str | None = None,
) -> int:
    """`env[name]` as a whole number from `minimum` to `maximum` (`default` when unset or
    blank); otherwise SettingsError, one line naming `name` and what was expected.

    The one integer parser for every setting: digits only (no sign, no spaces inside, no
    `1e3`), so `int()`'s leniency (`" 4 "`, `"٤"`, `"1_000"`) never reaches a setting.
    """
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if raw.isascii() and raw.isdigit() and len(raw) <= _MAX_DIGITS:
        value = int(raw)
        if minimum <= value <= maximum:
            return value
    wanted = expected or f"a whole number from {minimum} to {maximum}"
    raise SettingsError(f"{name} is malformed: {raw[:40]!r} is not {wanted}")


def parse_admins(raw: str) -> frozenset[str]:
    """`U012AB, T0TEAM:U034CD` → {"U012AB", "T0TEAM:U034CD"}; SettingsError for anything else.

    A plain user id is an admin in every team; `TEAM:USER` only in that team (user ids are
    unique across workspaces, but one deployment may serve teams with different admins).
    """
    ids = [part for part in re.split(r"[\s,]+", raw.strip()) if part]
    bad = [part for part in ids if not (_USER_ID.match(part) or _TEAM_USER_ID.match(part))]
    if bad:
        raise SettingsError(
            f"AWSSEC_ADMINS is malformed: {bad[0][:40]!r} is not a Slack user id "
            "(expected ids such as U012ABCDEF or T012TEAM:U012ABCDEF, separated by commas)"
        )
    return frozenset(ids)


# --- readers for the settings outside `Settings` ------------------------------------------------
# The storage and knowledge layers run without Slack settings (`awssec ask`, `awssec report`),
# so they read their few variables through these, each on its own. `environ` defaults to
# `os.environ`; blank values count as unset.

KNOWLEDGE_ENV = "AWSSEC_KNOWLEDGE"
# Where the web workers keep the last good knowledge (set by the gunicorn master; internal).
SNAPSHOT_ENV = "AWSSEC_KNOWLEDGE_SNAPSHOT"
DEFAULT_RETENTION_DAYS = 90
# A century: any real retention fits, and the purge's date arithmetic cannot overflow.
MAX_RETENTION_DAYS = 36_500
# PostgreSQL connections per process (each gunicorn worker has its own pool): more lets more
# threads write at once, but dynos × workers × (pool + overflow) must stay under the plan's
# connection limit.
DEFAULT_DB_POOL_SIZE = 3
DEFAULT_DB_MAX_OVERFLOW = 5


def _environ(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def _text(environ: Mapping[str, str] | None, name: str) -> str | None:
    value = (_environ(environ).get(name) or "").strip()
    return value or None


def knowledge_path_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """`$AWSSEC_KNOWLEDGE`: a knowledge file or folder (None: the bundled knowledge)."""
    return _text(environ, KNOWLEDGE_ENV)


def snapshot_dir_from_env(environ: Mapping[str, str] | None = None) -> Path | None:
    """`$AWSSEC_KNOWLEDGE_SNAPSHOT`: the folder holding the last good knowledge snapshots."""
    value = _text(environ, SNAPSHOT_ENV)
    return Path(value) if value else None


# Where the command line keeps the index it built (`bot/matcher/compiled.py`): "off" turns
# the cache off.
CACHE_ENV = "AWSSEC_CACHE_DIR"


def cache_dir_from_env(environ: Mapping[str, str] | None = None) -> Path | None:
    """`$AWSSEC_CACHE_DIR`, else `$XDG_CACHE_HOME/awssec`, else `~/.cache/awssec`; None when
    `$AWSSEC_CACHE_DIR` is "off"."""
    value = _text(environ, CACHE_ENV)
    if value is not None:
        return None if value.lower() == "off" else Path(value)
    base = _text(environ, "XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "awssec"


def database_url(environ: Mapping[str, str] | None = None) -> str | None:
    """`$DATABASE_URL` as given (parsed and checked by the storage layer), None when unset."""
    return _text(environ, "DATABASE_URL")


def default_sqlite_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where the SQLite file lives when no database URL is given.

    ``$AWSSEC_DATA_DIR/awssec.db``, else ``$XDG_DATA_HOME/awssec/awssec.db``, else
    ``~/.local/share/awssec/awssec.db``.
    """
    data_dir = _text(environ, "AWSSEC_DATA_DIR")
    if data_dir:
        return Path(data_dir).expanduser() / "awssec.db"
    xdg = _text(environ, "XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "awssec" / "awssec.db"


def retention_days(environ: Mapping[str, str] | None = None) -> int:
    """`$AWSSEC_RETENTION_DAYS`: whole days, 1 to MAX_RETENTION_DAYS (default 90)."""
    return whole_number(
        _environ(environ),
        "AWSSEC_RETENTION_DAYS",
        DEFAULT_RETENTION_DAYS,
        minimum=1,
        maximum=MAX_RETENTION_DAYS,
        expected=f"a whole number of days from 1 to {MAX_RETENTION_DAYS}",
    )


def stale_days(environ: Mapping[str, str] | None = None) -> int:
    """`$AWSSEC_STALE_DAYS`: whole days, 1 to MAX_STALE_DAYS (default 365)."""
    return whole_number(
        _environ(environ),
        "AWSSEC_STALE_DAYS",
        DEFAULT_STALE_DAYS,
        minimum=1,
        maximum=MAX_STALE_DAYS,
        expected=f"a whole number of days from 1 to {MAX_STALE_DAYS}",
    )


def db_pool_sizes(environ: Mapping[str, str] | None = None) -> tuple[int, int]:
    """(`$AWSSEC_DB_POOL_SIZE`, `$AWSSEC_DB_MAX_OVERFLOW`): a PostgreSQL pool's size and
    overflow per process (defaults 3 and 5)."""
    env = _environ(environ)
    size = whole_number(
        env, "AWSSEC_DB_POOL_SIZE", DEFAULT_DB_POOL_SIZE, minimum=1, maximum=MAX_COUNT
    )
    overflow = whole_number(
        env, "AWSSEC_DB_MAX_OVERFLOW", DEFAULT_DB_MAX_OVERFLOW, minimum=0, maximum=MAX_COUNT
    )
    return size, overflow


def server_environment(
    knowledge_path: str | None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment for the gunicorn process `awssec serve` becomes: this one, plus the
    knowledge path given on the command line (its workers build their settings from it)."""
    env = dict(_environ(environ))
    if knowledge_path:
        env[KNOWLEDGE_ENV] = knowledge_path
    return env


# Teaching and the security team's hand-off (bot/slack/listeners/actions/teach.py, experts.py).
_EXPERTS_CHANNEL = re.compile(r"^[CG][A-Z0-9]{2,30}$")
_EXPERTS_GROUP = re.compile(r"^S[A-Z0-9]{2,30}$")
_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
_FALSE_WORDS = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class TeachingSettings:
    """AWSSEC_EXPERTS_CHANNEL, AWSSEC_EXPERTS_GROUP and AWSSEC_NOTIFY_ASKERS, validated."""

    experts_channel: str | None = None  # a channel id; None: no hand-off, nothing shows
    experts_group: str | None = None  # a user group id, mentioned when a question arrives
    notify_askers: bool = True

    @property
    def experts_enabled(self) -> bool:
        return self.experts_channel is not None

    def as_settings(self) -> dict[str, Any]:
        return {
            "experts_channel": self.experts_channel,
            "experts_group": self.experts_group,
            "notify_askers": self.notify_askers,
        }


def teaching_settings(environ: Mapping[str, str] | None = None) -> TeachingSettings:
    """The teaching settings from `environ` (default `os.environ`); SettingsError naming the
    variable when one is malformed."""
    channel = _text(environ, "AWSSEC_EXPERTS_CHANNEL")
    if channel is not None and not _EXPERTS_CHANNEL.match(channel):
        raise SettingsError(
            f"AWSSEC_EXPERTS_CHANNEL is malformed: {channel[:40]!r} is not a Slack channel id "
            "(expected an id such as C012ABCDEF)"
        )
    group = _text(environ, "AWSSEC_EXPERTS_GROUP")
    if group is not None and not _EXPERTS_GROUP.match(group):
        raise SettingsError(
            f"AWSSEC_EXPERTS_GROUP is malformed: {group[:40]!r} is not a Slack user group id "
            "(expected an id such as S012ABCDEF)"
        )
    if group is not None and channel is None:
        raise SettingsError("AWSSEC_EXPERTS_GROUP is set but AWSSEC_EXPERTS_CHANNEL is not")
    notify_text = (_text(environ, "AWSSEC_NOTIFY_ASKERS") or "true").lower()
    if notify_text not in _TRUE_WORDS | _FALSE_WORDS:
        raise SettingsError(
            f"AWSSEC_NOTIFY_ASKERS is malformed: {notify_text[:40]!r} is not true or false"
        )
    return TeachingSettings(channel, group, notify_text in _TRUE_WORDS)


def _load_dotenv() -> None:
    try:
        from dotenv import find_dotenv, load_dotenv
    except ImportError:  # python-dotenv is a declared dependency; tolerate its absence
        return
    # `.env` in the working directory (as honcho/heroku local use it); real environment
    # variables win over the file.
    path = find_dotenv(usecwd=True)
    if path:
        load_dotenv(path, override=False)
