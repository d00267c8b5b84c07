"""Benchmark learned questions: matcher latency and rebuild time with 5,000 of them.

    python bench/learned_latency.py [--learned 5000] [--rounds 5]

Learned wordings are made from the knowledge's own example questions (so they look like what
people ask), spread over every topic, stored in a temporary SQLite database, read back as
AnswerService does, and merged into the knowledge. Prints figures; asserts nothing
(machines are shared and noisy).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.knowledge import KnowledgeBase, load_knowledge  # noqa: E402
from bot.matcher import Matcher  # noqa: E402
from bot.matcher.service import with_learned  # noqa: E402
from bot.storage import Store  # noqa: E402

# Ways people wrap a question: combined with the example questions, distinct wordings.
PREFIXES = ("", "quick one: ", "hey, ", "in prod ", "for our team, ", "sorry if dumb, ", "q: ")
SUFFIXES = ("", " thanks", " asap", " for the audit", " in eu-west-1", " on staging", " pls")


def eval_questions() -> list[str]:
    data = yaml.safe_load((REPO / "tests" / "questions.yaml").read_text())
    return [entry["q"] for entry in data["questions"]]


def learned_wordings(kb: KnowledgeBase, total: int, seed: int = 11) -> list[tuple[str, str]]:
    """`total` distinct (wording, topic id) pairs built from the example questions."""
    rng = random.Random(seed)
    examples = [(q, t.id) for t in kb.topics for q in t.questions]
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    while len(out) < total:
        question, topic = rng.choice(examples)
        wording = f"{rng.choice(PREFIXES)}{question.rstrip('?')}{rng.choice(SUFFIXES)}?"
        if wording.lower() not in seen:
            seen.add(wording.lower())
            out.append((wording, topic))
    return out


def percentiles(samples: list[float]) -> str:
    samples = sorted(samples)

    def pct(p: float) -> float:
        return samples[min(len(samples) - 1, int(p * len(samples)))] * 1000

    return f"p50={pct(0.50):.3f} ms  p99={pct(0.99):.3f} ms  max={samples[-1] * 1000:.3f} ms"


def timed_matches(matcher: Matcher, questions: list[str], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        for question in questions:
            t0 = time.perf_counter()
            matcher.match(question)
            samples.append(time.perf_counter() - t0)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learned", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--builds", type=int, default=5, help="rebuilds timed")
    args = parser.parse_args()

    kb = load_knowledge(REPO / "knowledge")
    questions = eval_questions()
    with tempfile.TemporaryDirectory() as folder:
        store = Store.from_url(f"sqlite:///{folder}/awssec.db", retention_days=90)
        t0 = time.perf_counter()
        for wording, topic in learned_wordings(kb, args.learned):
            store.add_learned(wording, topic, taught_by="U0BENCH", source="report")
        write = time.perf_counter() - t0
        reads, versions = [], []
        for _ in range(args.builds):
            t0 = time.perf_counter()
            store.learned_version()
            versions.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            rows = store.learned()
            reads.append(time.perf_counter() - t0)
        store.dispose()

    base = Matcher(kb)
    builds = []
    for _ in range(args.builds):
        t0 = time.perf_counter()
        taught = Matcher(with_learned(kb, rows), base.model)
        builds.append(time.perf_counter() - t0)
    plain_builds = []
    for _ in range(args.builds):
        t0 = time.perf_counter()
        Matcher(kb, base.model)
        plain_builds.append(time.perf_counter() - t0)

    topics = len({row.topic_id for row in rows})
    print(f"learned questions: {len(rows)} over {topics} topics")
    print(f"store: {len(rows)} adds in {write:.1f} s ({write / len(rows) * 1000:.2f} ms each)")
    print(
        f"store: learned_version() median {statistics.median(versions) * 1000:.2f} ms; "
        f"learned() read median {statistics.median(reads) * 1000:.1f} ms"
    )
    print(
        f"rebuild (merge + index): median {statistics.median(builds) * 1000:.0f} ms, "
        f"min {min(builds) * 1000:.0f}, max {max(builds) * 1000:.0f} "
        f"(knowledge alone: median {statistics.median(plain_builds) * 1000:.0f} ms)"
    )
    n = f"{len(questions)} x {args.rounds}"
    print(
        f"match, knowledge alone ({n}): {percentiles(timed_matches(base, questions, args.rounds))}"
    )
    with_rows = percentiles(timed_matches(taught, questions, args.rounds))
    print(f"match, +{len(rows)} learned ({n}): {with_rows}")


if __name__ == "__main__":
    main()
