"""The Slack Web API client: configurable base URL, bounded retries, per-channel pacing and
kept-alive connections."""

from __future__ import annotations

import http.client
import json
import logging
import select
import threading
import time
from typing import Any
from urllib.parse import urlsplit
from urllib.request import Request

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.slack_response import SlackResponse

from bot.config import Settings
from bot.slack.reliability.pacing import ChannelPacer

# Bounded: a reply that still fails after this is logged and dropped; the app keeps serving.
MAX_RETRIES = 3
API_TIMEOUT_SECONDS = 10
# Methods Slack limits per channel (about one a second), so they wait for the channel's
# pacer slot. Ephemeral posts, updates and views have workspace-wide limits only.
PACED_METHODS = frozenset({"chat.postMessage"})
# A kept-alive connection idle longer than this is closed rather than reused: servers and
# load balancers drop idle connections (60 s is common), and a request sent on a connection
# the server is closing fails. Longer saves more TLS handshakes (about 1.3 ms of CPU each);
# shorter meets fewer dropped connections.
KEEPALIVE_IDLE_SECONDS = 20.0


class ChannelRateLimitHandler(RateLimitErrorRetryHandler):
    """slack_sdk's 429 handling (wait for Retry-After, then retry), that also tells the
    pacer, so that the rest of that channel's posts wait instead of meeting 429s too.

    The wait itself stays in the calling thread: the listener executor gives each channel
    at most one answering thread, so this holds up that channel only.
    """

    def __init__(self, pacer: ChannelPacer, max_retry_count: int = MAX_RETRIES) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.pacer = pacer

    def __deepcopy__(self, memo: dict[int, Any]) -> ChannelRateLimitHandler:
        return self  # stateless apart from the shared pacer

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        channel = _channel_of_request(request)
        if response is not None and channel:
            self.pacer.hold(channel, _retry_after(response))
        super().prepare_for_next_attempt(
            state=state, request=request, response=response, error=error
        )


def retry_handlers(
    max_retries: int = MAX_RETRIES, pacer: ChannelPacer | None = None
) -> list[RetryHandler]:
    """429 waits for Retry-After; connection errors and 5xx back off (0.5 s, 1 s, ...)."""
    rate_limit: RetryHandler = (
        ChannelRateLimitHandler(pacer, max_retries)
        if pacer is not None
        else RateLimitErrorRetryHandler(max_retry_count=max_retries)
    )
    return [
        ConnectionErrorRetryHandler(max_retry_count=max_retries),
        rate_limit,
        ServerErrorRetryHandler(max_retry_count=max_retries),
    ]


class PacedWebClient(WebClient):
    """A WebClient whose per-channel posts wait for the channel's pacer slot, and whose
    HTTP connections are kept alive per thread.

    One instance per token is shared by every request (see `shared_client`), so it is never
    deep-copied: Bolt copies the request context for each lazy listener.
    """

    def __init__(self, *args: Any, pacer: ChannelPacer, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pacer = pacer
        self._connections = threading.local()

    def __copy__(self) -> PacedWebClient:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> PacedWebClient:
        return self

    def with_token(self, token: str | None) -> PacedWebClient:
        """A client like this one (same pacer, handlers, base URL) for another token."""
        return PacedWebClient(
            token=token,
            base_url=self.base_url,
            timeout=self.timeout,
            ssl=self.ssl,
            proxy=self.proxy,
            headers=self.headers,
            logger=self._logger,
            retry_handlers=self.retry_handlers,
            pacer=self.pacer,
        )

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        if api_method in PACED_METHODS:
            channel = _channel_of_kwargs(kwargs)
            if channel:
                wait = self.pacer.reserve(channel)
                if wait > 0:
                    time.sleep(wait)
        return super().api_call(api_method, **kwargs)

    # -- kept-alive connections (slack_sdk opens a new urllib connection for every call)

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        parts = urlsplit(url)
        if self.proxy is not None or parts.scheme not in ("http", "https"):
            return super()._perform_urllib_http_request_internal(url, req)
        connection = self._connection(parts.scheme, parts.netloc)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request(
                req.get_method(), path, body=req.data, headers=dict(req.header_items())
            )
            response = connection.getresponse()
            body = response.read()
        except BaseException:
            self._drop_connection(parts.scheme, parts.netloc)
            raise
        if response.will_close:
            self._drop_connection(parts.scheme, parts.netloc)
        else:
            self._idle_since()[(parts.scheme, parts.netloc)] = time.monotonic()
        charset = response.headers.get_content_charset() or "utf-8"
        if response.headers.get_content_type() == "application/gzip":
            return {"status": response.status, "headers": response.headers, "body": body}
        headers = dict(response.headers.items())
        return {"status": response.status, "headers": headers, "body": body.decode(charset)}

    def _pool(self) -> dict[tuple[str, str], http.client.HTTPConnection]:
        pool = getattr(self._connections, "pool", None)
        if pool is None:
            pool = self._connections.pool = {}
            self._connections.idle = {}
        return pool

    def _idle_since(self) -> dict[tuple[str, str], float]:
        self._pool()
        return self._connections.idle

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        pool, key = self._pool(), (scheme, netloc)
        connection = pool.get(key)
        idle = self._idle_since().get(key, 0.0)
        if connection is not None and (
            time.monotonic() - idle > KEEPALIVE_IDLE_SECONDS or _closed_by_peer(connection)
        ):
            self._drop_connection(scheme, netloc)
            connection = None
        if connection is None:
            if scheme == "https":
                connection = http.client.HTTPSConnection(
                    netloc, timeout=self.timeout, context=self.ssl
                )
            else:
                connection = http.client.HTTPConnection(netloc, timeout=self.timeout)
            pool[key] = connection
        return connection

    def _drop_connection(self, scheme: str, netloc: str) -> None:
        connection = self._pool().pop((scheme, netloc), None)
        self._idle_since().pop((scheme, netloc), None)
        if connection is not None:
            connection.close()


def _closed_by_peer(connection: http.client.HTTPConnection) -> bool:
    """True when the server has closed (or sent something unasked on) an idle connection:
    reusing it would fail the request, so it is replaced first (as urllib3 does)."""
    sock = connection.sock
    if sock is None:
        return False  # not connected yet: the request connects
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _channel_of_kwargs(kwargs: dict[str, Any]) -> str | None:
    for part in ("json", "data", "params"):
        values = kwargs.get(part)
        if isinstance(values, dict) and values.get("channel"):
            return str(values["channel"])
    return None


def _channel_of_request(request: HttpRequest) -> str | None:
    if request.body_params and request.body_params.get("channel"):
        return str(request.body_params["channel"])
    if request.data:
        try:
            body = json.loads(request.data)
        except ValueError:
            return None
        if isinstance(body, dict) and body.get("channel"):
            return str(body["channel"])
    return None


def _retry_after(response: HttpResponse) -> float:
    for name, values in response.headers.items():
        if name.lower() == "retry-after" and values:
            try:
                return float(values[0])
            except (TypeError, ValueError):
                break
    return 1.0  # Slack always sends it; if not, what slack_sdk waits too


def pacer_for(settings: Settings) -> ChannelPacer:
    """The per-channel pacer for AWSSEC_CHANNEL_POSTS_PER_MINUTE (0: no spacing)."""
    return ChannelPacer(posts_per_second=settings.channel_posts_per_minute / 60)


def create_client(
    settings: Settings,
    logger: logging.Logger | None = None,
    *,
    pacer: ChannelPacer | None = None,
) -> PacedWebClient:
    pacer = pacer or pacer_for(settings)
    return PacedWebClient(
        token=settings.bot_token,
        base_url=settings.api_base_url,
        timeout=API_TIMEOUT_SECONDS,
        retry_handlers=retry_handlers(pacer=pacer),
        logger=logger,
        pacer=pacer,
    )
