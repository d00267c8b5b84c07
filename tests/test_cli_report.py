"""`awssec report` over a real SQLite database filled through the Store."""

from __future__ import annotations

import csv
import io
import json

from bot.storage import Store
from tests.test_cli import awssec


def _fill(url: str) -> None:
    store = Store.from_url(url)
    ids = {}
    for n, (question, topics) in enumerate(
        [
            ("how do I resize an ec2 instance", []),
            ("how to resize my EC2 instance?", []),
            ("which service finds PII?", ["macie"]),
            ("macie pricing", ["macie"]),
            ("who patches the OS", ["shared-responsibility"]),
        ]
    ):
        ids[n] = store.record_answer(
            question=question,
            topic_ids=topics,
            suggestion_ids=["inspector"] if not topics else [],
            confidence=0.9 if topics else 0.2,
            team_id="T1",
            user_id="U1",
            channel_id="C1",
            surface="mention",
        )
    store.record_vote(answer_id=ids[2], team_id="T1", user_id="U1", channel_id="C1", helpful=True)
    store.record_vote(answer_id=ids[3], team_id="T1", user_id="U2", channel_id="C1", helpful=False)
    store.dispose()


def test_report_json_groups_misses_and_counts_votes(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    _fill(url)
    result = awssec("report", "--since", "1d", "--format", "json", env={"DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["answers"] == 5 and report["misses"] == 2
    assert report["helpful"] == 1 and report["not_helpful"] == 1
    (missed,) = report["missed"]  # the two EC2 wordings are one group
    assert missed["count"] == 2
    assert report["busiest"][0]["topic_id"] == "macie"
    assert missed["suggestions"] == [{"id": "inspector", "count": 2}]


def test_report_table_and_csv(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    _fill(url)
    table = awssec("report", env={"DATABASE_URL": url}).stdout
    assert "Top missed questions" in table and "macie" in table
    rows = list(
        csv.DictReader(
            io.StringIO(awssec("report", "--format", "csv", env={"DATABASE_URL": url}).stdout)
        )
    )
    assert {row["section"] for row in rows} >= {"missed", "busiest"}


def test_report_bad_input_is_one_line(tmp_path):
    bad_since = awssec(
        "report", "--since", "7x", env={"DATABASE_URL": f"sqlite:///{tmp_path}/r.db"}
    )
    assert bad_since.returncode == 1 and "invalid --since" in bad_since.stderr
    bad_url = awssec("report", env={"DATABASE_URL": "postgresql://user:hunter2@"})
    assert bad_url.returncode == 1 and "Traceback" not in bad_url.stderr
    assert "hunter2" not in bad_url.stderr
    assert bad_url.stderr.count("\n") == 1
