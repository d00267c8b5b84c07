"""Configuration: every environment variable the bot reads, parsed and validated here.

The Slack settings are read once (from the environment and `.env` if present) into
`Settings`; the storage and knowledge settings have small readers below. Each reader raises
`SettingsError` with one line naming the variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
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
DEFAULT_LISTENER_THREADS = 4
MAX_COUNT = 256  # far above anything useful; catches typos such as 40000

_BOT_TOKEN = re.compile(r"^xoxb-[A-Za-z0-9-]+$")
_APP_TOKEN = re.compile(r"^xapp-[A-Za-z0-9-]+$")
_SIGNING_SECRET = re.compile(r"^[A-Za-z0-9]+$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


class SettingsError(ValueError):
    """A missing or malformed setting; the message is one line naming the variable."""


@dataclass(frozen=True)
class Settings:
    # Secrets are excluded from repr so a logged Settings never leaks them.
    bot_token: str = field(repr=False)
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

    @property
    def socket_mode(self) -> bool:
        return self.app_token is not None

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret value, for scrubbing logs."""
        return tuple(s for s in (self.bot_token, self.signing_secret, self.app_token) if s)

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
        `SLACK_SIGNING_SECRET`. Raises `SettingsError` naming the first bad variable.
        """
        if environ is None:
            if dotenv:
                _load_dotenv()
            environ = os.environ
        env = {k: v.strip() for k, v in environ.items() if v is not None and v.strip()}

        bot_token = env.get("SLACK_BOT_TOKEN")
        if not bot_token:
            raise SettingsError("SLACK_BOT_TOKEN is not set (the bot token, xoxb-...)")
        if not _BOT_TOKEN.match(bot_token):
            raise SettingsError("SLACK_BOT_TOKEN is malformed: expected a bot token starting xoxb-")

        app_token = env.get("SLACK_APP_TOKEN")
        if app_token is not None and not _APP_TOKEN.match(app_token):
            raise SettingsError(
                "SLACK_APP_TOKEN is malformed: expected an app-level token starting xapp-"
            )

        signing_secret = env.get("SLACK_SIGNING_SECRET")
        if signing_secret is not None and not _SIGNING_SECRET.match(signing_secret):
            raise SettingsError("SLACK_SIGNING_SECRET is malformed: expected letters and digits")
        if app_token is None and signing_secret is None:
            raise SettingsError(
                "SLACK_SIGNING_SECRET is not set (needed in HTTP mode; "
                "set SLACK_APP_TOKEN instead for Socket Mode)"
            )

        port_text = env.get("PORT", str(DEFAULT_PORT))
        try:
            port = int(port_text)
        except ValueError:
            port = -1
        if not 0 < port < 65536:
            raise SettingsError(f"PORT is malformed: {port_text!r} is not a port number")

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

        return cls(
            bot_token=bot_token,
            signing_secret=signing_secret,
            app_token=app_token,
            port=port,
            knowledge_path=knowledge_path or env.get("AWSSEC_KNOWLEDGE"),
            log_level=log_level,
            api_base_url=api_base_url,
            admins=admins,
            web_concurrency=web_concurrency,
            web_threads=web_threads,
            listener_threads=listener_threads,
        )


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    """A whole number from 1 to MAX_COUNT, or SettingsError naming `name`."""
    raw = env.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,6}", raw) or not 1 <= int(raw) <= MAX_COUNT:
        raise SettingsError(
            f"{name} is malformed: {raw[:40]!r} is not a whole number from 1 to {MAX_COUNT}"
        )
    return int(raw)


def parse_admins(raw: str) -> frozenset[str]:
    """`U012AB, U034CD` → {"U012AB", "U034CD"}; SettingsError for anything not a user id."""
    ids = [part for part in re.split(r"[\s,]+", raw.strip()) if part]
    bad = [part for part in ids if not _USER_ID.match(part)]
    if bad:
        raise SettingsError(
            f"AWSSEC_ADMINS is malformed: {bad[0][:40]!r} is not a Slack user id "
            "(expected ids such as U012ABCDEF, separated by commas)"
        )
    return frozenset(ids)


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
