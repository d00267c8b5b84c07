"""Load test for the HTTP mode: signed mention events at fixed rates, beside bare Bolt.

Starts a fake Slack Web API (127.0.0.1) and the real web server from the Procfile's `web:`
line pointed at it, sends `--rate` signed `app_mention` events per second for `--seconds`
(plus Slack-style retries of some of them), and reports ack latency (request sent -> 200)
and reply latency (event sent -> its reply received by the fake Slack), and whether every
event got exactly one reply. With `--rates 250,500,750` it runs each rate in turn; each
rate is also run, interleaved, against a bare Bolt app (bench/bare_bolt_app.py: the same
gunicorn settings, a constant reply) unless `--no-bare`. Capacity is the highest rate run
whose reply p99 stayed under `--reply-p99-ms` with nothing lost; the bot's capacity is then
given as a ratio of the bare app's.

    python bench/load_http.py --rates 250,500 --seconds 10
    python bench/load_http.py --database-url "$AWSSEC_TEST_POSTGRES_URL"   # PostgreSQL
    python bench/load_http.py --api-latency-ms 100    # a Web API as slow as Slack's

Every event is de-duplicated and recorded in the database, as in production. Events are
spread over `--channels` channels (default: two per event per second), as in a workspace:
Slack allows about one post per second per channel and the bot paces its posts to that.

Prints figures only. Exit status 0 when, at every rate, p99 ack < --p99-ms, no lost or
duplicate replies, and the achieved rate is within 5% of the asked rate.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import queue
import shlex
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "slack"))

from slackfakes import (  # noqa: E402  (path set just above)
    FakeSlackAPI,
    ServerProcess,
    event_body,
    free_port,
    get,
    mention_event,
    procfile_command,
    server_env,
    sign,
    sqlite_url,
    start_web,
)

QUESTIONS = (
    "which service finds PII?",
    "who is responsible for patching the OS on EC2?",
    "KMS vs CloudHSM",
    "how do I protect my site from DDoS attacks",
    "how do I block SQL injection on my ALB",
    "how do I rotate database credentials?",
    "<!channel> which service detects compromised instances?",
    "what is the difference between security groups and NACLs",
)
# Channels of their own per run: events are de-duplicated by channel and ts in the database,
# which a reused DATABASE_URL keeps between runs.
RUN_ID = f"{os.getpid()}{int(time.time())}"
# Channels per event per second when --channels is not given: each channel then gets one
# post every two seconds, under Slack's one a second, so pacing never delays a reply here.
CHANNELS_PER_EVENT_PER_SECOND = 2
BARE_APP = "bare_bolt_app:application"


class SlowFakeSlackAPI(FakeSlackAPI):
    """The fake Web API answering each call after `latency` seconds (Slack's own API takes
    tens to hundreds of milliseconds; the plain fake answers at once)."""

    def __init__(self, latency: float) -> None:
        super().__init__()
        self.latency = latency

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        if self.latency > 0:
            time.sleep(self.latency)
        super()._handle(handler)


class FakeInProcess:
    """The fake Web API in this process: with the load generator it shares one GIL, so the
    two together use at most one core and leave the other to the server (2-core machine)."""

    def __init__(self, latency: float = 0.0) -> None:
        self.fake = SlowFakeSlackAPI(latency).start()
        self.base_url = self.fake.base_url

    def replies(self, channels: set[str]) -> list[tuple[str, str, float]]:
        """(channel, thread_ts, received at) of every reply posted in `channels`."""
        return [
            (c.params.get("channel"), c.params.get("thread_ts"), c.at)
            for c in self.fake.find("chat.postMessage")
            if c.params.get("channel") in channels
        ]

    def wait_reply(self, channel: str, timeout: float) -> None:
        self.fake.wait_for("chat.postMessage", 1, timeout, channel=channel)

    def close(self) -> None:
        self.fake.stop()


def build_requests(
    count: int, retry_every: int, channels: list[str]
) -> tuple[list[tuple[str, str, str]], list[bytes]]:
    """(channel, ts, body) per event, and the bodies to send again as retries."""
    events = []
    for i in range(count):
        ts = f"1800000000.{i:06d}"
        channel = channels[i % len(channels)]
        event = mention_event(QUESTIONS[i % len(QUESTIONS)], channel, ts)
        events.append((channel, ts, json.dumps(event_body(event, f"EvB{RUN_ID}{i:07d}"))))
    retries = [events[i][2].encode() for i in range(0, count, retry_every)] if retry_every else []
    return events, retries


def sender(
    host: str,
    port: int,
    jobs: queue.Queue,
    results: list[tuple[float, int]],
    sent_at: dict[int, float],
    lock: threading.Lock,
) -> None:
    connection = http.client.HTTPConnection(host, port, timeout=10)
    while True:
        job = jobs.get()
        if job is None:
            return
        index, body, extra = job
        headers = {**sign(body.decode()), **extra}
        started = time.perf_counter()
        if index is not None:
            # The fake Slack stamps replies with time.monotonic(): the same clock.
            sent_at[index] = time.monotonic()
        try:
            connection.request("POST", "/slack/events", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            connection.close()
            connection = http.client.HTTPConnection(host, port, timeout=10)
            status = 0
        elapsed = time.perf_counter() - started
        with lock:
            results.append((elapsed, status))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary(values_ms: list[float]) -> dict[str, float | None]:
    return {
        "p50": round(percentile(values_ms, 0.50), 1),
        "p90": round(percentile(values_ms, 0.90), 1),
        "p99": round(percentile(values_ms, 0.99), 1),
        "max": round(max(values_ms, default=float("nan")), 1),
        "mean": round(statistics.fmean(values_ms), 1) if values_ms else None,
    }


def start_bare(api_base_url: str, log_path: Path, **env: str) -> tuple[ServerProcess, str]:
    """The bare Bolt app under the Procfile's gunicorn command and settings."""
    env.setdefault("DATABASE_URL", sqlite_url(log_path.parent))
    port = free_port()
    command = shlex.split(procfile_command("web").replace("$PORT", str(port)))
    command = [*command[:-1], "--pythonpath", str(REPO / "bench"), BARE_APP]
    server = ServerProcess(command, server_env(api_base_url, PORT=str(port), **env), log_path)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"bare Bolt app exited early:\n{server.output()}")
        try:
            if get(f"{base}/healthz", timeout=1).status == 200:
                return server, base
        except OSError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"bare Bolt app did not become healthy:\n{server.output()}")


def server_environment(args: argparse.Namespace) -> dict[str, str]:
    env = {"LOG_LEVEL": args.log_level}
    if args.workers:
        env["WEB_CONCURRENCY"] = str(args.workers)
    if args.threads:
        env["WEB_THREADS"] = str(args.threads)
    if args.knowledge:
        env["AWSSEC_KNOWLEDGE"] = args.knowledge
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    for item in args.env:
        name, _, value = item.partition("=")
        env[name] = value
    return env


def run_once(
    target: str, rate: float, args: argparse.Namespace, fake: FakeInProcess
) -> dict[str, Any]:
    """One run of `target` ("awssec" or "bare-bolt") at `rate` events/s, on a fresh server."""
    count = int(rate * args.seconds)
    retry_every = int(1 / args.retry_ratio) if args.retry_ratio > 0 else 0
    channel_count = args.channels or max(1, math.ceil(rate * CHANNELS_PER_EVENT_PER_SECOND))
    prefix = f"CB{target[0].upper()}{RUN_ID}R{int(rate)}X"
    channels = [f"{prefix}{i:05d}" for i in range(channel_count)]
    events, retries = build_requests(count, retry_every, channels)
    log_path = Path(tempfile.mkdtemp(prefix=f"awssec-bench-{target}-")) / "web.log"
    env = server_environment(args)
    if target == "bare-bolt":
        server, base = start_bare(fake.base_url, log_path, **env)
    else:
        server, base = start_web(fake.base_url, log_path, **env)
    host, port = "127.0.0.1", int(base.rsplit(":", 1)[1])
    try:
        # Warm up every worker: the first requests run auth.test and fill caches.
        warm_channel = f"CWARM{prefix}"
        for i in range(max(4, 2 * (args.workers or 2))):
            body = json.dumps(event_body(mention_event("warm up", warm_channel, f"1.{i}")))
            warm = http.client.HTTPConnection(host, port, timeout=10)
            warm.request("POST", "/slack/events", body=body, headers=sign(body))
            warm.getresponse().read()
            warm.close()
        fake.wait_reply(warm_channel, 10)
        time.sleep(0.5)

        jobs: queue.Queue = queue.Queue()
        results: list[tuple[float, int]] = []
        sent_at: dict[int, float] = {}
        lock = threading.Lock()
        threads = [
            threading.Thread(
                target=sender, args=(host, port, jobs, results, sent_at, lock), daemon=True
            )
            for _ in range(args.connections)
        ]
        for thread in threads:
            thread.start()

        retry_header = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
        retry_at = {i * retry_every + 5: body for i, body in enumerate(retries)}
        interval = 1.0 / rate
        started = time.perf_counter()
        for i, (_channel, _ts, body) in enumerate(events):
            delay = started + i * interval - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            jobs.put((i, body.encode(), {}))
            if i in retry_at:  # a Slack retry of an earlier event
                jobs.put((None, retry_at.pop(i), retry_header))
        for body in retry_at.values():
            jobs.put((None, body, retry_header))
        send_seconds = time.perf_counter() - started
        for _ in threads:
            jobs.put(None)
        for thread in threads:
            thread.join(30)

        # Replies are posted asynchronously; wait until they stop arriving.
        wanted = set(channels)
        deadline = time.monotonic() + args.drain_seconds
        last = -1
        while time.monotonic() < deadline:
            now = len(fake.replies(wanted))
            if now >= count and now == last:
                break
            last = now
            time.sleep(0.5)
        replies = fake.replies(wanted)
    finally:
        server.stop()

    by_event = Counter((channel, ts) for channel, ts, _ in replies)
    first_reply: dict[tuple[str, str], float] = {}
    for channel, ts, at in replies:
        first_reply[(channel, ts)] = min(at, first_reply.get((channel, ts), at))
    reply_ms = [
        (first_reply[(channel, ts)] - sent_at[i]) * 1000
        for i, (channel, ts, _) in enumerate(events)
        if (channel, ts) in first_reply and i in sent_at
    ]
    ack_ms = [elapsed * 1000 for elapsed, status in results if status == 200]
    lost = sum(1 for channel, ts, _ in events if by_event.get((channel, ts), 0) == 0)
    return {
        "target": target,
        "target_rate": rate,
        "achieved_rate": round(count / send_seconds, 1),
        "events": count,
        "retries_sent": len(retries),
        "channels": channel_count,
        "ack_ms": summary(ack_ms),
        "reply_ms": summary(reply_ms),
        "non_200": sum(1 for _, status in results if status != 200),
        "replies": len(replies),
        "lost": lost,
        "duplicates": sum(1 for n in by_event.values() if n > 1),
        "server_log": str(log_path),
    }


def capacity(runs: list[dict[str, Any]], target: str, reply_p99_ms: float) -> float | None:
    """The highest rate at which `target` kept reply p99 under the bound, nothing lost."""
    good = [
        r["target_rate"]
        for r in runs
        if r["target"] == target
        and r["lost"] == 0
        and not math.isnan(r["reply_ms"]["p99"])
        and r["reply_ms"]["p99"] < reply_p99_ms
        and r["achieved_rate"] >= 0.95 * r["target_rate"]
    ]
    return max(good) if good else None


def run(args: argparse.Namespace) -> int:
    rates = [float(r) for r in args.rates.split(",")] if args.rates else [args.rate]
    targets = ["awssec"] if args.no_bare else ["bare-bolt", "awssec"]
    fake = FakeInProcess(args.api_latency_ms / 1000)
    runs: list[dict[str, Any]] = []
    try:
        for rate in rates:
            for target in targets:  # interleaved: both see the machine in the same state
                report = run_once(target, rate, args, fake)
                runs.append(report)
                print(json.dumps(report), flush=True)
    finally:
        fake.close()

    print(
        f"\n{'target':10} {'rate':>6} {'achieved':>8} {'ack p50':>8} {'ack p99':>8} "
        f"{'reply p50':>9} {'reply p99':>9} {'lost':>5} {'dup':>4}"
    )
    for r in runs:
        print(
            f"{r['target']:10} {r['target_rate']:6.0f} {r['achieved_rate']:8.1f} "
            f"{r['ack_ms']['p50']:8.1f} {r['ack_ms']['p99']:8.1f} "
            f"{r['reply_ms']['p50']:9.1f} {r['reply_ms']['p99']:9.1f} "
            f"{r['lost']:5d} {r['duplicates']:4d}"
        )
    ours = capacity(runs, "awssec", args.reply_p99_ms)
    print(f"\ncapacity (reply p99 < {args.reply_p99_ms:g} ms, nothing lost, of the rates run):")
    print(f"  awssec:    {ours if ours is not None else 'below every rate run'}")
    if not args.no_bare:
        bare = capacity(runs, "bare-bolt", args.reply_p99_ms)
        print(f"  bare Bolt: {bare if bare is not None else 'below every rate run'}")
        if ours and bare:
            print(f"  ratio:     {ours / bare:.2f}x bare Bolt")

    ok = all(
        r["ack_ms"]["p99"] < args.p99_ms
        and r["lost"] == 0
        and r["duplicates"] == 0
        and r["non_200"] == 0
        and r["achieved_rate"] >= 0.95 * r["target_rate"]
        for r in runs
        if r["target"] == "awssec"
    )
    print("PASS" if ok else "FAIL", file=sys.stderr)
    return 0 if ok else 1


def main() -> int:
    # Measure the server, not this process's own GIL hand-offs between sender threads.
    sys.setswitchinterval(0.0005)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=500, help="events per second")
    parser.add_argument("--rates", help="several rates, comma-separated (overrides --rate)")
    parser.add_argument("--seconds", type=float, default=10, help="how long to send")
    parser.add_argument("--retry-ratio", type=float, default=0.1, help="share of events retried")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections")
    parser.add_argument("--channels", type=int, help="channels the events are spread over")
    # Slack resends an event not acknowledged within 3 s; acks wait for the durable claim
    # (one shared commit), so a third of that budget is the bar.
    parser.add_argument("--p99-ms", type=float, default=1000, help="p99 ack target")
    parser.add_argument(
        "--reply-p99-ms", type=float, default=1000, help="reply p99 bound for capacity"
    )
    parser.add_argument(
        "--api-latency-ms", type=float, default=0, help="the fake Web API's answer delay"
    )
    parser.add_argument("--no-bare", action="store_true", help="skip the bare Bolt anchor")
    parser.add_argument("--drain-seconds", type=float, default=30, help="wait for replies")
    parser.add_argument("--workers", type=int, help="WEB_CONCURRENCY for the servers")
    parser.add_argument("--threads", type=int, help="WEB_THREADS for the servers")
    parser.add_argument("--knowledge", help="AWSSEC_KNOWLEDGE (default: bundled)")
    parser.add_argument("--log-level", default="WARNING", help="server LOG_LEVEL")
    parser.add_argument(
        "--database-url", help="DATABASE_URL for the server (default: a fresh SQLite file)"
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="more server env"
    )
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
