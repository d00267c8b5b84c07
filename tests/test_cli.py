"""The `awssec` command line, run as a real process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, topic_yaml


def awssec(*args: str, stdin: str | None = None, env: dict | None = None):
    import os

    environment = {k: v for k, v in os.environ.items() if k != "AWSSEC_KNOWLEDGE"}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=environment,
    )


def test_ask_prints_a_readable_answer():
    result = awssec("ask", "which service finds PII?")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("Amazon Macie")
    assert "Key facts:" in out and "Docs: https://" in out and "Related:" in out


def test_ask_json_has_the_documented_fields():
    result = awssec("ask", "--json", "KMS vs CloudHSM")
    data = json.loads(result.stdout)
    assert set(data) >= {"question", "topics", "suggestions", "confidence", "text"}
    assert data["question"] == "KMS vs CloudHSM"
    assert set(data["topics"]) == {"kms", "cloudhsm"}
    assert 0 <= data["confidence"] <= 1


def test_ask_json_reads_one_question_per_line_in_order():
    questions = ["gaurdduty", "what's the weather?", "who patches the guest OS on EC2?"]
    result = awssec("ask", "--json", "-", stdin="\n".join(questions) + "\n")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["question"] for line in lines] == questions
    assert lines[0]["topics"] == ["guardduty"]
    assert lines[1]["topics"] == [] and "don't know" in lines[1]["text"]
    assert lines[2]["topics"] == ["shared-responsibility"]


def test_unknown_question_says_so_and_hints_at_list():
    out = awssec("ask", "how do I resize an EC2 instance?").stdout
    assert "I don't know that one" in out and "awssec list" in out


def test_empty_question_is_one_clear_line():
    result = awssec("ask", "  ")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "question is empty" in result.stderr
    assert "Traceback" not in result.stderr


def test_list_groups_topics_by_category(kb):
    out = awssec("list").stdout
    for category in kb.by_category():
        assert f"{category}:" in out
    assert f"{len(kb)} topics." in out


def test_check_accepts_the_bundled_knowledge(kb):
    result = awssec("check")
    assert result.returncode == 0
    assert f"OK: {len(kb)} topics" in result.stdout


def test_bad_knowledge_is_refused_by_every_command_without_traceback(tmp_path):
    (tmp_path / "bad.yaml").write_text("topics:\n" + topic_yaml("x", sumary="oops", summary=None))
    expected = "bad.yaml:2: topic 'x': missing field 'summary'"
    check = awssec("check", str(tmp_path))
    assert check.returncode == 1 and expected in check.stdout
    for args in (["ask", "macie"], ["list"], ["chat"]):
        result = awssec(*args, "--knowledge", str(tmp_path), stdin="")
        assert result.returncode == 1, args
        assert expected in result.stderr and "Traceback" not in result.stderr
    via_env = awssec("ask", "macie", env={"AWSSEC_KNOWLEDGE": str(tmp_path)})
    assert via_env.returncode == 1 and expected in via_env.stderr


def test_missing_knowledge_path_is_one_line(tmp_path):
    result = awssec("ask", "macie", "--knowledge", str(tmp_path / "missing"))
    assert result.returncode == 2
    assert "knowledge not found" in result.stderr and "Traceback" not in result.stderr


def test_chat_answers_one_question_after_another():
    result = awssec("chat", stdin="gaurdduty\nlist\nthanks\nhelp\nquit\nmacie\n")
    assert result.returncode == 0
    out = result.stdout
    assert "`list` shows every topic" in out  # at the prompt, commands have no prefix
    assert out.index("Amazon GuardDuty") < out.index("topics.") < out.index("welcome")
    assert "Amazon Macie (" not in out  # stopped at quit


def test_eval_reports_accuracy_and_fails_below_the_floor(tmp_path):
    ok = awssec("eval", "tests/questions.yaml", "--min-accuracy", "0.5", "--min-refusal", "0.5")
    assert ok.returncode == 0, ok.stdout[-2000:]
    assert "in-scope top-1 accuracy:" in ok.stdout and "out-of-scope refusal rate:" in ok.stdout
    hard = tmp_path / "q.yaml"
    hard.write_text('questions:\n  - q: "what is the weather"\n    expect: macie\n')
    failed = awssec("eval", str(hard), "--min-accuracy", "0.95")
    assert failed.returncode == 1
    assert "MISS 'what is the weather': expected macie, got (no topic)" in failed.stdout
    # Scoring a held-out set without reading its misses: the figures, and no question.
    quiet = awssec("eval", str(hard), "--figures-only", "--min-accuracy", "0.95")
    assert quiet.returncode == 1
    assert "in-scope top-1 accuracy: 0.0% (0/1)" in quiet.stdout
    assert "MISS" not in quiet.stdout and "weather" not in quiet.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("questions: [", "invalid YAML"),
        ("q: 1", "'questions:' list"),
        ("questions:\n  - q: hi\n    expect: 5\n", "'expect' must be a topic id"),
        ("questions:\n  - q: hi\n    expect: [[kms]]\n", "'expect' must be a topic id"),
    ],
)
def test_eval_rejects_bad_question_files_in_one_line(tmp_path, content, message):
    path = tmp_path / "q.yaml"
    if content is not None:
        path.write_text(content)
    result = awssec("eval", str(path))
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr


def test_ask_does_not_import_slack_or_sqlalchemy():
    code = (
        "import sys, io, contextlib\n"
        "from bot.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()): main(['ask', 'macie'])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('slack_bolt', 'slack_sdk', 'sqlalchemy', 'gunicorn'))\n"
        "print(heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.stdout.strip() == "[]", result.stderr
