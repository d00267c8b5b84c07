"""Storage errors: one-line messages, safe to show to an operator (no passwords)."""

from __future__ import annotations


class StorageError(Exception):
    """The database is misconfigured or unreachable."""


class UnknownAnswerError(StorageError, LookupError):
    """A vote or comment names an answer that does not exist (never recorded, or purged)."""
