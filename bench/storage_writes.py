"""Recording throughput: answers + votes written per second by concurrent writer processes.

    python bench/storage_writes.py [--processes 4] [--count 500] [--postgres-url URL]

Each process records ``count`` answers and a vote on each (2 writes per answer), all released
at once. SQLite runs on a temporary file; PostgreSQL (``--postgres-url`` or
``$AWSSEC_TEST_POSTGRES_URL``) on the given database, with rows tagged and removed afterwards.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import delete, func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.storage import Store
from bot.storage.schema import answers, votes


def _writer(url: str, tag: str, worker: int, count: int, start, results) -> None:
    store = Store.from_url(url, auto_purge=False)
    start.wait(timeout=120)
    t0 = time.perf_counter()
    for i in range(count):
        answer_id = store.record_answer(
            question=f"bench question {i} from worker {worker}",
            topic_ids=[] if i % 4 == 0 else [f"topic-{i % 7}"],
            suggestion_ids=["iam", "kms"],
            confidence=0.5,
            team_id=tag,
            user_id=f"U{worker}",
            channel_id="CBENCH",
            surface="bench",
        )
        store.record_vote(
            answer_id=answer_id, team_id=tag, user_id=f"U{worker}", channel_id="C", helpful=True
        )
    results.put(time.perf_counter() - t0)
    store.dispose()


def run(url: str, processes: int, count: int) -> dict:
    tag = f"bench-{uuid.uuid4().hex[:8]}"
    Store.from_url(url, auto_purge=False).dispose()  # schema in place before the clock starts
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(processes + 1), ctx.Queue()
    procs = [
        ctx.Process(target=_writer, args=(url, tag, w, count, start, results))
        for w in range(processes)
    ]
    for p in procs:
        p.start()
    start.wait(timeout=120)
    t0 = time.perf_counter()
    per_worker = [results.get(timeout=600) for _ in procs]
    wall = time.perf_counter() - t0
    for p in procs:
        p.join(timeout=60)

    store = Store.from_url(url, auto_purge=False)
    with store.engine.begin() as conn:
        n_answers = conn.execute(
            select(func.count()).select_from(answers).where(answers.c.team_id == tag)
        ).scalar_one()
        n_votes = conn.execute(
            select(func.count()).select_from(votes).where(votes.c.team_id == tag)
        ).scalar_one()
        conn.execute(delete(votes).where(votes.c.team_id == tag))
        conn.execute(delete(answers).where(answers.c.team_id == tag))
    store.dispose()
    expected = processes * count
    return {
        "writes": 2 * expected,
        "wall": wall,
        "slowest": max(per_worker),
        "answers": n_answers,
        "votes": n_votes,
        "expected": expected,
    }


def report(name: str, r: dict) -> bool:
    ok = r["answers"] == r["expected"] and r["votes"] == r["expected"]
    print(
        f"{name:<10} {r['writes']:>6} writes in {r['wall']:.2f}s = "
        f"{r['writes'] / r['wall']:>7.0f} writes/s  "
        f"(answers {r['answers']}/{r['expected']}, votes {r['votes']}/{r['expected']}: "
        f"{'all recorded' if ok else 'MISSING RECORDS'})"
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--count", type=int, default=500, help="answers per process")
    parser.add_argument("--postgres-url", default=os.environ.get("AWSSEC_TEST_POSTGRES_URL"))
    args = parser.parse_args()

    print(f"{args.processes} writer processes x {args.count} answers (+1 vote each)")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        ok &= report("sqlite", run(f"sqlite:///{tmp}/bench.db", args.processes, args.count))
    if args.postgres_url:
        ok &= report("postgresql", run(args.postgres_url, args.processes, args.count))
    else:
        print("postgresql skipped: pass --postgres-url or set AWSSEC_TEST_POSTGRES_URL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
