"""Every matcher setting is explained where it lives and in docs/matching.md."""

from __future__ import annotations

import ast

from tests.conftest import REPO

SETTINGS = REPO / "bot" / "matcher" / "settings.py"


def _settings() -> list[ast.Assign]:
    tree = ast.parse(SETTINGS.read_text(encoding="utf-8"))
    return [
        node
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id.isupper()
    ]


def test_every_setting_is_in_the_settings_table_of_the_matching_doc() -> None:
    doc = (REPO / "docs" / "matching.md").read_text(encoding="utf-8")
    table = doc.split("## Every setting", 1)[1].split("\n## ", 1)[0]
    missing = [n.targets[0].id for n in _settings() if f"`{n.targets[0].id}`" not in table]  # type: ignore[attr-defined]
    assert not missing, f"settings.py names not in docs/matching.md's settings table: {missing}"


def test_every_setting_has_a_comment_above_it_or_its_group() -> None:
    lines = SETTINGS.read_text(encoding="utf-8").split("\n")
    settings = _settings()
    assert len(settings) > 30
    uncommented = []
    # The (0-based) rows that some setting's assignment spans.
    owners = {row for s in settings for row in range(s.lineno - 1, s.end_lineno or s.lineno)}
    for node in settings:
        # Walk up over the settings just above (a group shares one comment) to the first line
        # that is not part of a setting: it must be a comment.
        row = node.lineno - 2
        while row >= 0 and row in owners:
            row -= 1
        if row < 0 or not lines[row].startswith("#"):
            uncommented.append(node.targets[0].id)  # type: ignore[attr-defined]
    assert not uncommented, f"settings without a comment saying what they trade: {uncommented}"
