"""Benchmark: how long a taught wording takes to be answered by another process.

    python bench/learned_propagation.py [--runs 10] [--database-url URL]

Process A (this one) teaches a wording through the Store; process B, a separate Python
process with its own AnswerService as a server worker has (default LEARNED_CHECK_SECONDS,
background rebuilds), answers the wording in a loop and reports when it gets the topic.
Each run removes the wording, waits until B no longer answers it, then teaches it again and
times from the commit (at a random moment of B's check interval) to B's first answer with
the topic. Prints min/median/max; asserts
nothing. Default database: a temporary SQLite file.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.matcher.service import LEARNED_CHECK_SECONDS  # noqa: E402
from bot.storage import Store  # noqa: E402

WORDING = "our auditor wants the quarterly attestation pack, where do I get it"
TOPIC = "artifact"
# Who the benchmark's teaching is recorded as: the only rows it ever removes.
BENCH_USER = "U0BENCH"
# B polls its answer this often: far below the check interval, so it barely adds.
POLL_SECONDS = 0.01
# Per run, at most this long for B to see a change (bounded loop).
RUN_TIMEOUT_SECONDS = 30.0

PROCESS_B = """
import sys, time
from bot.matcher.service import AnswerService
from bot.storage import Store
store = Store.from_url(sys.argv[1], auto_purge=False)
service = AnswerService(reload_interval=None, learned=store)
print("ready", flush=True)
for line in sys.stdin:
    want = line.strip() == "on"
    deadline = time.monotonic() + {timeout}
    while time.monotonic() < deadline:
        if (service.answer({wording!r}).topic_ids == [{topic!r}]) == want:
            break
        time.sleep({poll})
    print(time.time(), flush=True)
"""


def _forget(store: Store) -> None:
    for row in store.learned():
        if row.taught_by == BENCH_USER:
            store.remove_learned(row.id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{folder}/awssec.db"
        store = Store.from_url(url, auto_purge=False)
        script = PROCESS_B.format(
            timeout=RUN_TIMEOUT_SECONDS, wording=WORDING, topic=TOPIC, poll=POLL_SECONDS
        )
        b = subprocess.Popen(
            [sys.executable, "-c", script, url],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert b.stdout.readline().strip() == "ready"
            took = []
            rng = random.Random(5)
            for _ in range(args.runs):
                _forget(store)
                b.stdin.write("off\n")
                b.stdin.flush()
                b.stdout.readline()
                # Teach at a random moment of B's check interval, as an admin's click lands.
                time.sleep(rng.uniform(0, LEARNED_CHECK_SECONDS))
                taught_at = time.time()
                store.add_learned(WORDING, TOPIC, taught_by=BENCH_USER, source="cli")
                b.stdin.write("on\n")
                b.stdin.flush()
                took.append(float(b.stdout.readline()) - taught_at)
        finally:
            _forget(store)  # only the benchmark's own row: a real database keeps the rest
            b.stdin.close()
            b.wait(timeout=30)
            store.dispose()
    print(
        f"taught wording answered by another process ({store.backend}, {args.runs} runs, "
        f"LEARNED_CHECK_SECONDS={LEARNED_CHECK_SECONDS}): min {min(took):.2f} s, "
        f"median {statistics.median(took):.2f} s, max {max(took):.2f} s"
    )


if __name__ == "__main__":
    main()
