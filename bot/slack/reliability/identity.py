"""Who the bot is (auth.test), resolved in the background so acks never wait on Slack.

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

from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

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
        self._stop = threading.Event()
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

    def stop(self) -> None:
        self._stop.set()

    def wait(self, timeout: float) -> bool:
        """For tests and start-up logs: True once the identity is known."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.known

    def _resolve(self) -> None:
        attempts = len(self.delays) + 1
        for attempt in range(attempts):
            if self._stop.is_set():
                return
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
            if self._stop.wait(self.delays[attempt]):
                return
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
