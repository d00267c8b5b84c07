"""The Slack Web API client: configurable base URL and bounded retries."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler

from bot.config import Settings

# Bounded: a reply that still fails after this is logged and dropped; the app keeps serving.
MAX_RETRIES = 3
API_TIMEOUT_SECONDS = 10


def retry_handlers(max_retries: int = MAX_RETRIES) -> list[RetryHandler]:
    """429 waits for Retry-After; connection errors and 5xx back off (0.5 s, 1 s, ...)."""
    return [
        ConnectionErrorRetryHandler(max_retry_count=max_retries),
        RateLimitErrorRetryHandler(max_retry_count=max_retries),
        ServerErrorRetryHandler(max_retry_count=max_retries),
    ]


def create_client(settings: Settings, logger: logging.Logger | None = None) -> WebClient:
    return WebClient(
        token=settings.bot_token,
        base_url=settings.api_base_url,
        timeout=API_TIMEOUT_SECONDS,
        retry_handlers=retry_handlers(),
        logger=logger,
    )
