"""No acknowledged question lost: durable claims before the ack, a sweeper for dead workers.

Slack does not resend an event it got a 200 for, and the answer is worked out after the ack
(Bolt lazy listeners in a thread pool). A worker killed with work queued used to lose those
questions. Now, for the events that are answered (mentions, DMs, thread follow-ups and
questions in auto-answer channels):

1. `claim_then_ack` (the ack function) claims the message for de-duplication and writes its
   body as a pending row, in one transaction, *then* acks. A duplicate delivery loses the
   claim and is acked without an answer.
2. The lazy listener (wrapped in `forget_when_answered`) answers and deletes the row right
   after the reply is posted.
3. Every process runs one `EventClaims` thread: it renews the leases of its own rows and
   takes over rows whose lease lapsed (their worker died), replaying each through the Bolt
   app (same listeners, same authorization) as if Slack had delivered it again.

Exactly one reply holds while workers live; across a crash between the post and the delete
the event is answered again (at-least-once), a window of one small DELETE (see
docs/deployment.md). While the database is unavailable the claim falls back to memory and
nothing is durable (logged by the storage breaker).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from slack_bolt.context.say import Say

from bot.slack.reliability.dedup import Deduplicator, delivery_key, remember

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.storage import Store
    from bot.storage.claims import PendingEvents

log = logging.getLogger(__name__)

# Where the ack tells the lazy listener what it claimed (a plain dict: Bolt copies context).
CLAIM_CONTEXT_KEY = "awssec_claim"
# Where the app finds this process's EventClaims (set by a middleware in app.py).
CLAIMS_CONTEXT_KEY = "awssec_claims"
# Set (by the sweeper only, never from a request) on a replayed event's context: its key.
REPLAY_CONTEXT_KEY = "awssec_replay"

# How long a worker's claims stay its own without renewal. A dead worker's questions wait
# this long (plus one sweep) before another worker answers them; too short and a worker
# stalled that long (a stuck database, a long GC) has its questions answered twice.
DEFAULT_LEASE_SECONDS = 30.0
# Leases are renewed (and lapsed ones looked for) this many times per lease: three renewals
# in a row must fail before a live worker's claims can lapse.
TICKS_PER_LEASE = 4
# Lapsed claims taken over per sweep: bounds the burst one process replays at once.
SWEEP_BATCH = 50
# A claim taken over this many times is dropped (logged): an event that kills every worker
# that tries it must not go round for ever.
MAX_ATTEMPTS = 3
# The ack waits at most this long for the claim; Slack wants the ack within 3 s. Longer
# rides out a slower database; shorter leaves more of Slack's 3 s for the network.
ACK_CLAIM_DEADLINE_SECONDS = 1.5
# The metadata event type on replies, naming the claim they answer (see `already_answered`).
ANSWER_EVENT_TYPE = "awssec_answer"
# Messages read back when looking for an earlier reply: a replayed claim is minutes old at
# most, so its reply is among the first messages after the question.
HISTORY_LOOKUP_LIMIT = 100
# De-duplication keys live this long (Slack retries for about 5 minutes).
DEDUP_TTL_SECONDS = 600
# Deletes kept for retry while the database is unavailable; past this, further ones are not
# retried (memory stays bounded in a long outage; a leftover row is found by its metadata).
MAX_UNFORGOTTEN = 10_000
# Body fields not needed to answer, dropped before the body is stored: Slack's deprecated
# verification token (a secret) and the event's rich-text copy of its text.
_DROPPED_BODY_FIELDS = ("token",)
_DROPPED_EVENT_FIELDS = ("blocks",)


def process_owner() -> str:
    """A name for this process's claims, unique across hosts, processes and restarts."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


class EventClaims:
    """This process's durable claims: claiming (in acks), forgetting, renewing, sweeping."""

    def __init__(
        self,
        store: Store,
        dedup: Deduplicator,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        owner: str | None = None,
    ) -> None:
        from bot.storage.claims import PendingEvents

        self.dedup = dedup
        self.lease_seconds = lease_seconds
        self.pending: PendingEvents = PendingEvents(store, owner or process_owner(), lease_seconds)
        self._unforgotten: set[str] = set()  # answered, but the delete failed: retried
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._app: App | None = None
        # Cleared when the process begins to exit: its own queue still drains (and its
        # leases are still renewed meanwhile), but it takes over nothing new.
        self._taking_over = threading.Event()
        self._taking_over.set()
        self.replayed = 0  # for logs and tests
        _PROCESS_CLAIMS.append(self)

    # Bolt deep-copies `context` for lazy listeners: share this object, do not copy it.
    def __copy__(self) -> EventClaims:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> EventClaims:
        return self

    @property
    def owner(self) -> str:
        return self.pending.owner

    # --- the ack and the listener ------------------------------------------------------------

    def claim(self, key: str, body: dict[str, Any]) -> tuple[bool, bool]:
        """(won, durable): won when this delivery is the first; durable when its pending row
        was written (a lost worker's question will then be answered by another)."""
        from bot.storage.errors import StorageError

        try:
            won = self.pending.claim(
                key,
                _storable_body(body),
                ttl_seconds=DEDUP_TTL_SECONDS,
                deadline=ACK_CLAIM_DEADLINE_SECONDS,
            )
        except StorageError:
            # Logged once per outage by the storage breaker. Per-process memory from here:
            # answered once per worker, not durable.
            return self.dedup.claim(key), False
        remember(self.dedup, key)  # so the memory fallback knows it during an outage
        return won, won

    def forget(self, key: str) -> None:
        """The reply to `key` was posted (or given up): delete its pending row.

        The delete is queued (group-committed with this process's next writes) and not
        waited for: the answering thread moves on to the next question. A crash in the
        milliseconds before it commits leaves the row, and the replay finds the reply's
        metadata (`already_answered`) and stays silent.
        """
        self.pending.done_soon([key], self._keep_for_retry)

    def _keep_for_retry(self, keys: list[str]) -> None:
        # Kept until the delete succeeds (the sweeper retries); meanwhile the lease is
        # renewed, so no other process answers it again while this one lives.
        with self._lock:
            for key in keys:
                if len(self._unforgotten) < MAX_UNFORGOTTEN:
                    self._unforgotten.add(key)

    # --- the sweeper -------------------------------------------------------------------------

    def start(self, app: App) -> EventClaims:
        """Renew and sweep in a daemon thread of this process (started once)."""
        with self._lock:
            self._app = app
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="awssec-claims", daemon=True)
                self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def stop_taking_over(self) -> None:
        """The process is exiting: keep renewing its own leases, take over no more."""
        self._taking_over.clear()

    def _run(self) -> None:
        interval = self.lease_seconds / TICKS_PER_LEASE
        while not self._stop.wait(interval):
            try:
                self.tick()
            except Exception:  # never let the sweeper die; the next tick tries again
                log.exception("claims: sweep failed")

    def tick(self) -> int:
        """One round: retry deletes, renew this process's leases, replay lapsed claims.
        Returns how many claims were replayed."""
        from bot.storage.errors import StorageError

        with self._lock:
            unforgotten = list(self._unforgotten)
        if unforgotten:
            try:
                self.pending.done(unforgotten)
            except StorageError:
                return 0
            with self._lock:
                self._unforgotten.difference_update(unforgotten)
        try:
            self.pending.renew()
            if not self._taking_over.is_set():
                return 0
            lapsed = self.pending.take_lapsed(SWEEP_BATCH)
        except StorageError:
            return 0  # the breaker logged it; the next tick tries again
        replayed = 0
        for pending in lapsed:
            if pending.attempts > MAX_ATTEMPTS:
                log.error(
                    "claims: dropped event %s after %d takeovers (it may crash workers)",
                    pending.body.get("event_id") or "?",
                    pending.attempts - 1,
                )
                self.forget(pending.key)
                continue
            if self._replay(pending.key, pending.body):
                replayed += 1
        if replayed:
            self.replayed += replayed
            log.warning("claims: answering %d event(s) acknowledged by a lost worker", replayed)
        return replayed

    def _replay(self, key: str, body: dict[str, Any]) -> bool:
        from slack_bolt import BoltRequest

        app = self._app
        if not self._taking_over.is_set():
            return False  # exiting: the claim lapses again and another process takes it
        if app is None or not isinstance(body.get("event"), dict):
            self.forget(key)
            return False
        # Socket Mode requests skip the signature check (there is no HTTP request); the key
        # rides in the context, which no request from outside can set.
        request = BoltRequest(body=body, context={REPLAY_CONTEXT_KEY: key}, mode="socket_mode")
        try:
            app.dispatch(request)
        except Exception:
            log.exception("claims: replaying an event failed")
            return False
        return True


# Every EventClaims of this process (normally one), for `stop_taking_over_in_process`.
_PROCESS_CLAIMS: list[EventClaims] = []


def stop_taking_over_in_process() -> None:
    """For shutdown hooks (gunicorn's worker_exit): this process's sweepers stop taking
    over other workers' claims; their own queued answers still go out."""
    for claims in list(_PROCESS_CLAIMS):
        claims.stop_taking_over()


def claims_of(context: Any) -> EventClaims | None:
    claims = context.get(CLAIMS_CONTEXT_KEY) if context is not None else None
    return claims if isinstance(claims, EventClaims) else None


def claim_then_ack(ack: Callable[..., Any], body: dict[str, Any], context: Any) -> None:
    """The ack function of answered events: claim durably, then ack.

    Without `EventClaims` in the context (unit tests, no store) it only acks, and the lazy
    listener de-duplicates as before.
    """
    claims = claims_of(context)
    if claims is not None:
        replay = context.get(REPLAY_CONTEXT_KEY)
        if isinstance(replay, str):
            # The sweeper took this claim over: it was won (and de-duplicated) before.
            context[CLAIM_CONTEXT_KEY] = {
                "key": replay,
                "won": True,
                "durable": True,
                "replay": True,
            }
        else:
            event = found if isinstance(found := body.get("event"), dict) else {}
            key = delivery_key(body, event)
            if key is not None:
                won, durable = claims.claim(key, body)
                context[CLAIM_CONTEXT_KEY] = {"key": key, "won": won, "durable": durable}
    ack()


def claimed_in_ack(context: Any) -> bool | None:
    """True/False when the ack already claimed this delivery (won or lost); None when it
    did not (the listener de-duplicates itself)."""
    claim = context.get(CLAIM_CONTEXT_KEY) if context is not None else None
    if not isinstance(claim, dict):
        return None
    return bool(claim.get("won"))


def forget_when_answered(listener: Callable[..., None]) -> Callable[..., None]:
    """Wrap a lazy listener (it must take `context`): once it returns (the reply posted, or
    nothing to answer), the durable claim made in the ack is deleted.

    Replies posted through `say` carry the claim key as message metadata, so a replay (the
    sweeper answering for a dead worker) first looks for a reply that worker posted just
    before it died and stays silent if there is one. Bolt sees the listener's own signature.
    """

    @wraps(listener)
    def answering(**kwargs: Any) -> None:
        context = kwargs.get("context")
        claim = context.get(CLAIM_CONTEXT_KEY) if context is not None else None
        claims = claims_of(context)
        # Durable claims, and won claims whose write timed out in the ack (it may still have
        # landed): tagged replies, and a delete once answered.
        if not (isinstance(claim, dict) and claim.get("won") and claims is not None):
            listener(**kwargs)
            return
        key = str(claim["key"])
        try:
            say = kwargs.get("say")
            if isinstance(say, Say):
                kwargs["say"] = Say(
                    client=say.client,
                    channel=say.channel,
                    thread_ts=say.thread_ts,
                    metadata=answer_metadata(key),
                )
            client = kwargs.get("client") or (say.client if isinstance(say, Say) else None)
            event = kwargs.get("event")
            if claim.get("replay") and already_answered(client, event, key):
                log.info("claims: a lost worker had answered %s already; not again", key[:40])
                return
            listener(**kwargs)
        finally:
            claims.forget(key)

    return answering


def answer_metadata(key: str) -> dict[str, Any]:
    """Slack message metadata naming the claim a reply answers (no user text in it)."""
    return {"event_type": ANSWER_EVENT_TYPE, "event_payload": {"claim": key}}


def already_answered(client: Any, event: Any, key: str) -> bool:
    """True when Slack holds a reply carrying `key`'s metadata (posted by a worker that died
    before it could delete the claim). On any error, False: answering twice beats never."""
    if client is None or not isinstance(event, dict) or not event.get("channel"):
        return False
    channel, ts = str(event["channel"]), str(event.get("ts") or "")
    thread = str(event.get("thread_ts") or ts)
    lookups: list[tuple[str, dict[str, Any]]] = [
        # A threaded reply (mentions, questions asked in a thread).
        ("conversations_replies", {"channel": channel, "ts": thread}),
        # A top-level reply (a DM), posted after the question.
        ("conversations_history", {"channel": channel, "oldest": ts}),
    ]
    for method, params in lookups:
        try:
            response = getattr(client, method)(
                **params, include_all_metadata=True, limit=HISTORY_LOOKUP_LIMIT
            )
        except Exception as exc:  # missing scope, Slack down: answer again
            log.warning("claims: could not look for an earlier reply (%s): %s", method, exc)
            continue
        for message in response.get("messages") or []:
            metadata = message.get("metadata") if isinstance(message, dict) else None
            if (
                isinstance(metadata, dict)
                and metadata.get("event_type") == ANSWER_EVENT_TYPE
                and (metadata.get("event_payload") or {}).get("claim") == key
            ):
                return True
    return False


def _storable_body(body: dict[str, Any]) -> dict[str, Any]:
    stored = {k: v for k, v in body.items() if k not in _DROPPED_BODY_FIELDS}
    event = stored.get("event")
    if isinstance(event, dict):
        stored["event"] = {k: v for k, v in event.items() if k not in _DROPPED_EVENT_FIELDS}
    return stored
