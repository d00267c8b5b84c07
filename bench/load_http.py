"""Load test for the HTTP mode: signed mention events at a fixed rate.

Starts a fake Slack Web API (127.0.0.1) and the real web server from the Procfile's `web:`
line pointed at it, sends `--rate` signed `app_mention` events per second for `--seconds`
(plus Slack-style retries of some of them), then reports ack latency and whether every
event got exactly one reply.

    python bench/load_http.py --rate 500 --seconds 10
    python bench/load_http.py --database-url "$AWSSEC_TEST_POSTGRES_URL"   # PostgreSQL

Every event is de-duplicated and recorded in the database, as in production.

Exit status 0 when the targets hold: p99 ack < --p99-ms, no lost or duplicate replies, and
the achieved rate within 5% of the asked rate.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "slack"))

from slackfakes import (  # noqa: E402  (path set just above)
    FakeSlackAPI,
    event_body,
    mention_event,
    sign,
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
# A channel of its own per run: events are de-duplicated by channel and ts in the database,
# which a reused DATABASE_URL keeps between runs.
CHANNEL = f"CBENCH{os.getpid()}{int(time.time())}"


class FakeInProcess:
    """The fake Web API in this process: with the load generator it shares one GIL, so the
    two together use at most one core and leave the other to the server (2-core machine)."""

    def __init__(self) -> None:
        self.fake = FakeSlackAPI().start()
        self.base_url = self.fake.base_url

    def reply_threads(self, channel: str, minimum: int = 0, timeout: float = 0) -> list[str]:
        """thread_ts of every reply posted in `channel` (waiting for `minimum` of them)."""
        if minimum:
            self.fake.wait_for("chat.postMessage", minimum, timeout, channel=channel)
        return [
            c.params.get("thread_ts") for c in self.fake.find("chat.postMessage", channel=channel)
        ]

    def close(self) -> None:
        self.fake.stop()


def build_requests(count: int, retry_every: int) -> tuple[list[tuple[str, str]], list[bytes]]:
    """(ts, body) per event, and the bodies to send again as retries."""
    events = []
    for i in range(count):
        ts = f"1800000000.{i:06d}"
        event = mention_event(QUESTIONS[i % len(QUESTIONS)], CHANNEL, ts)
        events.append((ts, json.dumps(event_body(event, f"EvBENCH{i:07d}"))))
    retries = [events[i][1].encode() for i in range(0, count, retry_every)] if retry_every else []
    return events, retries


def sender(
    host: str,
    port: int,
    jobs: queue.Queue,
    results: list[tuple[float, int]],
    lock: threading.Lock,
) -> None:
    connection = http.client.HTTPConnection(host, port, timeout=10)
    while True:
        job = jobs.get()
        if job is None:
            return
        body, extra = job
        headers = {**sign(body.decode()), **extra}
        started = time.perf_counter()
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


def run(args: argparse.Namespace) -> int:
    count = int(args.rate * args.seconds)
    retry_every = int(1 / args.retry_ratio) if args.retry_ratio > 0 else 0
    events, retries = build_requests(count, retry_every)
    log_path = Path(tempfile.mkdtemp(prefix="awssec-bench-")) / "web.log"

    fake = FakeInProcess()
    try:
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
        server, base = start_web(fake.base_url, log_path, **env)
        host, port = "127.0.0.1", int(base.rsplit(":", 1)[1])
        try:
            # Warm up: the first request runs auth.test and fills caches.
            warm_body = json.dumps(event_body(mention_event("warm up", "CWARM", "1.1")))
            warm = http.client.HTTPConnection(host, port, timeout=10)
            warm.request("POST", "/slack/events", body=warm_body, headers=sign(warm_body))
            warm.getresponse().read()
            fake.reply_threads("CWARM", 1, 10)

            jobs: queue.Queue = queue.Queue()
            results: list[tuple[float, int]] = []
            lock = threading.Lock()
            threads = [
                threading.Thread(target=sender, args=(host, port, jobs, results, lock), daemon=True)
                for _ in range(args.connections)
            ]
            for thread in threads:
                thread.start()

            retry_header = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
            retry_at = {i * retry_every + 5: body for i, body in enumerate(retries)}
            interval = 1.0 / args.rate
            started = time.perf_counter()
            for i, (_ts, body) in enumerate(events):
                delay = started + i * interval - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                jobs.put((body.encode(), {}))
                if i in retry_at:  # a Slack retry of an earlier event
                    jobs.put((retry_at.pop(i), retry_header))
            for body in retry_at.values():
                jobs.put((body, retry_header))
            send_seconds = time.perf_counter() - started
            for _ in threads:
                jobs.put(None)
            for thread in threads:
                thread.join(30)

            # Replies are posted asynchronously; wait until they stop arriving.
            deadline = time.monotonic() + args.drain_seconds
            last = -1
            while time.monotonic() < deadline:
                now = len(fake.reply_threads(CHANNEL))
                if now >= count and now == last:
                    break
                last = now
                time.sleep(0.5)
            replies = Counter(fake.reply_threads(CHANNEL))
        finally:
            server.stop()
    finally:
        fake.close()

    latencies_ms = [elapsed * 1000 for elapsed, status in results if status == 200]
    failed = sum(1 for _, status in results if status != 200)
    lost = sum(1 for ts, _ in events if replies.get(ts, 0) == 0)
    duplicates = sum(1 for ts, _ in events if replies.get(ts, 0) > 1)
    achieved = count / send_seconds
    report = {
        "events": count,
        "retries_sent": len(retries),
        "requests": len(results),
        "target_rate": args.rate,
        "achieved_rate": round(achieved, 1),
        "ack_ms": {
            "p50": round(percentile(latencies_ms, 0.50), 2),
            "p90": round(percentile(latencies_ms, 0.90), 2),
            "p99": round(percentile(latencies_ms, 0.99), 2),
            "max": round(max(latencies_ms, default=float("nan")), 2),
            "mean": round(statistics.fmean(latencies_ms), 2) if latencies_ms else None,
        },
        "non_200": failed,
        "replies": sum(replies.values()),
        "lost": lost,
        "duplicates": duplicates,
        "server_log": str(log_path),
    }
    print(json.dumps(report, indent=2))
    ok = (
        report["ack_ms"]["p99"] < args.p99_ms
        and lost == 0
        and duplicates == 0
        and failed == 0
        and achieved >= 0.95 * args.rate
    )
    print("PASS" if ok else "FAIL", file=sys.stderr)
    return 0 if ok else 1


def main() -> int:
    # Measure the server, not this process's own GIL hand-offs between sender threads.
    sys.setswitchinterval(0.0005)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=500, help="events per second")
    parser.add_argument("--seconds", type=float, default=10, help="how long to send")
    parser.add_argument("--retry-ratio", type=float, default=0.1, help="share of events retried")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections")
    parser.add_argument("--p99-ms", type=float, default=50, help="p99 ack target")
    parser.add_argument("--drain-seconds", type=float, default=30, help="wait for replies")
    parser.add_argument("--workers", type=int, help="WEB_CONCURRENCY for the server")
    parser.add_argument("--threads", type=int, help="WEB_THREADS for the server")
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
