"""The Bolt app factory."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from bot.slack.client import create_client
from bot.slack.dedup import Deduplicator, MemoryDeduplicator, StoreDeduplicator
from bot.slack.deps import CONTEXT_KEY, AnswerSource, Deps
from bot.slack.listeners import register_listeners
from bot.slack.settings import Settings

if TYPE_CHECKING:
    from bot.storage import Store

# Threads running lazy listeners (matching + Web API calls). A reply takes ~1 ms, so four
# keep up with 500 events/s; more threads mostly add GIL contention with the ack path.
LISTENER_THREADS = int(os.environ.get("AWSSEC_LISTENER_THREADS") or 4)

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    service: AnswerSource,
    *,
    store: Store | None = None,
    dedup: Deduplicator | None = None,
    client: WebClient | None = None,
    listener_executor: Executor | None = None,
) -> App:
    """A Bolt app answering with `service`, ready for HTTP or Socket Mode.

    `store` records answers and feedback and (unless `dedup` is given) de-duplicates events
    across processes; without it nothing is recorded and de-duplication is in memory.
    """
    if dedup is None:
        dedup = StoreDeduplicator(store) if store is not None else MemoryDeduplicator()
    deps = Deps(service=service, dedup=dedup, store=store, admins=settings.admins)
    app = App(
        client=client or create_client(settings),
        signing_secret=settings.signing_secret,
        # Ack in the request thread, then do the work in lazy listeners: acks stay fast
        # whatever the matcher or Slack's Web API are doing.
        process_before_response=True,
        # auth.test runs on the first request instead, so a Slack outage at boot cannot
        # crash-loop the server; a bad token is reported in the log by that first request.
        token_verification_enabled=False,
        ignoring_self_events_enabled=True,
        # Socket Mode does not need a signing secret; HTTP mode requires one (see settings).
        request_verification_enabled=settings.signing_secret is not None,
        listener_executor=listener_executor
        or ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="awssec"),
        logger=_bolt_logger(),
    )
    app.use(_inject(deps))
    register_listeners(app)
    return app


class _DropEnvTokenWarning(logging.Filter):
    # Bolt reads SLACK_BOT_TOKEN from the environment by itself and then warns that our
    # client (which holds that same token) wins; the warning is noise.
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("As you gave `client` as well")


def _bolt_logger() -> logging.Logger:
    logger = logging.getLogger("bot.slack.bolt")
    if not any(isinstance(f, _DropEnvTokenWarning) for f in logger.filters):
        logger.addFilter(_DropEnvTokenWarning())
    return logger


def _inject(deps: Deps) -> Callable[..., Any]:
    def inject_deps(context: BoltContext, next: Callable[[], Any]) -> Any:
        context[CONTEXT_KEY] = deps
        return next()

    return inject_deps
