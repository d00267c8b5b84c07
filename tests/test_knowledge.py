"""Loading and validating knowledge files."""

from __future__ import annotations

import re

import pytest

from bot.knowledge import KnowledgeError, check_knowledge, load_knowledge
from bot.knowledge.model import SOURCE_BEYOND_NOTES, SOURCE_NOTES
from tests.conftest import REPO, topic_yaml

NOTES_TOPICS = {
    "shared-responsibility", "shield", "waf", "penetration-testing", "encryption", "kms",
    "cloudhsm", "acm", "secrets-manager", "artifact", "guardduty", "inspector", "config",
    "macie", "security-hub", "detective", "abuse", "root-user", "iam-access-analyzer",
}  # fmt: skip


def test_bundled_knowledge_has_every_topic_of_the_notes(kb):
    ids = {t.id for t in kb.topics}
    assert ids >= NOTES_TOPICS
    for topic_id in NOTES_TOPICS:
        assert kb.get(topic_id).source == SOURCE_NOTES


def test_bundled_knowledge_goes_beyond_the_notes(kb):
    beyond = [t for t in kb.topics if t.source == SOURCE_BEYOND_NOTES]
    assert len(beyond) >= 10
    assert not {t.id for t in beyond} & NOTES_TOPICS


def test_bundled_topics_are_complete(kb):
    for topic in kb.topics:
        assert topic.name and topic.category and topic.url.startswith("https://")
        assert 1 <= len(topic.summary.split(". ")) <= 3, topic.id
        assert len(topic.facts) >= 3, topic.id
        assert topic.questions and topic.aliases, topic.id
        assert all(kb.get(r) for r in topic.related), topic.id
    assert {"pii", "ddos", "cve", "hsm", "creds"} <= set(kb.synonyms)


def test_kms_key_types_live_under_kms_not_cloudhsm(kb):
    """The notes put the customer managed / AWS managed / AWS owned key paragraph under CloudHSM."""
    kms_text = " ".join(kb.get("kms").facts).lower()
    assert "customer managed" in kms_text and "aws owned" in kms_text


def test_valid_folder_loads_with_a_version(write_knowledge):
    folder = write_knowledge(
        {
            "a.yaml": "topics:\n" + topic_yaml("one", related=["two"]),
            "b.yml": "topics:\n" + topic_yaml("two"),
        }
    )
    kb = load_knowledge(folder)
    assert [t.id for t in kb.topics] == ["one", "two"]
    assert re.fullmatch(r"[0-9a-f]{12}", kb.version)
    assert kb.get("one").file.endswith("a.yaml") and kb.get("one").line == 2


def test_every_problem_is_reported_at_once_with_file_and_line(write_knowledge):
    text = "topics:\n" + "".join(
        [
            topic_yaml("good"),
            topic_yaml("good"),  # duplicate id, line 11
            topic_yaml("Bad_Id"),
            topic_yaml("typo", summary=None, sumary="misspelt"),
            topic_yaml("links", related=["nowhere"], url="not a url"),
            topic_yaml("types", facts="should be a list", aliases=[]),
        ]
    )
    folder = write_knowledge({"topics.yaml": text})
    problems = [str(p) for p in check_knowledge(folder)]
    joined = "\n".join(problems)
    assert all(re.match(r".*topics\.yaml:\d+: ", p) for p in problems)
    assert "topics.yaml:11: duplicate id 'good' (first defined at" in joined
    assert "bad id format" in joined
    assert "unknown key 'sumary' (did you mean 'summary'?)" in joined
    assert "missing field 'summary'" in joined
    assert "unknown related id 'nowhere'" in joined
    assert "bad URL 'not a url'" in joined
    assert "'facts' must be a list of strings" in joined
    assert len(problems) == 7
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(folder)
    assert [str(p) for p in caught.value.problems] == problems


def test_invalid_yaml_points_at_the_line(write_knowledge):
    folder = write_knowledge({"broken.yaml": "topics:\n  - id: x\n    name: [unclosed\n"})
    (problem,) = check_knowledge(folder)
    assert problem.file.endswith("broken.yaml")
    assert problem.line >= 3
    assert problem.message.startswith("invalid YAML")


def test_duplicate_keys_and_unknown_top_level_keys(write_knowledge):
    folder = write_knowledge(
        {"t.yaml": "topics:\n" + topic_yaml("dup") + '    name: "again"\n' + "topic: []\n"}
    )
    messages = [p.message for p in check_knowledge(folder)]
    assert "duplicate key 'name'" in messages
    assert "unknown key 'topic' (did you mean 'topics'?)" in messages


def test_a_repeated_keyword_or_question_is_reported_with_its_line(write_knowledge):
    # A repeated keyword doubles its weight in the matcher; the editor should hear of it.
    topic = topic_yaml(
        "dup", keywords=["Idle Timeout", "session", "idle  timeout"], questions=["q one", "q two"]
    )
    folder = write_knowledge({"t.yaml": "topics:\n" + topic})
    (problem,) = check_knowledge(folder)
    assert problem.message == "topic 'dup': 'keywords' repeats 'idle  timeout'"
    lines = topic.splitlines()
    keywords_line = 2 + next(n for n, line in enumerate(lines) if "keywords" in line)
    assert problem.line == keywords_line  # counted from 1, after the 'topics:' line


def test_bad_synonyms_are_reported(write_knowledge):
    folder = write_knowledge(
        {"t.yaml": "topics:\n" + topic_yaml("a"), "s.yaml": "synonyms:\n  pii: []\n  ok: [fine]\n"}
    )
    (problem,) = check_knowledge(folder)
    assert problem.message == "synonym 'pii' needs a list of phrases"
    assert problem.line == 2


def test_missing_path_and_empty_folder(tmp_path):
    assert "no such file or folder" in str(check_knowledge(tmp_path / "nope")[0])
    assert "no .yaml files" in str(check_knowledge(tmp_path)[0])


def test_environment_variable_chooses_knowledge(write_knowledge, monkeypatch):
    folder = write_knowledge({"only.yaml": "topics:\n" + topic_yaml("solo")})
    monkeypatch.setenv("AWSSEC_KNOWLEDGE", str(folder))
    assert [t.id for t in load_knowledge().topics] == ["solo"]


def test_bundled_knowledge_folder_is_the_default(monkeypatch):
    monkeypatch.delenv("AWSSEC_KNOWLEDGE", raising=False)
    assert len(load_knowledge()) == len(load_knowledge(REPO / "knowledge"))


@pytest.mark.parametrize(
    "text",
    ["topics:\n  - ? [a, b]\n    : x\n", "synonyms:\n  {a: 1}: [x]\n"],
)
def test_a_list_or_mapping_as_key_is_a_problem_not_a_crash(write_knowledge, text):
    folder = write_knowledge({"k.yaml": text})
    (problem,) = check_knowledge(folder)
    assert problem.line >= 2
    assert "a key must be a plain value" in problem.message


def test_yaml_merge_keys_are_supported(write_knowledge):
    base = topic_yaml("first").replace("  - id: first", "  - &base\n    id: first")
    folder = write_knowledge({"k.yaml": f"topics:\n{base}  - <<: *base\n    id: second\n"})
    kb = load_knowledge(folder)
    assert [t.id for t in kb.topics] == ["first", "second"]
    assert kb.get("second").summary == kb.get("first").summary


def test_a_null_key_is_reported_on_its_own_line(write_knowledge):
    folder = write_knowledge({"k.yaml": "topics:\n" + topic_yaml("x") + "    null: 1\n"})
    (problem,) = check_knowledge(folder)
    assert problem.line == 11 and "unknown key 'None'" in problem.message


@pytest.mark.parametrize(
    ("key", "what"),
    [
        ("services", "service names"),
        ("other_clouds", "provider names"),
        ("other_vendors", "vendor names"),
    ],
)
def test_name_lists_must_be_lists_of_names(write_knowledge, key, what):
    """`services:` (AWS services without a topic), `other_clouds:` (other providers) and
    `other_vendors:` (other vendors' products)."""
    folder = write_knowledge(
        {"t.yaml": "topics:\n" + topic_yaml("demo"), "s.yaml": f"{key}:\n  - Widget Forge\n"}
    )
    assert getattr(load_knowledge(folder), key) == ("Widget Forge",)
    (folder / "s.yaml").write_text(f"{key}: Widget Forge\n", encoding="utf-8")
    with pytest.raises(KnowledgeError, match=f"'{key}' must be a list of {what}"):
        load_knowledge(folder)
    (folder / "s.yaml").write_text(f"{key}: [Widget Forge, 3]\n", encoding="utf-8")
    with pytest.raises(KnowledgeError, match=f"'{key}' must be a list of {what}"):
        load_knowledge(folder)


def test_out_of_scope_areas_are_read_and_malformed_ones_reported(write_knowledge):
    area = "out_of_scope:\n  - name: Car care\n    questions: [rotate the tyres, wash the van]\n"
    folder = write_knowledge({"t.yaml": "topics:\n" + topic_yaml("demo"), "o.yaml": area})
    (read,) = load_knowledge(folder).out_of_scope
    assert (read.name, read.questions, read.line) == (
        "Car care",
        ("rotate the tyres", "wash the van"),
        2,
    )
    broken = "out_of_scope:\n  - name: Car care\n  - name: Lunch\n    questions: []\n"
    (folder / "o.yaml").write_text(broken, encoding="utf-8")
    problems = check_knowledge(folder)
    assert [(p.line, p.message) for p in problems] == [
        (2, "an out-of-scope area needs 'name' and 'questions' only"),
        (3, "out-of-scope area 'Lunch': 'questions' must not be empty"),
    ]
