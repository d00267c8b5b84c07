"""The Bolt app factory."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from slack_bolt import App, BoltContext, BoltRequest, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.middleware import Middleware
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient

from bot.config import Settings
from bot.slack.answering.deps import CONTEXT_KEY, AnswerSource, Deps
from bot.slack.listeners import register_listeners
from bot.slack.reliability.claims import CLAIMS_CONTEXT_KEY, EventClaims
from bot.slack.reliability.client import PacedWebClient, create_client, pacer_for
from bot.slack.reliability.dedup import Deduplicator, MemoryDeduplicator, StoreDeduplicator
from bot.slack.reliability.identity import (
    TOKEN_ROTATION_EXPIRATION_MINUTES,
    BotIdentity,
    InstallationAuthorize,
)
from bot.slack.reliability.pacing import INTERACTIVE, ListenerExecutor, set_route

if TYPE_CHECKING:
    from bot.storage import Store

log = logging.getLogger(__name__)

# Threads per process for interactive work (button clicks, modals, slash commands): little
# CPU each, but a click's trigger_id expires 3 s after the click, so they never queue
# behind answers. More costs only idle threads; fewer lets a burst of clicks queue.
INTERACTIVE_THREADS = 8
# Shared clients kept per token (one per workspace with OAuth); past this the oldest is
# dropped and rebuilt when next needed (costs one object, no network).
MAX_SHARED_CLIENTS = 256


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

    With OAuth settings (`settings.oauth`, many workspaces) the app serves Bolt's install
    flow and takes each team's token from slack_sdk's installation store on `store`'s
    database (required then); `identity` is not used.
    """
    if dedup is None:
        dedup = StoreDeduplicator(store) if store is not None else MemoryDeduplicator()
    deps = Deps(
        service=service, dedup=dedup, store=store, admins=settings.admins, settings=settings
    )
    use_learned = getattr(service, "use_learned", None)
    if store is not None and use_learned is not None:
        # Answer with what admins and experts taught, noticed in every process by a
        # version check (bot/matcher/service.py LEARNED_CHECK_SECONDS).
        use_learned(store)
    # Acknowledged mentions and DMs are claimed durably before the ack and answered by
    # another process if this one dies (bot/slack/reliability/claims.py).
    claims = (
        EventClaims(store, dedup, lease_seconds=settings.claim_lease_seconds)
        if store is not None
        else None
    )
    authorization: dict[str, Any]
    if settings.oauth:
        # Tokens come from the installations only, even if SLACK_BOT_TOKEN is set too.
        client = client or create_client(dataclasses.replace(settings, bot_token=None))
        authorization = _oauth(settings, store, client)
    else:
        client = client or create_client(settings)
        if identity is None:
            identity = BotIdentity(client).start()
        # Never call auth.test in the ack path (Bolt's default does, on the first request):
        # the identity is resolved in the background and `authorize` returns what is known.
        # A Slack outage at boot can neither crash-loop the server nor delay an ack.
        authorization = {"authorize": _authorize(identity)}
    executor = listener_executor or ListenerExecutor(
        answering_threads=settings.listener_threads,
        interactive_threads=INTERACTIVE_THREADS,
        pacer=client.pacer if isinstance(client, PacedWebClient) else pacer_for(settings),
    )
    app = App(
        client=client,
        signing_secret=settings.signing_secret,
        # Ack in the request thread, then do the work in lazy listeners: acks stay fast
        # whatever the matcher or Slack's Web API are doing.
        process_before_response=True,
        **authorization,
        # Before anything else looks at the body (after the signature check).
        before_authorize=_RejectMalformedEvents(),
        ignoring_self_events_enabled=True,
        # Socket Mode does not need a signing secret; HTTP mode requires one (see settings).
        request_verification_enabled=settings.signing_secret is not None,
        # Lazy listeners run apart from the acks: interactive work (clicks, modals) on a
        # pool of its own, answers in per-channel lanes paced to Slack's per-channel limit.
        listener_executor=executor,
        logger=_bolt_logger(),
        # A request no listener handles goes to the error handler (listeners/unhandled.py):
        # a 404 and one log line, not Bolt's multi-line warning with sample code.
        raise_error_for_unhandled_request=True,
    )
    # After authorization (Bolt's own middleware comes first): the team's token is known.
    # Before function middleware, which builds `say` with the client it finds.
    app.use(_RouteAndShareClient(client))
    app.use(_inject(deps))
    if claims is not None:
        app.use(_inject_claims(claims))
    register_listeners(app)
    if claims is not None:
        claims.start(app)  # renews this process's leases, answers a dead worker's events
    return app


def _oauth(settings: Settings, store: Store | None, client: WebClient) -> dict[str, Any]:
    """Bolt's OAuth flow on slack_sdk's SQLAlchemy stores, and the per-team `authorize`."""
    from bot.storage.installations import STATE_EXPIRATION_SECONDS, open_installation_stores

    if store is None or settings.client_id is None or settings.client_secret is None:
        raise ValueError("OAuth (many workspaces) needs the store and the client id and secret")
    stores = open_installation_stores(store.engine, settings.client_id)
    oauth_settings = OAuthSettings(
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        scopes=list(settings.oauth_scopes),
        user_scopes=[],  # a bot: no user tokens to ask for, store or revoke
        redirect_uri=settings.redirect_uri,
        installation_store=stores.installations,
        # Bot scopes only: look up bots (find_bot), not installers' installations.
        installation_store_bot_only=True,
        token_rotation_expiration_minutes=TOKEN_ROTATION_EXPIRATION_MINUTES,
        state_store=stores.states,
        state_expiration_seconds=STATE_EXPIRATION_SECONDS,
        logger=_bolt_logger(),
    )
    authorize = InstallationAuthorize(
        reader=stores.reader,
        writer=stores.installations,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        # The app's client: OAuth calls (oauth.v2.access, token refreshes) honour
        # SLACK_API_BASE_URL and the retry handlers like every other call.
        client=client,
        token_rotation_expiration_minutes=TOKEN_ROTATION_EXPIRATION_MINUTES,
    )
    # Bolt's OAuthFlow uses the App's client (base URL included) for oauth.v2.access.
    return {"oauth_settings": oauth_settings, "authorize": authorize}


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


class _RouteAndShareClient(Middleware):
    """Picks the pool for this request's lazy listener, and hands listeners the shared
    paced client.

    The route is set in the request thread just before Bolt submits the lazy listener from
    that same thread (see `pacing.ListenerExecutor`): events go to their channel's lane,
    everything else (clicks, modals, commands) to the interactive pool. Bolt builds a new
    WebClient for every request, which would bypass the pacer and the kept-alive
    connections and be deep-copied for each lazy listener; the shared client (one per
    token) is not copied.
    """

    def __init__(self, client: WebClient) -> None:
        self._template = client if isinstance(client, PacedWebClient) else None
        self._clients: OrderedDict[str, PacedWebClient] = OrderedDict()
        self._lock = threading.Lock()

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        body = req.body if isinstance(req.body, dict) else {}
        if body.get("type") == "event_callback":
            event = body.get("event") or {}
            channel = event.get("channel") if isinstance(event, dict) else None
            set_route(channel if isinstance(channel, str) and channel else None)
        else:
            set_route(INTERACTIVE)
        token = req.context.token
        if self._template is not None and token:
            req.context["client"] = self._client_for(token)
            # A `say` built before this (function middleware builds every argument) would
            # hold Bolt's client; built again on first use, it holds the shared one.
            req.context.pop("say", None)
        return next()

    def _client_for(self, token: str) -> PacedWebClient:
        # A lost race builds one client too many (harmless); the lock guards the eviction.
        client = self._clients.get(token)
        if client is None:
            assert self._template is not None
            client = self._template.with_token(token)
            with self._lock:
                self._clients[token] = client
                while len(self._clients) > MAX_SHARED_CLIENTS:
                    self._clients.popitem(last=False)
        return client


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


def _inject_claims(claims: EventClaims) -> Callable[..., Any]:
    def inject_claims(context: BoltContext, next: Callable[[], Any]) -> Any:
        context[CLAIMS_CONTEXT_KEY] = claims
        return next()

    return inject_claims


def _inject(deps: Deps) -> Callable[..., Any]:
    def inject_deps(context: BoltContext, next: Callable[[], Any]) -> Any:
        context[CONTEXT_KEY] = deps
        return next()

    return inject_deps
