"""The fitted part of the matcher: feature weights for ranking, and the decision's confidence.

Ranking: each candidate topic gets a utility `u = Σ w_k · x_k` over its features (below); the
candidates' softmax of `u` says how the probability is shared among them.

Decision: the probability that the top candidate is right is a logistic function of a few
features of the ranking (the winner's utility, its margin over the runner-up, how much of the
question the knowledge knows at all, ...). The bot answers when that probability is at least
the one threshold.

All numbers come from `fitted.json`, written by `awssec fit` (cross-validation over the
knowledge's example questions and the public question set; see docs/matching.md).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.matcher.index import RetrievalParams
from bot.matcher.settings import DEFAULT_ANSWER_THRESHOLD

FITTED_PATH = Path(__file__).with_name("fitted.json")

# Per-candidate features (all in comparable units whatever the knowledge's size):
RANKING_FEATURES = (
    "coverage",  # share of the question's (rarity-weighted) words this topic explains
    "vocabulary_coverage",  # ... through its names and keywords
    "questions_coverage",  # ... through its example questions
    "prose_coverage",  # ... through its summary and facts
    "strength",  # evidence in absolute terms, saturating: long questions carry more
    "named",  # the question names this topic (shared among the topics it names)
    "named_object",  # ... and asks for a service: the named topic is likely what it acts on
    "paraphrase",  # fuzzy similarity to the closest of the topic's example questions
    "rest_coverage",  # coverage by the words that do not name a topic: "what bedrock model is
    # best for summaries" names Bedrock, and nothing else in it is about security
)
# Features of the ranking as a whole, for the decision:
DECISION_FEATURES = (
    "bias",
    "top_utility",  # the winner's utility
    "margin",  # winner's utility minus the runner-up's
    "top_vocabulary_coverage",  # how much of the question the winner explains, by field group
    "top_questions_coverage",
    "top_prose_coverage",
    "unknown_share",  # share of the question's weight in words the knowledge never saw
    "top_named",  # 1 if the question names the winner
    "top_rest_coverage",  # the winner's coverage apart from the naming words
    "area_margin",  # winner's utility minus the best out-of-scope area's (0 when none)
    "top_strength",  # the winner's evidence in absolute terms: long questions carry more
)


def decision_features(
    top: Mapping[str, float],
    top_utility: float,
    runner_up_utility: float,
    unknown_share: float,
    top_named: bool,
    area_utility: float = 0.0,
) -> dict[str, float]:
    """The decision's inputs from the winner's ranking features: one definition, used by the
    matcher when answering and by `awssec fit` when fitting."""
    return {
        "bias": 1.0,
        "top_utility": top_utility,
        "margin": top_utility - runner_up_utility,
        "top_vocabulary_coverage": top.get("vocabulary_coverage", 0.0),
        "top_questions_coverage": top.get("questions_coverage", 0.0),
        "top_prose_coverage": top.get("prose_coverage", 0.0),
        "unknown_share": unknown_share,
        "top_named": 1.0 if top_named else 0.0,
        "top_rest_coverage": top.get("rest_coverage", 0.0),
        "area_margin": top_utility - area_utility,
        "top_strength": top.get("strength", 0.0),
    }


DEFAULT_RANKING_WEIGHTS = {
    "coverage": 4.0,
    "vocabulary_coverage": 1.0,
    "questions_coverage": 1.0,
    "prose_coverage": 0.0,
    "strength": 3.0,
    "named": 2.0,
    "named_object": -2.0,
    "paraphrase": 2.0,
    "rest_coverage": 1.0,
}
DEFAULT_DECISION_WEIGHTS = {
    "bias": -6.0,
    "top_utility": 0.6,
    "margin": 1.0,
    "top_vocabulary_coverage": 1.0,
    "top_questions_coverage": 1.0,
    "top_prose_coverage": 1.0,
    "unknown_share": -3.0,
    "top_named": 1.0,
    "top_rest_coverage": 1.0,
    "area_margin": 0.5,
    "top_strength": 0.0,
}


@dataclass(frozen=True)
class FittedModel:
    ranking: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_RANKING_WEIGHTS))
    decision: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_DECISION_WEIGHTS))
    threshold: float = DEFAULT_ANSWER_THRESHOLD
    retrieval: RetrievalParams = field(default_factory=RetrievalParams)
    # What the fit saw and scored (for `--explain` and the docs); free-form.
    provenance: dict[str, Any] = field(default_factory=dict)
    _ranking_weights: tuple[tuple[str, float], ...] = field(
        init=False, repr=False, compare=False, default=()
    )

    def __post_init__(self) -> None:
        # The weights in RANKING_FEATURES order, looked up once: `utility` runs for every
        # candidate of every question.
        weights = tuple((n, self.ranking.get(n, 0.0)) for n in RANKING_FEATURES)
        object.__setattr__(self, "_ranking_weights", weights)

    def utility(self, features: dict[str, float]) -> float:
        return sum(weight * features[name] for name, weight in self._ranking_weights)

    def probability(self, features: dict[str, float]) -> float:
        z = sum(self.decision.get(name, 0.0) * features[name] for name in DECISION_FEATURES)
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def to_json(self) -> str:
        data = {
            "ranking_features": list(RANKING_FEATURES),
            "decision_features": list(DECISION_FEATURES),
            "ranking": {k: round(v, 4) for k, v in self.ranking.items()},
            "decision": {k: round(v, 4) for k, v in self.decision.items()},
            "threshold": round(self.threshold, 4),
            "retrieval": {
                "field_weights": {k: round(v, 4) for k, v in self.retrieval.field_weights.items()},
                "k1": self.retrieval.k1,
                "b": self.retrieval.b,
            },
            "provenance": self.provenance,
        }
        return json.dumps(data, indent=2) + "\n"


def load_fitted(path: Path = FITTED_PATH) -> FittedModel:
    """The fitted model; the defaults if the file is missing or was fitted on other features."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return FittedModel()
    retrieval = data.get("retrieval", {})
    params = RetrievalParams(
        field_weights={k: float(v) for k, v in retrieval["field_weights"].items()},
        k1=float(retrieval["k1"]),
        b=float(retrieval["b"]),
    )
    if (
        tuple(data.get("ranking_features", ())) != RANKING_FEATURES
        or tuple(data.get("decision_features", ())) != DECISION_FEATURES
    ):
        # The retrieval settings do not depend on the features: keep them, so that
        # `awssec fit --no-search` after adding a feature refits from the searched ones
        # instead of silently starting from the defaults.
        return FittedModel(retrieval=params)
    return FittedModel(
        ranking={k: float(v) for k, v in data["ranking"].items()},
        decision={k: float(v) for k, v in data["decision"].items()},
        threshold=float(data["threshold"]),
        retrieval=params,
        provenance=data.get("provenance", {}),
    )
