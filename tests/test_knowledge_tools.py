"""Tools for the people who keep the knowledge, and the matcher's explain/sweep/fit tools."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.evaluation import cross_validate, evaluate, load_questions
from bot.knowledge import KnowledgeError, load_knowledge
from bot.knowledge.review import MIN_EXAMPLE_QUESTIONS, knowledge_warnings, stale_topics
from bot.matcher import Matcher
from bot.matcher.normalize import words
from tests.conftest import REPO, topic_yaml
from tests.test_cli import awssec

QUESTIONS = [f"question number {n} about widgets?" for n in range(MIN_EXAMPLE_QUESTIONS)]


def test_reviewed_must_be_a_real_past_date(write_knowledge):
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    folder = write_knowledge(
        {
            "t.yaml": "topics:\n"
            + topic_yaml("future", reviewed=tomorrow)
            + topic_yaml("nonsense", reviewed="2026-13-01")
        }
    )
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(folder)
    messages = [p.message for p in caught.value.problems]
    assert any("'future'" in m and "in the future" in m for m in messages)
    assert any("'nonsense'" in m and "YYYY-MM-DD" in m for m in messages)


def test_warnings_name_topics_with_few_questions_or_no_review_date(write_knowledge):
    folder = write_knowledge(
        {
            "t.yaml": "topics:\n"
            + topic_yaml("thin", reviewed="2026-11-01")
            + topic_yaml("undated", questions=QUESTIONS)
            + topic_yaml("fine", questions=QUESTIONS, reviewed="2026-11-01")
        }
    )
    warnings = [w.message for w in knowledge_warnings(load_knowledge(folder))]
    assert len(warnings) == 2
    assert any("'thin'" in w and "example questions" in w for w in warnings)
    assert any("'undated'" in w and "reviewed" in w for w in warnings)


def test_stale_lists_topics_reviewed_before_the_cutoff(write_knowledge):
    folder = write_knowledge(
        {
            "t.yaml": "topics:\n"
            + topic_yaml("old", questions=QUESTIONS, reviewed="2025-01-01")
            + topic_yaml("new", questions=QUESTIONS, reviewed="2026-11-20")
        }
    )
    kb = load_knowledge(folder)
    today = dt.date(2026, 12, 1)
    assert [t.id for t in stale_topics(kb, 30, today)] == ["old"]
    assert stale_topics(kb, 1000, today) == []


def test_check_strict_fails_on_warnings_and_stale(write_knowledge):
    folder = write_knowledge(
        {"t.yaml": "topics:\n" + topic_yaml("old", questions=QUESTIONS, reviewed="2025-01-01")}
    )
    relaxed = awssec("check", str(folder), "--stale", "30")
    assert relaxed.returncode == 0
    assert "stale: topic 'old' reviewed 2025-01-01" in relaxed.stdout
    strict = awssec("check", str(folder), "--stale", "30", "--strict")
    assert strict.returncode == 1
    assert awssec("check", str(folder), "--stale", "3000", "--strict").returncode == 0


def test_check_warns_of_keywords_made_only_of_filler_words(write_knowledge):
    """ "us or aws" is every word filler: the matcher reads nothing from it, so check says so
    (and --strict fails) instead of letting a writer think it draws questions."""
    folder = write_knowledge(
        {
            "t.yaml": "topics:\n"
            + topic_yaml(
                "split",
                questions=QUESTIONS,
                reviewed="2026-11-01",
                keywords=["customer responsibility", "us or aws"],
            )
        }
    )
    relaxed = awssec("check", str(folder))
    assert relaxed.returncode == 0
    assert "topic 'split' keyword 'us or aws' is only filler words" in relaxed.stdout
    assert "customer responsibility" not in relaxed.stdout
    assert awssec("check", str(folder), "--strict").returncode == 1


def test_bundled_knowledge_has_66_reviewed_topics_and_no_warnings():
    kb = load_knowledge()
    assert len(kb) == 66
    assert knowledge_warnings(kb) == []
    assert all(t.reviewed is not None and len(t.questions) >= 12 for t in kb.topics)
    result = awssec("check", "--strict")
    assert result.returncode == 0, result.stdout + result.stderr


def test_answers_show_when_the_topic_was_reviewed():
    result = awssec("ask", "which service finds PII?")
    assert result.returncode == 0
    reviewed = load_knowledge().get("macie").reviewed
    assert f"Reviewed {reviewed:%b %Y}" in result.stdout


def test_ask_explain_shows_reading_candidates_and_verdict():
    result = awssec("ask", "--explain", "does gaurdduty look at vpc flow logs")
    assert result.returncode == 0
    out = result.stdout
    assert "typo corrected: gaurdduty -> guardduty" in out
    assert "candidate" in out and "utility" in out
    assert "Decision: P(top is right)" in out
    assert "Verdict:" in out


def test_eval_sweep_and_reliability_table():
    result = awssec("eval", "tests/heldout/set-b.yaml", "--sweep")
    assert result.returncode == 0
    out = result.stdout
    assert "confidence   questions   top topic right" in out
    assert "threshold   in-scope accuracy   out-of-scope refusal" in out
    assert "the lowest threshold refusing >= 95%" in out


def test_ask_json_output_is_valid_utf8_whatever_comes_in():
    process = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "--json", "-"],
        input=b"which service finds \xff\xfe PII\nbroken \xc3\x28 bytes\n",
        capture_output=True,
        timeout=60,
        cwd=REPO,
    )
    assert process.returncode == 0
    lines = process.stdout.decode("utf-8").splitlines()  # raises if not valid UTF-8
    answers = [json.loads(line) for line in lines]
    assert len(answers) == 2
    assert answers[0]["topics"] == ["macie"]


def test_cross_validation_stays_above_its_floor(kb, matcher):
    """Each example question matched without itself; each topic's questions without it."""
    leave_one_out, leave_topic_out = cross_validate(matcher)
    assert leave_one_out.in_scope == sum(len(t.questions) for t in kb.topics)
    # Regression floors a few points under the figures in the README. Leave-one-out is
    # optimistic since the example questions it ranked under a neighbour were reworded (see
    # the README); leave-topic-out refusal fell as the threshold did (the fit chooses it on
    # real questions, where the out-of-scope areas refuse most of what it used to refuse).
    # The evening's 330 example questions were written in words the other examples of their
    # topic do not use, so each is harder to match from the rest: 89.9% -> 87.1%. The
    # threshold the fit chose with development sets AF and AG (0.42 -> 0.47) answers fewer
    # of them: 86.3% -> 84.2%. The threshold chosen on the calibration sets (0.45 -> 0.34)
    # answers more of both: leave-one-out 83.1% -> 86.1%, leave-topic-out refused 68.1% ->
    # 56.7% (a whole topic left out is harder than the uncovered services people ask about:
    # the held-out sets still refuse 97.3%). With seven calibration sets (0.36): 85.4% and
    # 58.3%; after the evening round's refit (0.35): 85.7% and 57.3%; with nine (0.34, on
    # 2026-12-04): 85.6% and 56.9%.
    assert leave_one_out.accuracy >= 0.83
    assert leave_topic_out.refusal_rate >= 0.54


def test_did_you_mean_holds_the_right_topic_when_the_bot_does_not_answer(kb, matcher):
    questions = load_questions(REPO / "tests" / "questions.yaml", kb)
    hits, unanswered = evaluate(matcher, questions).suggestion_hits()
    assert unanswered > 0
    # Measured 8/8 (few are left unanswered now): one miss must not fail it.
    assert hits / unanswered >= 0.85


def test_the_threshold_is_the_middle_of_the_best_run():
    """Every threshold over 0.3 and up to 0.62 answers the in-scope questions (0.62, 0.9) and
    refuses the out-of-scope ones (0.3, 0.1) alike: the middle of that run is chosen, not
    its edge next to answering the 0.3 one."""
    np = pytest.importorskip("numpy")
    from bot.matcher.fit import choose_threshold

    probability = np.array([0.9, 0.62, 0.3, 0.1])
    right = np.array([1.0, 1.0, 0.0, 0.0])
    in_scope = np.array([True, True, False, False])
    threshold, balanced = choose_threshold(probability, right, in_scope)
    assert balanced == 1.0
    assert 0.44 <= threshold <= 0.47


def _vault_and_spinner(write_knowledge):
    """A two-topic knowledge small enough to fit in a test."""
    folder = write_knowledge(
        {
            "t.yaml": "topics:\n"
            + topic_yaml(
                "vault",
                name="Zorblax Vault",
                keywords=["stores passwords", "secret storage"],
                questions=["where do we store passwords", "how do I keep secrets safe"],
            )
            + topic_yaml(
                "spinner",
                name="Frobnicator",
                keywords=["spins turbines", "turbine speed"],
                questions=["what spins the turbines", "how fast do turbines spin"],
            )
        }
    )
    return load_knowledge(folder)


def test_fit_learns_a_working_model_from_a_small_knowledge(write_knowledge):
    pytest.importorskip("numpy")
    from bot.matcher.fit import fit

    kb = _vault_and_spinner(write_knowledge)
    model = fit(kb, [("password storage please", ("vault",)), ("pizza tonight", ())], search=False)
    assert 0.2 <= model.threshold <= 0.9
    ranked = Matcher(kb, model).match("where should passwords be stored")
    assert [*ranked.topic_ids, *ranked.suggestion_ids][:1] == ["vault"]


# A public set for the two-topic knowledge, and questions for the vault worded far from its
# text (which the public set's threshold would refuse).
TINY_PUBLIC = [("password storage please", ("vault",)), ("pizza tonight", ())]
FAR_FROM_THE_VAULT = [(f"office wifi passwords for floor {n}", ("vault",)) for n in range(30)]


def _fit_and_far_probability(write_knowledge):
    """The two-topic knowledge, its fit on TINY_PUBLIC alone, and the probability that fit
    gives a question worded far from the vault."""
    from bot.matcher.fit import fit

    kb = _vault_and_spinner(write_knowledge)
    alone = fit(kb, TINY_PUBLIC, search=False)
    ranking = Matcher(kb, alone).rank(words("office wifi passwords for floor 3"))
    assert ranking is not None
    return kb, alone, ranking.probability


def test_development_sets_move_the_threshold_and_nothing_else(write_knowledge):
    """Development questions (`awssec fit --development`) take part in choosing the one
    threshold only: the fitted weights are the same with or without them. Here they are many
    questions for the vault worded far from its text, which the public set's threshold would
    refuse: answering them takes a lower one."""
    pytest.importorskip("numpy")
    from bot.matcher.fit import fit

    kb, alone, far_probability = _fit_and_far_probability(write_knowledge)
    with_development = fit(kb, TINY_PUBLIC, search=False, development=FAR_FROM_THE_VAULT)
    assert with_development.ranking == alone.ranking
    assert with_development.decision == alone.decision
    assert with_development.provenance["examples"]["development"] == 30
    assert with_development.threshold <= far_probability < alone.threshold


def test_calibration_sets_choose_the_threshold_over_development_sets(write_knowledge):
    """Calibration questions (`awssec fit --calibration`), never read and never learnt
    from, stand for in-scope questions when choosing the threshold, in place of the
    development sets' (whose out-of-scope questions still count), and fit nothing else."""
    pytest.importorskip("numpy")
    from bot.matcher.fit import fit

    kb, alone, far_probability = _fit_and_far_probability(write_knowledge)
    calibrated = fit(kb, TINY_PUBLIC, search=False, calibration=FAR_FROM_THE_VAULT)
    assert (calibrated.ranking, calibrated.decision) == (alone.ranking, alone.decision)
    assert calibrated.provenance["examples"]["calibration"] == 30
    assert calibrated.threshold <= far_probability < alone.threshold
    # With both, the development sets' in-scope questions no longer move the threshold.
    near = TINY_PUBLIC * 10
    calibrated_near = fit(kb, TINY_PUBLIC, search=False, calibration=near)
    both = fit(kb, TINY_PUBLIC, search=False, development=FAR_FROM_THE_VAULT, calibration=near)
    assert both.threshold == calibrated_near.threshold
    assert both.threshold > far_probability
    # Their out-of-scope questions still count: refusing these (at the far questions'
    # probability) narrows the run of best thresholds from below, so its middle rises.
    far_outside = [(text, ()) for text, _ in FAR_FROM_THE_VAULT]
    with_outside = fit(kb, TINY_PUBLIC, search=False, development=far_outside, calibration=near)
    assert with_outside.threshold > calibrated_near.threshold


def test_the_development_listing_names_existing_sets_and_no_held_out_one():
    """`awssec fit` learns from the sets tests/heldout/development.txt lists, and chooses its
    threshold on those calibration.txt lists: each exists and says in its first line what it
    is (no held-out set is listed, and no set is in both lists)."""
    from bot.cli import _listed_sets

    listed = [Path(p) for p in _listed_sets(REPO / "tests", "development")]
    calibration = [Path(p) for p in _listed_sets(REPO / "tests", "calibration")]
    assert len(listed) >= 10
    assert len(calibration) >= 2
    assert not {p.name for p in listed} & {p.name for p in calibration}
    for path in listed:
        header = path.read_text(encoding="utf-8").splitlines()[0]
        assert header.startswith("# Development set"), path
    for path in calibration:
        header = path.read_text(encoding="utf-8").splitlines()[0]
        assert header.startswith("# Calibration set"), path
    listed += calibration
    held_out = {
        f"set-{name}.yaml"
        for name in [
            *"orstuvwxz",
            *("ac", "ad", "ae", "ah", "aj", "am", "ao", "at", "aw", "az", "ba"),
            *("ca", "cb", "cc", "cj", "cn", "co", "cz", "da", "de"),
            *("dl", "dm", "dr", "dv", "ea", "ee", "ej", "ek", "em", "ep", "eq"),
            *("et", "ev", "ex", "fa", "fb"),
            *("ff", "fh", "fj", "fl", "fn", "fp", "fr", "ft", "fv", "gb", "gc", "gd", "ge"),
            *("gj", "gk", "gl", "gp", "gq", "gr", "gs"),
        ]
    }
    assert held_out.isdisjoint(p.name for p in listed)
