"""Learned questions and drafts in the Store, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from bot.storage import Store
from bot.storage.errors import BadRecordError
from bot.storage.schema import drafts, learned_questions

KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def teach(store: Store, question: str, topic: str = "artifact", **kw) -> int | None:
    kw.setdefault("taught_by", "U1")
    kw.setdefault("source", "report")
    return store.add_learned(question, topic, **kw)


def test_round_trip_and_version(store: Store) -> None:
    assert store.learned() == [] and store.learned_version() == 0
    new_id = teach(store, "Where's the SOC 2 report?", team_id="T1", group_key="g1")
    assert isinstance(new_id, int)
    (row,) = store.learned("T1")
    assert (row.id, row.question, row.topic_id, row.taught_by, row.source) == (
        new_id,
        "Where's the SOC 2 report?",
        "artifact",
        "U1",
        "report",
    )
    assert row.group_key == "g1" and row.team_id == "T1" and row.created_at is not None
    assert store.learned_version() == 1


def test_same_wording_is_learned_once(store: Store) -> None:
    first = teach(store, "Where is the SOC 2 report?")
    version = store.learned_version()
    # Case, punctuation and spacing do not make a new wording: a retry or a double click.
    assert teach(store, "  where is the soc 2 REPORT ") is None
    assert teach(store, "Where is the SOC-2 report?!") is None
    assert [r.id for r in store.learned()] == [first]
    assert store.learned_version() == version  # nothing changed, nothing to rebuild
    # Another team's teaching is its own.
    assert teach(store, "Where is the SOC 2 report?", team_id="T2") is not None


def test_concurrent_teaching_stores_one_row(store: Store) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(lambda _: teach(store, "who signs our PCI AOC?"), range(16)))
    assert len([i for i in ids if i is not None]) == 1
    assert len(store.learned()) == 1 and store.learned_version() == 1


def test_team_scoping(store: Store) -> None:
    everyone = teach(store, "where is the SOC 2 report?")
    mine = teach(store, "where is the ISO cert?", team_id="T1")
    theirs = teach(store, "where is the PCI AOC?", team_id="T2")
    assert {r.id for r in store.learned("T1")} == {everyone, mine}
    assert {r.id for r in store.learned("T2")} == {everyone, theirs}
    assert {r.id for r in store.learned()} == {everyone}
    assert {r.id for r in store.all_learned()} == {everyone, mine, theirs}


def test_remove_undoes_and_changes_the_version(store: Store) -> None:
    new_id = teach(store, "where is the SOC 2 report?")
    version = store.learned_version()
    assert store.remove_learned(new_id) is True
    assert store.learned() == []
    assert store.learned_version() > version
    after = store.learned_version()
    assert store.remove_learned(new_id) is False
    assert store.learned_version() == after
    # Removed, it can be taught again.
    assert teach(store, "where is the SOC 2 report?") is not None


def test_latest_teaching_of_a_wording_wins(store: Store) -> None:
    teach(store, "how do I stop people launching GPUs?", topic="iam")
    corrected = teach(
        store,
        "how do I stop people launching GPUs?",
        topic="organizations-scp",
        source="correction",
    )
    (row,) = store.learned()
    assert row.id == corrected and row.topic_id == "organizations-scp"


def test_a_second_store_sees_changes(db_url: str, store: Store) -> None:
    other = Store.from_url(db_url, retention_days=90)
    try:
        before = other.learned_version()
        new_id = teach(store, "where is the SOC 2 report?")
        assert other.learned_version() != before
        assert [r.id for r in other.learned()] == [new_id]
        store.remove_learned(new_id)
        assert other.learned() == []
    finally:
        other.dispose()


def test_secrets_in_taught_text_are_redacted(store: Store) -> None:
    teach(store, f"is key {KEY_ID} with secret {SECRET} safe to share?")
    store.add_draft(
        question=f"I pasted {KEY_ID} in a ticket, what now?",
        answer_text=f"Rotate it: aws_secret_access_key={SECRET} is exposed.",
        expert_id="U9",
        team_id="T1",
    )
    with store.engine.connect() as conn:
        stored = [*conn.execute(select(learned_questions)), *conn.execute(select(drafts))]
    text = repr([tuple(r) for r in stored])
    assert KEY_ID not in text and SECRET not in text
    assert "[REDACTED" in store.learned()[0].question
    assert "[REDACTED" in store.drafts()[0].answer_text


def test_drafts_round_trip_once_per_handoff(store: Store) -> None:
    first = store.add_draft(
        question="does Shield cover our ALB?",
        answer_text="Yes, Shield Standard covers it.",
        expert_id="U9",
        team_id="T1",
        handoff_key="T1:C1:1700000000.000100",
    )
    again = store.add_draft(
        question="does Shield cover our ALB?",
        answer_text="Yes (clicked twice).",
        expert_id="U9",
        team_id="T1",
        handoff_key="T1:C1:1700000000.000100",
    )
    assert isinstance(first, int) and again is None
    (draft,) = store.drafts()
    assert (draft.id, draft.question, draft.answer_text, draft.expert_id) == (
        first,
        "does Shield cover our ALB?",
        "Yes, Shield Standard covers it.",
        "U9",
    )
    assert store.drafts("T1") == [draft] and store.drafts("T2") == []
    # Drafts are not learned questions: the matcher has nothing new to read.
    assert store.learned_version() == 0


@pytest.mark.parametrize(
    "question, source",
    [("", "report"), ("?!  ", "cli"), ("where is the report?", "slack")],
)
def test_bad_learned_records_are_refused(store: Store, question: str, source: str) -> None:
    with pytest.raises(BadRecordError):
        store.add_learned(question, "artifact", taught_by="U1", source=source)
    assert store.learned() == [] and store.learned_version() == 0


def test_nul_and_overlong_values_are_cleaned(store: Store) -> None:
    new_id = store.add_learned(
        "where\x00 is the report?" + "x" * 5000,
        "artifact",
        taught_by="U" * 200,
        source="cli",
        group_key="g" * 400,
    )
    (row,) = store.learned()
    assert row.id == new_id and "\x00" not in row.question
    assert len(row.question) <= 1000 and len(row.taught_by) <= 64 and len(row.group_key) <= 255
