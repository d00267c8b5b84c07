"""Who the bot is, known without calling Slack on the ack path.

One workspace (SLACK_BOT_TOKEN): `BotIdentity`, auth.test in the background. Many
workspaces (OAuth): `InstallationAuthorize`, from the installation store (at the end).

Bolt's single-workspace authorization calls auth.test on a process's first request, inside
the ack path: when Slack's Web API is slow or down, that ack misses Slack's 3 seconds and
the event is lost. Instead each process asks auth.test once when it starts, on a background
thread with bounded retries, and Bolt's `authorize` hook answers every request from what is
known right now: the bot token always, the bot's user id and bot id once auth.test answered
(until then they are None; mention stripping and the bot-message checks cope without them).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from slack_bolt import BoltContext
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.authorize import Authorize
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackTokenRotationError
from slack_sdk.oauth import InstallationStore
from slack_sdk.oauth.token_rotation import TokenRotator

log = logging.getLogger(__name__)

# Seconds between attempts: about five minutes in all, then give up until the next request
# that finds the identity still unknown (at most every RETRY_ROUND_SECONDS).
RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 60.0, 60.0, 60.0)
RETRY_ROUND_SECONDS = 300.0
# Errors that retrying cannot fix: a revoked or wrong token.
_FATAL_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
)


class BotIdentity:
    """The bot's identity for Bolt's `authorize`, filled in by a background auth.test."""

    def __init__(
        self,
        client: WebClient,
        *,
        delays: Sequence[float] = RETRY_DELAYS,
        round_seconds: float = RETRY_ROUND_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # No retry handlers: this loop does its own, bounded, retrying.
        self._client = WebClient(
            token=client.token,
            base_url=client.base_url,
            timeout=client.timeout,
            logger=client.logger,
            retry_handlers=[],
        )
        self.token = client.token
        self.delays = tuple(delays)
        self.round_seconds = round_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._round_ended: float | None = None
        self._fatal = False
        self.bot_user_id: str | None = None
        self.bot_id: str | None = None
        self.team_id: str | None = None
        self.enterprise_id: str | None = None

    @property
    def known(self) -> bool:
        return self.bot_user_id is not None

    def start(self) -> BotIdentity:
        """Resolve the identity in the background (a no-op while a round is running)."""
        with self._lock:
            if self.known or self._fatal or (self._thread and self._thread.is_alive()):
                return self
            self._round_ended = None
            self._thread = threading.Thread(
                target=self._resolve, name="awssec-auth-test", daemon=True
            )
            self._thread.start()
        return self

    def wait(self, timeout: float) -> bool:
        """For tests and start-up logs: True once the identity is known."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.known

    def _resolve(self) -> None:
        attempts = len(self.delays) + 1
        for attempt in range(attempts):
            try:
                response = self._client.auth_test()
            except SlackApiError as exc:
                error = exc.response.get("error") if exc.response is not None else None
                if error in _FATAL_ERRORS:
                    self._fatal = True
                    log.error(
                        "Slack rejected SLACK_BOT_TOKEN (auth.test: %s); check the token", error
                    )
                    return
                status = exc.response.status_code if exc.response is not None else "?"
                problem = f"HTTP {status} {error}"
            except Exception as exc:  # connection refused, timeouts, bad JSON
                problem = f"{type(exc).__name__}: {str(exc)[:200]}"
            else:
                self._learn(response.data if isinstance(response.data, dict) else {})
                log.info("bot identity resolved: user %s, bot %s", self.bot_user_id, self.bot_id)
                return
            if attempt == attempts - 1:
                break
            log.warning(
                "auth.test failed (%s); retrying in %g s (answers are sent meanwhile)",
                problem,
                self.delays[attempt],
            )
            time.sleep(self.delays[attempt])
        log.error(
            "auth.test kept failing; the bot's own user id stays unknown for now "
            "(mentions are still answered; trying again later)"
        )
        with self._lock:
            self._round_ended = self._clock()

    def _learn(self, data: dict[str, Any]) -> None:
        self.team_id = data.get("team_id") or None
        self.enterprise_id = data.get("enterprise_id") or None
        self.bot_id = data.get("bot_id") or None
        self.bot_user_id = data.get("user_id") or None

    def _maybe_retry(self) -> None:
        ended = self._round_ended
        if ended is not None and self._clock() - ended >= self.round_seconds:
            self.start()

    def authorize(
        self, enterprise_id: str | None, team_id: str | None, user_id: str | None
    ) -> AuthorizeResult:
        """Bolt's `authorize` hook: never calls Slack, never blocks."""
        if not self.known:
            self._maybe_retry()
        return AuthorizeResult(
            enterprise_id=enterprise_id or self.enterprise_id,
            team_id=team_id or self.team_id,
            bot_user_id=self.bot_user_id,
            bot_id=self.bot_id,
            bot_token=self.token,
            user_id=user_id,
        )


# --- many workspaces (OAuth) ------------------------------------------------------------------

# Bolt's documented default: a rotating bot token (token_rotation_enabled in the manifest) is
# refreshed when it expires within this many minutes. Longer refreshes more often (each is an
# oauth.v2.access call before an ack); shorter risks a token expiring between two events.
TOKEN_ROTATION_EXPIRATION_MINUTES = 120


class InstallationLookupError(RuntimeError):
    """The installation store could not be read: the request fails (500) and Slack retries."""


class InstallationAuthorize(Authorize):
    """Bolt's `authorize` for many workspaces: each team's (or org's) bot from the store.

    Bolt's own `InstallationStoreAuthorize` calls auth.test on every request, inside the ack
    path; everything auth.test would say (bot user id, bot id, team, org) was stored at
    install time, so this one reads the installation store (`find_bot`: the app asks for bot
    scopes only, Bolt's `installation_store_bot_only`) and never calls Slack, except to
    refresh a rotating token about to expire, as Bolt does (slack_sdk's `TokenRotator`).

    `reader` serves the per-request lookups, `writer` saves refreshed tokens (the same
    slack_sdk store, see bot/storage/installations.py). No installation: None, and Bolt
    answers the request without running any listener (an uninstalled team's events).
    """

    def __init__(
        self,
        *,
        reader: InstallationStore,
        writer: InstallationStore,
        client_id: str,
        client_secret: str,
        client: WebClient,
        token_rotation_expiration_minutes: int = TOKEN_ROTATION_EXPIRATION_MINUTES,
    ) -> None:
        self.reader = reader
        self.writer = writer
        # The app's client (its base URL and retries): slack_sdk's default would be slack.com.
        self.token_rotator = TokenRotator(
            client_id=client_id, client_secret=client_secret, client=client
        )
        # Bolt sets this from OAuthSettings.token_rotation_expiration_minutes too.
        self.token_rotation_expiration_minutes = token_rotation_expiration_minutes

    def __call__(
        self,
        *,
        context: BoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult | None:
        is_enterprise_install = bool(context.is_enterprise_install)
        try:
            # An org-wide install is found by its enterprise id alone (slack_sdk drops the
            # team id when is_enterprise_install is set): any workspace of the org is served.
            bot = self.reader.find_bot(
                enterprise_id=enterprise_id,
                team_id=team_id,
                is_enterprise_install=is_enterprise_install,
            )
        except Exception as exc:  # a database failure; Bolt turns the raise into a 500
            log.error("cannot read the installations: %s", _describe(exc))
            raise InstallationLookupError("installation lookup failed") from None
        if bot is None or not bot.bot_token:
            log.info(
                "no installation for team %s (enterprise %s): request not handled",
                team_id,
                enterprise_id,
            )
            return None
        if bot.bot_refresh_token is not None:
            try:
                refreshed = self.token_rotator.perform_bot_token_rotation(
                    bot=bot, minutes_before_expiration=self.token_rotation_expiration_minutes
                )
            except SlackTokenRotationError as exc:
                response = exc.api_error.response
                error = response.get("error") if response is not None else None
                log.error("refreshing the bot token of team %s failed: %s", team_id, error)
                return None
            if refreshed is not None:
                self.writer.save_bot(refreshed)
                log.info("refreshed the rotating bot token of team %s", team_id or enterprise_id)
                bot = refreshed
        return AuthorizeResult(
            enterprise_id=enterprise_id or bot.enterprise_id,
            # The workspace the request came from (for an org-wide install, not the org's).
            team_id=team_id or bot.team_id,
            bot_user_id=bot.bot_user_id,
            bot_id=bot.bot_id,
            bot_token=bot.bot_token,
            bot_scopes=bot.bot_scopes,
            user_id=user_id,
        )


def _describe(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return f"{type(orig).__name__}: {lines[0][:200]}" if lines else type(orig).__name__
