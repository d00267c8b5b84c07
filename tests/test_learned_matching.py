"""The matcher answers taught wordings: per team, across processes, never blocking a reply."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bot.matcher.service import AnswerService
from bot.storage import Store
from tests.conftest import REPO

TAUGHT = "the green binder for the yearly review, where does it live"
REWORDED = "where does the green binder for the yearly review live?"
TOPIC = "artifact"
OTHER = "the thing that stops interns from spinning up GPUs in ap-south"
OTHER_TOPIC = "organizations-scp"
# Bounded waits for background rebuilds and other processes.
WAIT_SECONDS = 10.0


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "awssec.db"


@pytest.fixture
def store(db_file: Path):
    s = Store.from_url(f"sqlite:///{db_file}", retention_days=90)
    yield s
    s.dispose()


def wait_for(predicate, seconds: float = WAIT_SECONDS) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > seconds:
            raise AssertionError(f"not true within {seconds} s")
        time.sleep(0.05)
    return time.monotonic() - start


def teach(store: Store, question: str = TAUGHT, topic: str = TOPIC, **kw) -> int | None:
    return store.add_learned(question, topic, taught_by="U1", source="report", **kw)


def test_a_taught_wording_and_a_rewording_are_answered(store: Store) -> None:
    service = AnswerService(
        reload_interval=None, learned=store, learned_check_seconds=0, background=False
    )
    before = [service.answer(TAUGHT), service.answer(REWORDED)]
    assert all(TOPIC not in a.topic_ids for a in before)

    teach(store)
    after = [service.answer(TAUGHT), service.answer(REWORDED)]
    assert [a.topic_ids for a in after] == [[TOPIC], [TOPIC]]
    # The answer carries the knowledge's own topic, not the copy holding learned questions.
    assert after[0].topics[0] is service.knowledge.get(TOPIC)


def test_removing_undoes_it(store: Store) -> None:
    learned_id = teach(store)
    service = AnswerService(
        reload_interval=None, learned=store, learned_check_seconds=0, background=False
    )
    assert service.answer(TAUGHT).topic_ids == [TOPIC]
    store.remove_learned(learned_id)
    assert TOPIC not in service.answer(TAUGHT).topic_ids


def test_teams_see_their_own_and_everyones(store: Store) -> None:
    teach(store, team_id="T1")
    teach(store, OTHER, OTHER_TOPIC)  # team None: every team
    service = AnswerService(
        reload_interval=None, learned=store, learned_check_seconds=0, background=False
    )
    service.answer(TAUGHT, team_id="T1")  # first sight of T1: its matcher is built
    assert service.answer(TAUGHT, team_id="T1").topic_ids == [TOPIC]
    assert TOPIC not in service.answer(TAUGHT, team_id="T2").topic_ids
    assert TOPIC not in service.answer(TAUGHT).topic_ids
    for team in ("T1", "T2", None):
        assert service.answer(OTHER, team_id=team).topic_ids == [OTHER_TOPIC]


def test_a_second_service_on_the_same_database_sees_it_within_seconds(
    store: Store, db_file: Path
) -> None:
    other_store = Store.from_url(f"sqlite:///{db_file}", retention_days=90)
    try:
        other = AnswerService(reload_interval=None, learned=other_store, learned_check_seconds=0.2)
        assert TOPIC not in other.answer(TAUGHT).topic_ids
        teach(store)
        took = wait_for(lambda: other.answer(TAUGHT).topic_ids == [TOPIC])
        assert took < 5
    finally:
        other_store.dispose()


def test_another_process_sees_it(store: Store, db_file: Path) -> None:
    """A separate Python process answers with the topic once this one teaches it."""
    script = f"""
import sys, time
from bot.matcher.service import AnswerService
from bot.storage import Store
store = Store.from_url({f"sqlite:///{db_file}"!r}, retention_days=90)
service = AnswerService(reload_interval=None, learned=store, learned_check_seconds=0.2)
print("ready", service.answer({TAUGHT!r}).topic_ids, flush=True)
deadline = time.monotonic() + {WAIT_SECONDS}
while time.monotonic() < deadline:
    if service.answer({TAUGHT!r}).topic_ids == [{TOPIC!r}]:
        print("answered", flush=True)
        sys.exit(0)
    time.sleep(0.05)
sys.exit(1)
"""
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "ready []"
        teach(store)
        assert proc.wait(timeout=WAIT_SECONDS + 20) == 0
        assert proc.stdout.read().strip() == "answered"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class SlowSource:
    """A learned-question source whose reads take `delay` seconds once `slow` is set."""

    def __init__(self, store: Store, delay: float) -> None:
        self.store, self.delay, self.slow = store, delay, threading.Event()

    def learned_version(self) -> int:
        return self.store.learned_version()

    def learned(self, team_id=None):
        if self.slow.is_set():
            time.sleep(self.delay)
        return self.store.learned(team_id)


def test_a_rebuild_never_blocks_a_reply(store: Store) -> None:
    source = SlowSource(store, delay=1.5)
    service = AnswerService(reload_interval=None, learned=source, learned_check_seconds=0)
    source.slow.set()
    teach(store)
    started = time.monotonic()
    first = service.answer(TAUGHT)  # notices the change; the rebuild runs in the background
    assert time.monotonic() - started < 1.0
    assert TOPIC not in first.topic_ids  # the old matcher answered meanwhile
    wait_for(lambda: service.answer(TAUGHT).topic_ids == [TOPIC])


class BrokenSource:
    def __init__(self) -> None:
        self.calls = 0

    def learned_version(self) -> int:
        self.calls += 1
        raise ConnectionError("database unreachable")

    def learned(self, team_id=None):
        raise ConnectionError("database unreachable")


def test_an_unreadable_database_leaves_the_knowledge_answering(caplog) -> None:
    source = BrokenSource()
    with caplog.at_level(logging.WARNING, logger="bot.matcher.service"):
        service = AnswerService(
            reload_interval=None, learned=source, learned_check_seconds=3600, background=False
        )
        for _ in range(5):
            assert service.answer("which service finds PII?").topic_ids == ["macie"]
    warnings = [r for r in caplog.records if "learned questions unavailable" in r.getMessage()]
    assert len(warnings) == 1
    assert source.calls == 1  # one attempt per interval, not one per question


def test_unknown_topics_are_skipped_with_one_log_line(store: Store, caplog) -> None:
    teach(store, "where did the zorblax topic go", topic="zorblax-removed")
    teach(store)
    with caplog.at_level(logging.WARNING, logger="bot.matcher.service"):
        service = AnswerService(reload_interval=None, learned=store, background=False)
    lines = [r.getMessage() for r in caplog.records if "zorblax-removed" in r.getMessage()]
    assert len(lines) == 1 and "not in the knowledge" in lines[0]
    assert service.answer(TAUGHT).topic_ids == [TOPIC]


def test_without_a_source_nothing_changes() -> None:
    service = AnswerService(reload_interval=None)
    assert service.matcher_for("T1") is service.matcher
    assert service.answer("which service finds PII?", team_id="T1").topic_ids == ["macie"]


def test_after_a_knowledge_edit_no_answer_comes_from_the_old_knowledge(
    store: Store, write_knowledge
) -> None:
    from tests.conftest import topic_yaml

    folder = write_knowledge({"k.yaml": "topics:\n" + topic_yaml("alpha", name="Zorblax")})
    source = SlowSource(store, delay=1.5)
    service = AnswerService(folder, reload_interval=None, learned=source, learned_check_seconds=0)
    assert service.answer("zorblax", team_id="T1").topic_ids == ["alpha"]
    wait_for(lambda: "T1" in service._teams)  # the team's own matcher, over the old knowledge
    (folder / "k.yaml").write_text("topics:\n" + topic_yaml("alpha", name="Quuxinator"))
    source.slow.set()  # the team's rebuild over the new knowledge takes a while
    assert service.reload() is True
    # Until the rebuild lands, the new knowledge alone answers, never the old team matcher.
    for _ in range(5):
        assert service.answer("quuxinator", team_id="T1").topic_ids == ["alpha"]
        assert service.answer("zorblax", team_id="T1").topic_ids == []


def test_learned_questions_keep_the_rest_of_the_knowledge() -> None:
    """A team's knowledge with learned questions still has the uncovered services and the
    out-of-scope areas: a team that taught one wording must not start answering questions
    about Step Functions or S3 lifecycle rules."""
    import dataclasses

    from bot.knowledge import load_knowledge
    from bot.matcher.service import with_learned

    @dataclasses.dataclass
    class Row:
        id: int
        question: str
        topic_id: str
        team_id: str | None = None

    kb = load_knowledge()
    taught = with_learned(kb, [Row(1, "who guards the guards", "guardduty")])
    assert "who guards the guards" in taught.get("guardduty").questions
    assert taught.services == kb.services and taught.services
    assert taught.out_of_scope == kb.out_of_scope and taught.out_of_scope
    assert taught.synonyms == kb.synonyms
