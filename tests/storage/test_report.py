from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.storage import Store, build_report, format_report, format_summary, parse_since
from bot.storage.report import (
    MAX_CLUSTER_WORDINGS,
    SHOWN_VARIANTS,
    cluster_questions,
    format_stale_topics,
    normalize_question,
)

MISSES = [
    ("How do I enable GuardDuty?", ["guardduty"]),
    ("how to enable guardduty", ["guardduty", "securityhub"]),
    ("enable GuardDuty please!", ["guardduty"]),
    ("What does Macie cost?", ["macie"]),
    ("macie cost", ["macie"]),
    ("s3", ["s3-encryption"]),
    ("Can I use s3 object lock for WORM compliance?", ["s3-object-lock"]),
]


def seed(store: Store) -> dict[str, int]:
    ids = {}
    for question, suggestions in MISSES:
        store.record_answer(
            question=question,
            topic_ids=[],
            suggestion_ids=suggestions,
            confidence=0.2,
            team_id="T1",
            user_id="U1",
            channel_id="C1",
            surface="mention",
        )
    for i, topics in enumerate([["kms"], ["kms"], ["kms", "iam"], ["iam"], ["cloudtrail"]]):
        ids[f"a{i}"] = store.record_answer(
            question=f"question {i}",
            topic_ids=topics,
            suggestion_ids=[],
            confidence=0.9,
            team_id="T1",
            user_id="U1",
            channel_id="C1",
            surface="dm",
        )
    votes = [("a0", "U1", False), ("a0", "U2", False), ("a1", "U1", True), ("a2", "U1", False)]
    votes += [("a3", "U1", True), ("a3", "U2", True)]
    for key, user, helpful in votes:
        store.record_vote(
            answer_id=ids[key], team_id="T1", user_id=user, channel_id="C1", helpful=helpful
        )
    store.record_comment(answer_id=ids["a0"], user_id="U1", comment="talks about KMS, I asked ACM")
    return ids


def test_report_contents(store: Store) -> None:
    seed(store)
    report = build_report(store, timedelta(days=7))
    assert report.answers == 12 and report.misses == 7
    assert (report.helpful, report.not_helpful) == (3, 3)

    top = report.missed[0]
    assert top.count == 3 and "guardduty" in top.example.lower()
    assert top.suggestions[0] == ("guardduty", 3)
    assert report.missed[1].count == 2 and "macie" in report.missed[1].example.lower()
    # "s3" must not swallow the unrelated longer S3 question.
    assert sorted(c.count for c in report.missed) == [1, 1, 2, 3]

    worst = report.most_not_helpful[0]
    assert (worst.topic_id, worst.not_helpful, worst.helpful) == ("kms", 3, 1)
    iam = next(t for t in report.helpfulness if t.topic_id == "iam")
    assert (iam.helpful, iam.not_helpful, iam.ratio) == (2, 1, pytest.approx(2 / 3))
    assert [(t.topic_id, t.answers) for t in report.busiest] == [
        ("kms", 3),
        ("iam", 2),
        ("cloudtrail", 1),
    ]
    assert report.comments[0].comment.startswith("talks about KMS")


def test_report_window(store: Store) -> None:
    seed(store)
    future = datetime.now(UTC) + timedelta(hours=1)
    assert build_report(store, future).answers == 0
    assert build_report(store, datetime.now(UTC) - timedelta(hours=1)).answers == 12


def test_formats(store: Store) -> None:
    seed(store)
    report = build_report(store, parse_since("7d"))
    table = format_report(report, "table")
    assert "Top missed questions" in table and "guardduty" in table.lower()
    assert "Busiest topics" in table and "kms" in table
    assert "*" not in table and "`" not in table  # plain text, no Slack mrkdwn

    data = json.loads(format_report(report, "json"))
    assert data["misses"] == 7 and data["missed"][0]["count"] == 3
    assert data["missed"][0]["suggestions"][0] == {"id": "guardduty", "count": 3}

    parsed = list(csv.DictReader(io.StringIO(format_report(report, "csv"))))
    sections = {row["section"] for row in parsed}
    assert sections == {"missed", "not_helpful", "helpfulness", "busiest", "auto"}

    summary = format_summary(report)
    assert len(summary.splitlines()) <= 10 and "GuardDuty" in summary

    with pytest.raises(ValueError, match="table, json or csv"):
        format_report(report, "xml")  # type: ignore[arg-type]


def test_empty_report(store: Store) -> None:
    report = build_report(store, timedelta(days=1))
    assert "0 answers" in format_report(report, "table")
    assert json.loads(format_report(report, "json"))["missed"] == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", timedelta(days=7)),
        ("24h", timedelta(hours=24)),
        ("30m", timedelta(minutes=30)),
        ("2w", timedelta(weeks=2)),
        (" 7D ", timedelta(days=7)),
    ],
)
def test_parse_since(text: str, expected: timedelta) -> None:
    assert parse_since(text) == expected


@pytest.mark.parametrize("text", ["", "7", "d7", "7y", "0d", "-1d", "1.5d", "99999999999d"])
def test_parse_since_rejects(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_since(text)
    assert "\n" not in str(info.value)


def test_normalize_and_cluster_without_database() -> None:
    assert normalize_question("How do I rotate <@U123> my KEYS?") == "rotate key"
    assert normalize_question("[REDACTED AWS access key id] leaked") == "leaked"
    clusters = cluster_questions([(q, s) for q, s in MISSES])
    assert [c.count for c in clusters][:2] == [3, 2]
    assert cluster_questions([]) == []


def test_csv_cells_people_typed_are_never_formulas(tmp_path):
    from bot.storage import Store
    from bot.storage.report import build_report, format_report, parse_since

    store = Store.from_url(f"sqlite:///{tmp_path / 'r.db'}")
    for _ in range(2):
        store.record_answer(
            question='=HYPERLINK("http://evil.example","click")',
            topic_ids=[],
            suggestion_ids=[],
            confidence=0.1,
            team_id="T",
            user_id="U",
            channel_id="C",
            surface="mention",
        )
    text = format_report(build_report(store, parse_since("1d")), "csv")
    (row,) = [line for line in text.splitlines() if line.startswith("missed,")]
    assert row.split(",", 2)[1].startswith("\"'=HYPERLINK")
    store.dispose()


def _record(store: Store, question: str, topics: list[str]) -> int:
    return store.record_answer(
        question=question,
        topic_ids=topics,
        suggestion_ids=["kms"],
        confidence=0.9 if topics else 0.2,
        team_id="T1",
        user_id="U1",
        channel_id="C1",
        surface="mention",
    )


def test_report_reads_at_most_the_caps(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import event

    from bot.storage import report as report_module

    monkeypatch.setattr(report_module, "MAX_REPORT_MISSES", 5)
    monkeypatch.setattr(report_module, "MAX_REPORT_ANSWERS", 4)
    monkeypatch.setattr(report_module, "MAX_REPORT_VOTES", 3)
    for i in range(12):
        _record(store, f"how do I resize ec2 instance type {i}", [])
    for i in range(8):
        answer_id = _record(store, f"question {i}", ["kms"])
        for user in ("U1", "U2"):
            store.record_vote(
                answer_id=answer_id, team_id="T1", user_id=user, channel_id="C1", helpful=True
            )

    statements: list[tuple[str, object]] = []

    def remember(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", remember)
    try:
        report = build_report(store, timedelta(days=1))
    finally:
        event.remove(store.engine, "before_cursor_execute", remember)

    # Every query the report ran, run again: none returns more rows than the largest cap.
    with store.engine.connect() as conn:
        rows = [len(conn.exec_driver_sql(sql, params).all()) for sql, params in statements]
    assert rows and max(rows) <= 5
    # The headline still counts everything; the sections say what they cover.
    assert (report.answers, report.misses, report.helpful) == (20, 12, 16)
    assert report.misses_grouped == 5 and sum(c.count for c in report.missed) == 5
    assert report.answered_counted == 4 and report.busiest[0].answers == 4
    assert report.helpfulness[0].helpful == 3
    table = format_report(report, "table")
    assert "newest 5 of 12" in table and "newest 4 of 8" in table


def test_report_reads_only_the_start_of_long_questions(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.storage import report as report_module

    monkeypatch.setattr(report_module, "MAX_QUESTION_CHARS", 50)
    _record(store, "why is my bucket public " + "policy " * 500, [])
    (cluster,) = build_report(store, timedelta(days=1)).missed
    assert cluster.example.startswith("why is my bucket public") and len(cluster.example) <= 50


def test_grouping_keeps_a_question_asked_in_many_wordings_together() -> None:
    # More distinct wordings than one batch of candidates, hidden among unrelated misses that
    # share their common words: still one group, and the others stay apart.
    same = [f"How do I rotate my KMS keys automatically for account {n}?" for n in range(150)]
    others = [
        f"how do I {verb} my {thing} automatically for account 7"
        for verb in ("delete", "share", "tag", "audit", "export")
        for thing in ("s3 buckets", "iam roles", "vpc flow logs", "guardduty findings")
    ]
    typo = ["how do I rotate my KMS kyes automaticaly for account 7"]
    clusters = cluster_questions([(q, ["kms"]) for q in same + others + typo])
    assert clusters[0].count == 151 and "rotate" in clusters[0].example
    assert sum(c.count for c in clusters[1:]) == len(others)


def test_grouping_ignores_a_long_paste_after_the_question() -> None:
    # Two different questions followed by the same pasted policy stay apart (comparing whole
    # texts grouped them: the paste's words outweighed the questions').
    paste = " ".join(f"arn:aws:s3:::bucket-{n}/* s3:GetObject Allow" for n in range(60))
    clusters = cluster_questions(
        [
            ("why does this bucket policy deny my lambda function " + paste, []),
            ("which kms key encrypts cloudtrail logs by default " + paste, []),
        ]
    )
    assert [c.count for c in clusters] == [1, 1]


# --- the tidied text stored with each miss ----------------------------------------------------


def _stored_tidied(store: Store) -> dict[int, str | None]:
    from sqlalchemy import select

    from bot.storage.schema import answers

    with store.engine.connect() as conn:
        return dict(conn.execute(select(answers.c.id, answers.c.question_tidied)).all())


def _set_tidied(store: Store, answer_id: int, value: str | None) -> None:
    from bot.storage.schema import answers

    with store.engine.begin() as conn:
        conn.execute(
            answers.update().where(answers.c.id == answer_id).values(question_tidied=value)
        )


def test_misses_store_their_tidied_text_and_answers_do_not(store: Store) -> None:
    from bot.storage.report import SIGNATURE_BANDS, TIDY_VERSION, tidy_question

    miss = _record(store, "How do I enable GuardDuty in every account?", [])
    answered = _record(store, "What is KMS?", ["kms"])
    stored = _stored_tidied(store)
    assert stored[answered] is None
    version, bands, tidied = stored[miss].split(":", 2)
    assert version == str(TIDY_VERSION) and len(set(bands.split())) == SIGNATURE_BANDS
    assert tidied == tidy_question("How do I enable GuardDuty in every account?")
    assert tidied == "enable guardduty every account"


def test_new_rows_and_old_rows_group_together(store: Store) -> None:
    from bot.storage.report import tidy_question

    # Three wordings (three different tidied texts, so only their band keys bring them
    # together): one as recorded now, one from before the column (NULL), one stored by another
    # version of the tidying, whose text must be ignored, not trusted. One group of three.
    wordings = [
        "How do I enable GuardDuty in every account?",
        "how to turn on guardduty for every account",
        "enabling GuardDuty across every account",
    ]
    assert len({tidy_question(w) for w in wordings}) == 3
    new, old, other = (_record(store, w, []) for w in wordings)
    unrelated = _record(store, "which KMS key encrypts CloudTrail logs by default", [])
    stored = _stored_tidied(store)
    assert stored[new] and stored[new].startswith("1:")
    _set_tidied(store, old, None)
    _set_tidied(store, other, "0:" + stored[unrelated].partition(":")[2])

    report = build_report(store, timedelta(days=1))
    assert [c.count for c in report.missed] == [3, 1]
    assert "guardduty" in report.missed[0].example.lower()
    assert report.missed[0].suggestions == [("kms", 3)]


def test_stored_and_computed_tidied_texts_group_alike() -> None:
    # Misses of many shapes, grouped from their stored values, from none (all old rows) and
    # from half of each: the same groups, so old and new rows mix freely in one report.
    from bot.storage.report import group_questions, stored_tidy

    services = ["s3", "ec2", "lambda", "kms", "guardduty", "rds", "eks", "sqs"]
    asks = [
        "how do I encrypt {s} with a customer managed key",
        "Can {s} be encrypted with a customer managed key from another account?",
        "who patches {s} under the shared responsibility model",
        "how to stop developers making {s} resources public",
        "is {s} in scope for PCI DSS",
        "enable logging for {s} in every account",
    ]
    openers = ["", "Hi team, ", "Quick question: ", "hey <@U02ABCDEF> "]
    questions = [
        f"{opener}{ask.format(s=service)}"
        for ask in asks
        for service in services
        for opener in openers
    ]
    stored = [stored_tidy(q) for q in questions]
    computed = group_questions(questions)
    assert group_questions(questions, stored) == computed
    half = [value if i % 2 else None for i, value in enumerate(stored)]
    assert group_questions(questions, half) == computed
    # Grouping happened at all (the comparison above is not between two lists of singletons).
    assert len(computed[0]) >= len(openers) and len(computed) < len(questions) / 2


def test_stored_tidied_text_never_holds_a_secret(store: Store) -> None:
    import re

    key_id = "AKIAIOSFODNN7EXAMPLE"
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    token = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
    question = (
        f"why does rotating key {key_id} with secret aws_secret_access_key = {secret} fail? "
        f"the bot token is {token}"
    )
    miss = _record(store, question, [])
    tidied = _stored_tidied(store)[miss]
    assert tidied and "rotating" in tidied and "fail" in tidied
    # Every piece of each secret a tidied text could hold (lower case, split at punctuation).
    pieces = [p for s in (key_id, secret, token) for p in re.split(r"[^a-z0-9]+", s.lower())]
    assert [p for p in pieces if len(p) >= 6 and p in tidied] == []
    # What the report shows of the question is the guarded text too.
    (cluster,) = build_report(store, timedelta(days=1)).missed
    assert key_id not in cluster.example and secret not in cluster.example


def test_a_database_from_before_the_column_is_upgraded_and_its_misses_grouped(tmp_path) -> None:
    # The answers table as releases before question_tidied created it, with one miss in it.
    from sqlalchemy import Column, MetaData, Table, create_engine

    from bot.storage.schema import answers
    from bot.storage.store import utcnow

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    before = Table(
        "answers",
        MetaData(),
        *(
            Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
            for c in answers.columns
            if c.name != "question_tidied"
        ),
    )
    before.create(engine)
    with engine.begin() as conn:
        conn.execute(
            before.insert(),
            {
                "created_at": utcnow(),
                "question": "how to turn on guardduty for every account",
                "topic_ids": [],
                "suggestion_ids": ["guardduty"],
                "confidence": 0.2,
                "is_miss": True,
                "surface": "mention",
            },
        )
    engine.dispose()

    store = Store.from_url(url)  # adds the column; the old row keeps NULL
    try:
        _record(store, "How do I enable GuardDuty in every account?", [])
        assert sorted(v is None for v in _stored_tidied(store).values()) == [False, True]
        (cluster,) = build_report(store, timedelta(days=1)).missed
        assert cluster.count == 2
        assert dict(cluster.suggestions) == {"guardduty": 1, "kms": 1}
    finally:
        store.dispose()


def test_automatic_answers_have_their_own_line(store: Store) -> None:
    seed(store)  # 12 answers asked for (mentions and DMs), none automatic
    auto_ids = [
        store.record_answer(
            question=f"auto question {i}",
            topic_ids=["guardduty"],
            suggestion_ids=[],
            confidence=0.95,
            team_id="T1",
            user_id="U1",
            channel_id="C9",
            surface="auto",
        )
        for i in range(3)
    ]
    for answer_id, user, helpful in [
        (auto_ids[0], "U1", True),
        (auto_ids[0], "U2", True),
        (auto_ids[1], "U1", False),
    ]:
        store.record_vote(
            answer_id=answer_id, team_id="T1", user_id=user, channel_id="C9", helpful=helpful
        )
    report = build_report(store, timedelta(days=7))
    assert (report.auto_answers, report.auto_helpful, report.auto_not_helpful) == (3, 2, 1)
    # Counted in the totals too.
    assert report.answers == 15 and (report.helpful, report.not_helpful) == (5, 4)
    line = "Automatic answers (auto-answer channels): 3, votes 2 helpful / 1 not helpful"
    assert line in format_report(report, "table").splitlines()
    assert line in format_summary(report).splitlines()
    data = json.loads(format_report(report, "json"))
    assert data["auto"] == {"answers": 3, "helpful": 2, "not_helpful": 1}
    rows = list(csv.DictReader(io.StringIO(format_report(report, "csv"))))
    [auto] = [r for r in rows if r["section"] == "auto"]
    assert (auto["count"], auto["helpful"], auto["not_helpful"]) == ("3", "2", "1")
    # Another team's report sees none of them.
    assert build_report(store, timedelta(days=7), team_id="T2").auto_answers == 0


def test_a_group_carries_every_wording_up_to_the_cap() -> None:
    # One group of many distinct wordings (each asked once, one asked three times).
    wordings = [f"how do I enable guardduty in account number {i}" for i in range(150)]
    items = [(w, ["guardduty"]) for w in wordings + [wordings[7]] * 2]
    [group] = cluster_questions(items)
    assert group.count == 152
    assert len(group.variants) == SHOWN_VARIANTS
    assert len(group.wordings) == MAX_CLUSTER_WORDINGS
    assert group.wordings[0] == wordings[7]  # most asked first
    assert set(group.variants) <= set(group.wordings) <= set(wordings)


def test_the_stale_topics_list_can_be_capped() -> None:
    stale = [(f"topic-{i}", None) for i in range(12)]
    text = format_stale_topics(stale, 365, limit=10)
    assert "topic-9 " in text and "topic-10" not in text and "and 2 more" in text
    assert "topic-11" in format_stale_topics(stale, 365)
