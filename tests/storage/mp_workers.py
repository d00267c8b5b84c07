"""Worker functions for the multi-process tests (spawned, so they must live in a module)."""

from __future__ import annotations

import random

from bot.storage import Store


def claim_keys(url: str, keys: list[str], seed: int, start) -> list[str]:
    store = Store.from_url(url, auto_purge=False)
    order = list(keys)
    random.Random(seed).shuffle(order)
    start.wait(timeout=60)
    won = [key for key in order if store.claim_event(key)]
    store.dispose()
    return won


def write_answers(url: str, worker: int, count: int, start) -> list[int]:
    store = Store.from_url(url, auto_purge=False)
    start.wait(timeout=60)
    ids = []
    for i in range(count):
        answer_id = store.record_answer(
            question=f"worker {worker} question {i}",
            topic_ids=[] if i % 5 == 0 else [f"topic-{i % 3}"],
            suggestion_ids=["iam"],
            confidence=0.5,
            team_id="T1",
            user_id=f"U{worker}",
            channel_id="C1",
            surface="mention",
        )
        store.record_vote(
            answer_id=answer_id, team_id="T1", user_id=f"U{worker}", channel_id="C1", helpful=True
        )
        ids.append(answer_id)
    store.dispose()
    return ids


def call(fn, args: tuple, start, results) -> None:
    try:
        results.put(("ok", fn(*args, start)))
    except BaseException as exc:  # report, do not hang the parent
        results.put(("error", repr(exc)))


def run_processes(fn, arg_list: list[tuple], timeout: float = 120) -> list:
    """Start one spawned process per args tuple, release them together, return their results."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(len(arg_list))
    results = ctx.Queue()
    procs = [ctx.Process(target=call, args=(fn, args, start, results)) for args in arg_list]
    for p in procs:
        p.start()
    out = [results.get(timeout=timeout) for _ in procs]
    for p in procs:
        p.join(timeout=timeout)
    errors = [value for status, value in out if status == "error"]
    assert not errors, errors
    return [value for _, value in out]
