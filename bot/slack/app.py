"""The Bolt app factory."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from slack_bolt import App, BoltContext, BoltRequest, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.middleware import Middleware
from slack_sdk import WebClient

from bot.config import Settings
from bot.slack.answering.deps import CONTEXT_KEY, AnswerSource, Deps
from bot.slack.listeners import register_listeners
from bot.slack.reliability.breaker import DatabaseBreaker
from bot.slack.reliability.client import create_client
from bot.slack.reliability.dedup import Deduplicator, MemoryDeduplicator, StoreDeduplicator
from bot.slack.reliability.identity import BotIdentity

if TYPE_CHECKING:
    from bot.storage import Store

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    service: AnswerSource,
    *,
    store: Store | None = None,
    dedup: Deduplicator | None = None,
    client: WebClient | None = None,
    listener_executor: Executor | None = None,
    identity: BotIdentity | None = None,
) -> App:
    """A Bolt app answering with `service`, ready for HTTP or Socket Mode.

    `store` records answers and feedback and (unless `dedup` is given) de-duplicates events
    across processes; without it nothing is recorded and de-duplication is in memory.
    `identity` (default: a new one, started here) resolves the bot's user id in the
    background; requests never wait for it.
    """
    breaker = DatabaseBreaker()
    if dedup is None:
        dedup = (
            StoreDeduplicator(store, breaker=breaker) if store is not None else MemoryDeduplicator()
        )
    deps = Deps(service=service, dedup=dedup, store=store, admins=settings.admins, breaker=breaker)
    client = client or create_client(settings)
    if identity is None:
        identity = BotIdentity(client).start()
    app = App(
        client=client,
        signing_secret=settings.signing_secret,
        # Ack in the request thread, then do the work in lazy listeners: acks stay fast
        # whatever the matcher or Slack's Web API are doing.
        process_before_response=True,
        # Never call auth.test in the ack path (Bolt's default does, on the first request):
        # the identity is resolved in the background and `authorize` returns what is known.
        # A Slack outage at boot can neither crash-loop the server nor delay an ack.
        authorize=_authorize(identity),
        # Before anything else looks at the body (after the signature check).
        before_authorize=_RejectMalformedEvents(),
        ignoring_self_events_enabled=True,
        # Socket Mode does not need a signing secret; HTTP mode requires one (see settings).
        request_verification_enabled=settings.signing_secret is not None,
        # Threads running lazy listeners (matching + Web API calls). A reply takes ~1 ms, so
        # four keep up with 500 events/s; more threads mostly add GIL contention with acks.
        listener_executor=listener_executor
        or ThreadPoolExecutor(max_workers=settings.listener_threads, thread_name_prefix="awssec"),
        logger=_bolt_logger(),
    )
    app.use(_inject(deps))
    register_listeners(app)
    return app


def _authorize(identity: BotIdentity) -> Callable[..., AuthorizeResult]:
    # Bolt passes arguments by name, so a plain function (not a bound method).
    def authorize(
        enterprise_id: str | None, team_id: str | None, user_id: str | None
    ) -> AuthorizeResult:
        return identity.authorize(enterprise_id, team_id, user_id)

    return authorize


class _RejectMalformedEvents(Middleware):
    """400 for a (signed) event callback whose `event` is not an object.

    Bolt assumes `body["event"]` is a dict, in its own kwargs building as much as in our
    listeners, and would answer 500 with a traceback. A `Middleware` subclass (not a plain
    function) because Bolt builds a function middleware's arguments from the body too.
    """

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        body = req.body
        if not isinstance(body, dict) or (
            body.get("type") == "event_callback" and not isinstance(body.get("event"), dict)
        ):
            log.warning("rejected a malformed event callback")
            return BoltResponse(status=400, body="malformed event")
        return next()


class _DropEnvTokenWarning(logging.Filter):
    # Bolt reads SLACK_BOT_TOKEN from the environment by itself and then warns that our
    # client (which holds that same token) wins, or that `authorize` makes it ignore the
    # token; both are noise: the token is used through `authorize`.
    def filter(self, record: logging.LogRecord) -> bool:
        msg = str(record.msg)
        return not msg.startswith(("As you gave `client` as well", "As `installation_store`"))


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
