"""Per-channel pacing of posts, and the thread pools that keep waits away from everyone else.

Slack lets an app post about one message per second into one channel (short bursts
allowed) and answers faster posting with HTTP 429 and a `Retry-After`. Two parts keep one
busy or rate-limited channel from slowing down the others:

- `ChannelPacer` spaces posts per channel (a token bucket: `burst` posts back to back, then
  one every `1 / posts_per_second` seconds) and remembers a channel's `Retry-After`, so a
  post waits for its own channel's slot instead of tripping a 429.
- `ListenerExecutor` runs Bolt's lazy listeners on two pools. Interactive work (button
  clicks, modals, slash commands: a `trigger_id` expires 3 s after the click) has a pool of
  its own that never waits on pacing. Answering work (events) runs in per-channel lanes:
  at most one job per channel at a time, started only once that channel's pacer slot is
  due, so a channel that must wait holds at most one thread (during a `Retry-After`) and
  holds no thread at all while it waits for its next slot. Other channels keep the rest.

Pacing is per process: with several workers (or dynos) a channel can get one post per
second from each; Slack's short bursts and the per-channel 429 handling cover that.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from functools import partial
from typing import Any

log = logging.getLogger(__name__)

# Slack's documented limit for chat.postMessage: about one message per second per channel.
# Higher risks 429s (each then costs that channel its Retry-After); lower delays replies in a
# busy channel for nothing.
POSTS_PER_SECOND = 1.0
# Posts a quiet channel may send back to back before the spacing applies ("short bursts are
# allowed"). Higher answers a burst of questions sooner but is more likely to meet a 429.
BURST = 3
# Channels whose pacing state is kept; past this, channels with nothing pending are
# forgotten (a forgotten channel starts again with a full burst, which is what it would
# have by then anyway). Bounds memory whatever the number of channels.
MAX_TRACKED_CHANNELS = 10_000
# A Retry-After longer than this is capped: a broken or hostile header must not park a
# channel for hours (Slack's own values are seconds to a minute).
MAX_HOLD_SECONDS = 120.0


class ChannelPacer:
    """When each channel may get its next post (the generic cell rate algorithm, GCRA)."""

    def __init__(
        self,
        posts_per_second: float = POSTS_PER_SECOND,
        burst: int = BURST,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if posts_per_second < 0 or burst < 1:
            raise ValueError("posts_per_second must be >= 0 and burst >= 1")
        # 0 posts per second turns the spacing off; Retry-After holds still apply.
        self._interval = 1.0 / posts_per_second if posts_per_second > 0 else 0.0
        self._tolerance = (burst - 1) * self._interval
        self._clock = clock
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}  # theoretical time of the channel's next post
        self._held: dict[str, float] = {}  # no post before this (a 429's Retry-After)

    # One pacer per process, shared by every client and lane: Bolt deep-copies the request
    # context (which holds the client) for each lazy listener; a copy would pace nothing.
    def __copy__(self) -> ChannelPacer:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> ChannelPacer:
        return self

    @property
    def interval(self) -> float:
        return self._interval

    def delay(self, channel: str) -> float:
        """Seconds until `channel` may get a post (0: now), reserving nothing."""
        with self._lock:
            now = self._clock()
            return max(0.0, self._earliest(channel, now) - now)

    def reserve(self, channel: str) -> float:
        """Take `channel`'s next slot; the seconds to wait before posting in it."""
        with self._lock:
            now = self._clock()
            start = max(now, self._earliest(channel, now))
            self._next[channel] = max(self._next.get(channel, start), start) + self._interval
            if len(self._next) > MAX_TRACKED_CHANNELS:
                self._forget_idle(now)
            return start - now

    def hold(self, channel: str, seconds: float) -> None:
        """Slack said 429 for `channel`: no post there for `seconds` (Retry-After)."""
        with self._lock:
            until = self._clock() + min(max(seconds, 0.0), MAX_HOLD_SECONDS)
            self._held[channel] = max(self._held.get(channel, 0.0), until)
        log.warning("Slack rate-limited posts to a channel: holding it for %.0f s", seconds)

    def _earliest(self, channel: str, now: float) -> float:
        paced = self._next.get(channel, now) - self._tolerance
        return max(paced, self._held.get(channel, now))

    def _forget_idle(self, now: float) -> None:
        for table in (self._next, self._held):
            for channel in [c for c, at in table.items() if at <= now]:
                del table[channel]


class ChannelLanes:
    """Jobs run on `pool`, one at a time per key (a channel), each once its slot is due.

    A job waiting for its channel's slot sits in a timer heap, not in a thread. Jobs of one
    channel keep their order.
    """

    def __init__(self, pool: ThreadPoolExecutor, pacer: ChannelPacer) -> None:
        self._pool = pool
        self._pacer = pacer
        self._lock = threading.Lock()
        self._queues: dict[Hashable, deque[tuple[Callable[[], Any], Future[Any]]]] = {}
        self._timers: list[tuple[float, int, Hashable]] = []
        self._tie = itertools.count()
        self._wake = threading.Condition(self._lock)
        self._timer_thread: threading.Thread | None = None
        self._closed = False

    def submit(self, key: Hashable, fn: Callable[[], Any]) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new work after shutdown")
            queue = self._queues.get(key)
            if queue is not None:  # the channel has a job running or waiting: queue behind it
                queue.append((fn, future))
                return future
            self._queues[key] = deque([(fn, future)])
            self._start_locked(key)
        return future

    def pending(self) -> int:
        with self._lock:
            return sum(len(q) for q in self._queues.values())

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            self._closed = True
            self._wake.notify_all()
        self._pool.shutdown(wait=wait)

    def _start_locked(self, key: Hashable) -> None:
        delay = self._pacer.delay(str(key))
        if delay <= 0:
            self._pool.submit(self._run, key)
            return
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._tie), key))
        if self._timer_thread is None:
            self._timer_thread = threading.Thread(
                target=self._timer_loop, name="awssec-pacer", daemon=True
            )
            self._timer_thread.start()
        self._wake.notify()

    def _run(self, key: Hashable) -> None:
        with self._lock:
            fn, future = self._queues[key][0]
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to whoever holds the future
                future.set_exception(exc)
        with self._lock:
            queue = self._queues[key]
            queue.popleft()
            if not queue:
                del self._queues[key]
            elif not self._closed:
                self._start_locked(key)

    def _timer_loop(self) -> None:
        with self._lock:
            while not self._closed:
                if not self._timers:
                    self._wake.wait()
                    continue
                due, _, key = self._timers[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                heapq.heappop(self._timers)
                self._pool.submit(self._run, key)


# Which pool the next lazy listener submitted from this thread goes to: set for each request
# by `route_request` (a Bolt middleware running in the request thread, just before Bolt
# submits that request's lazy listeners from the same thread).
_route = threading.local()
INTERACTIVE = "interactive"


def set_route(route: str | None) -> None:
    """`INTERACTIVE`, a channel id (answering work in that channel's lane) or None
    (answering work bound to no channel)."""
    _route.value = route


class ListenerExecutor(Executor):
    """The executor Bolt runs lazy listeners on: interactive work and answering work apart."""

    def __init__(
        self, *, answering_threads: int, interactive_threads: int, pacer: ChannelPacer
    ) -> None:
        self.pacer = pacer
        self.interactive = ThreadPoolExecutor(
            max_workers=interactive_threads, thread_name_prefix="awssec-click"
        )
        self.answering = ThreadPoolExecutor(
            max_workers=answering_threads, thread_name_prefix="awssec-answer"
        )
        self.lanes = ChannelLanes(self.answering, pacer)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        route = getattr(_route, "value", None)
        if route == INTERACTIVE:
            return self.interactive.submit(fn, *args, **kwargs)
        job = partial(fn, *args, **kwargs)
        if route is None:
            return self.answering.submit(job)
        return self.lanes.submit(route, job)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.interactive.shutdown(wait=wait, cancel_futures=cancel_futures)
        self.lanes.shutdown(wait=wait)
