"""Problems found in knowledge files, reported as `file:line: message`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class KnowledgeError(Exception):
    """The knowledge could not be loaded; `problems` lists every reason at once."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def one_line(self) -> str:
        """Every problem on one line (`file:line: message; ...`), for a log line."""
        return "; ".join(" ".join(str(p).split()) for p in self.problems)
