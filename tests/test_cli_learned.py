"""`awssec learned …`, and `ask`/`eval` with learned questions, from the command line."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.cli import SqliteLearnedReader, main
from bot.knowledge import load_knowledge
from bot.rendering.blocks.answers import render_blocks
from bot.storage import Store
from tests.conftest import REPO, topic_yaml

TAUGHT = "the green binder for the yearly review, where does it live"
REWORDED = "where does the green binder for the yearly review live?"
TOPIC = "artifact"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The embedded SQLite default, in a fresh folder; no ambient database settings."""
    folder = tmp_path / "data"
    for var in ("DATABASE_URL", "AWSSEC_KNOWLEDGE", "AWSSEC_STALE_DAYS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWSSEC_DATA_DIR", str(folder))
    return folder


def run(capsys, *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def ask_json(capsys, *args: str) -> dict:
    status, out, err = run(capsys, "ask", "--json", *args)
    assert status == 0, err
    return json.loads(out)


def open_store(data_dir: Path) -> Store:
    return Store.from_url(f"sqlite:///{data_dir / 'awssec.db'}", retention_days=90)


def test_add_list_remove_and_ask(data_dir: Path, capsys) -> None:
    assert ask_json(capsys, TAUGHT)["topics"] == []

    status, out, _ = run(capsys, "learned", "add", TAUGHT, TOPIC)
    assert status == 0
    learned_id = int(out.split("\t")[0])

    status, out, _ = run(capsys, "learned", "add", TAUGHT.upper() + "?", TOPIC)
    assert status == 0 and "already learned" in out

    status, out, _ = run(capsys, "learned", "list")
    (line,) = out.splitlines()
    assert line.startswith(f"{learned_id}\t{TOPIC}\t{TAUGHT}\t(cli")

    status, out, _ = run(capsys, "learned", "list", "--json")
    (row,) = json.loads(out)
    assert row["id"] == learned_id and row["topic_id"] == TOPIC and row["source"] == "cli"
    assert row["question"] == TAUGHT and row["team_id"] is None

    assert ask_json(capsys, TAUGHT)["topics"] == [TOPIC]
    assert ask_json(capsys, REWORDED)["topics"] == [TOPIC]
    assert ask_json(capsys, "--no-learned", REWORDED)["topics"] == []

    status, out, _ = run(capsys, "learned", "remove", str(learned_id))
    assert status == 0 and str(learned_id) in out
    assert ask_json(capsys, TAUGHT)["topics"] == []
    status, _, err = run(capsys, "learned", "remove", str(learned_id))
    assert status == 1 and err.strip() == f"awssec: no learned question with id {learned_id}"


def test_an_unknown_topic_is_one_line_and_exit_2(data_dir: Path, capsys) -> None:
    status, out, err = run(capsys, "learned", "add", TAUGHT, "artefact")
    assert status == 2 and out == ""
    assert err.strip().splitlines() == [
        "awssec: unknown topic id 'artefact' (did you mean 'artifact'?)"
    ]
    # Nothing stored, and no database created for a refused command.
    assert not (data_dir / "awssec.db").exists()


def test_team_questions_and_the_team_option(data_dir: Path, capsys) -> None:
    store = open_store(data_dir)
    store.add_learned(TAUGHT, TOPIC, taught_by="U1", source="report", team_id="T1")
    store.dispose()
    # Without --team: every team's learned questions (an operator's view).
    assert ask_json(capsys, TAUGHT)["topics"] == [TOPIC]
    assert ask_json(capsys, "--team", "T1", TAUGHT)["topics"] == [TOPIC]
    assert ask_json(capsys, "--team", "T2", TAUGHT)["topics"] == []


def test_eval_uses_learned_questions(data_dir: Path, tmp_path: Path, capsys) -> None:
    questions = tmp_path / "q.yaml"
    questions.write_text(
        yaml.safe_dump({"questions": [{"q": REWORDED, "expect": TOPIC}]}), encoding="utf-8"
    )
    run(capsys, "learned", "add", TAUGHT, TOPIC)
    status, _, _ = run(capsys, "eval", str(questions), "--min-accuracy", "1")
    assert status == 0
    status, _, err = run(capsys, "eval", str(questions), "--min-accuracy", "1", "--no-learned")
    assert status == 1 and "FAIL" in err


def test_drafts_are_listed(data_dir: Path, capsys) -> None:
    store = open_store(data_dir)
    draft_id = store.add_draft(
        question="does Shield cover our ALB?",
        answer_text="Yes:\nShield Standard covers every ALB.",
        expert_id="U9",
        team_id="T1",
    )
    store.dispose()
    status, out, _ = run(capsys, "learned", "drafts")
    assert status == 0
    assert out.startswith(f"{draft_id}\tdoes Shield cover our ALB?\tYes: Shield Standard")
    status, out, _ = run(capsys, "learned", "drafts", "--json")
    (draft,) = json.loads(out)
    assert draft["expert_id"] == "U9" and draft["answer_text"].startswith("Yes:")


def _teach_and_draft(data_dir: Path) -> None:
    store = open_store(data_dir)
    store.add_learned(TAUGHT, TOPIC, taught_by="U1", source="report")
    store.add_learned(
        "how do I stop interns launching GPUs?", "organizations-scp", taught_by=None, source="cli"
    )
    store.add_learned("where did zorblax go", "zorblax-removed", taught_by="U1", source="cli")
    store.add_draft(
        question="does Shield: cover our ALB? [yes/no]",
        answer_text="Yes: Shield Standard covers every ALB, at no extra cost.",
        expert_id="U9",
        team_id="T1",
    )
    store.dispose()


def test_export_is_accepted_by_check_beside_the_knowledge(
    data_dir: Path, tmp_path: Path, capsys
) -> None:
    _teach_and_draft(data_dir)
    status, out, _ = run(capsys, "learned", "export", "--format", "yaml")
    assert status == 0
    document = yaml.safe_load(out)
    (draft,) = document["topics"]
    assert draft["id"].startswith("draft-") and draft["summary"].startswith("Yes: Shield")
    assert draft["reviewed"] == dt.date.today()
    # The learned questions, grouped under their topic id's `questions:` (as comments: the
    # topics themselves live in their own files).
    assert f"# - id: {TOPIC}" in out and TAUGHT in out and "zorblax-removed" in out

    folder = tmp_path / "knowledge"
    shutil.copytree(REPO / "knowledge", folder)
    (folder / "learned-export.yaml").write_text(out, encoding="utf-8")
    status, out, err = run(capsys, "check", str(folder))
    assert status == 0, out + err
    kb = load_knowledge(folder)
    assert kb.get(draft["id"]).summary.startswith("Yes: Shield")


def test_export_into_a_folder_merges_the_learned_questions(
    data_dir: Path, tmp_path: Path, capsys
) -> None:
    _teach_and_draft(data_dir)
    folder = tmp_path / "merged"
    status, out, err = run(capsys, "learned", "export", "--into", str(folder))
    assert status == 0, err
    assert "2 learned question(s) added, 1 draft(s) written" in out
    status, out, err = run(capsys, "check", str(folder))
    assert status == 0, out + err
    kb = load_knowledge(folder)
    assert TAUGHT in kb.get(TOPIC).questions
    assert "how do I stop interns launching GPUs?" in kb.get("organizations-scp").questions
    original = load_knowledge(REPO / "knowledge")
    assert len(kb) == len(original) + 1
    # Everything else is as it was: only those two topics gained questions.
    changed = [
        t.id
        for t in original.topics
        if dataclasses.replace(kb.get(t.id), questions=t.questions, file=t.file, line=t.line) != t
    ]
    assert changed == []
    # The merged knowledge answers the taught wording with no database at all.
    assert ask_json(capsys, "--no-learned", "--knowledge", str(folder), TAUGHT)["topics"] == [TOPIC]


def test_the_fast_reader_reads_what_the_store_wrote(data_dir: Path) -> None:
    store = open_store(data_dir)
    store.add_learned("where is the soc 2 report", TOPIC, taught_by="U1", source="cli")
    store.add_learned("where is the iso cert", TOPIC, taught_by="U1", source="cli", team_id="T1")
    store.add_learned("where is the pci aoc", TOPIC, taught_by="U1", source="cli", team_id="T2")
    path = str(data_dir / "awssec.db")
    everyone = SqliteLearnedReader(path)
    t1 = SqliteLearnedReader(path, "T1")
    assert everyone.learned_version() == store.learned_version() == 3
    assert [r.id for r in everyone.learned()] == [r.id for r in store.all_learned()]
    assert [(r.id, r.question, r.topic_id, r.team_id) for r in t1.learned()] == [
        (r.id, r.question, r.topic_id, r.team_id) for r in store.learned("T1")
    ]
    store.dispose()


def _awssec(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "AWSSEC_KNOWLEDGE", "AWSSEC_STALE_DAYS")
    }
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-c", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=environment,
    )


ASK_AND_REPORT_IMPORTS = """
import sys
from bot.cli import main
status = main(["ask", "--json", {question!r}])
print("sqlalchemy" in sys.modules, file=sys.stderr)
sys.exit(status)
"""


def test_ask_reads_sqlite_without_sqlalchemy_and_creates_no_database(data_dir: Path) -> None:
    env = {"AWSSEC_DATA_DIR": str(data_dir)}
    script = ASK_AND_REPORT_IMPORTS.format(question=TAUGHT)
    result = _awssec(script, env=env)
    assert result.returncode == 0 and json.loads(result.stdout)["topics"] == []
    assert result.stderr.strip() == "False"
    assert not data_dir.exists()  # asking creates no database

    store = open_store(data_dir)
    store.add_learned(TAUGHT, TOPIC, taught_by="U1", source="cli")
    store.dispose()
    result = _awssec(script, env=env)
    assert result.returncode == 0 and json.loads(result.stdout)["topics"] == [TOPIC]
    assert result.stderr.strip() == "False"  # the embedded file is read with sqlite3 alone


def test_database_url_to_an_sqlite_file_is_used(
    tmp_path: Path, data_dir: Path, capsys, monkeypatch
) -> None:
    db = tmp_path / "elsewhere.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
    assert ask_json(capsys, TAUGHT)["topics"] == []
    assert not db.exists()
    run(capsys, "learned", "add", TAUGHT, TOPIC)
    assert db.exists() and not (data_dir / "awssec.db").exists()
    assert ask_json(capsys, TAUGHT)["topics"] == [TOPIC]


# --- keeping answers fresh ---------------------------------------------------------------------


@pytest.fixture
def old_knowledge(write_knowledge) -> Path:
    return write_knowledge(
        {
            "k.yaml": "topics:\n"
            + topic_yaml("zorblax", name="Zorblax", reviewed="2020-03-01")
            + topic_yaml("quux", name="Quuxinator", reviewed=dt.date.today().isoformat())
        }
    )


def test_old_answers_say_they_may_be_out_of_date(
    old_knowledge: Path, data_dir: Path, capsys, monkeypatch
) -> None:
    status, out, _ = run(capsys, "ask", "--knowledge", str(old_knowledge), "zorblax")
    assert status == 0 and "Last reviewed Mar 2020 — may be out of date" in out
    status, out, _ = run(capsys, "ask", "--knowledge", str(old_knowledge), "quuxinator")
    assert "may be out of date" not in out and "Reviewed" in out

    service_kb = load_knowledge(old_knowledge)
    from bot.matcher import Matcher

    answer = Matcher(service_kb).match("zorblax")
    blocks = json.dumps(render_blocks(answer, kb=service_kb), ensure_ascii=False)
    assert "Last reviewed Mar 2020 — may be out of date" in blocks

    monkeypatch.setenv("AWSSEC_STALE_DAYS", "36500")
    status, out, _ = run(capsys, "ask", "--knowledge", str(old_knowledge), "zorblax")
    assert "may be out of date" not in out and "Reviewed Mar 2020" in out
    assert "may be out of date" not in json.dumps(render_blocks(answer, kb=service_kb))

    monkeypatch.setenv("AWSSEC_STALE_DAYS", "soon")
    status, out, err = run(capsys, "ask", "--knowledge", str(old_knowledge), "zorblax")
    assert status == 2 and err.strip().startswith("awssec: AWSSEC_STALE_DAYS is malformed")


def test_the_report_lists_stale_topics(old_knowledge: Path, data_dir: Path, capsys) -> None:
    status, out, err = run(capsys, "report", "--knowledge", str(old_knowledge))
    assert status == 0, err
    assert "Stale topics (reviewed more than 365 days ago): 1" in out
    assert "zorblax" in out and "reviewed 2020-03-01" in out and "quux " not in out
    status, out, _ = run(capsys, "report", "--knowledge", str(old_knowledge), "--format", "json")
    assert json.loads(out)["stale_topics"] == [{"topic_id": "zorblax", "reviewed": "2020-03-01"}]
    status, out, _ = run(capsys, "report", "--knowledge", str(old_knowledge), "--format", "csv")
    assert out.splitlines()[-1] == "stale,zorblax,,,,,2020-03-01"
