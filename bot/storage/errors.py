"""Storage errors: one-line messages, safe to show to an operator (no passwords).

Contract (docs: /tmp/briefs/shared-api.md, owner "reliability"):

- ``StorageError``: base of everything the storage layer raises on purpose.
- ``StorageUnavailable``: connection-level trouble only: the database is unreachable, a
  query timed out, or the storage breaker is open. Callers tell the user "couldn't save,
  try again" and carry on.
- ``BadRecordError``: one record's data was rejected at the Store's edge (an id that
  overflows, a value that cannot be stored). It never trips the breaker.
"""

from __future__ import annotations


class StorageError(Exception):
    """The database is misconfigured or unreachable."""


class StorageUnavailable(StorageError):
    """The database cannot be reached right now (down, timed out, or the breaker is open)."""


class BadRecordError(StorageError, ValueError):
    """One record's data cannot be stored (rejected at the Store's edge, logged once)."""


class UnknownAnswerError(StorageError, LookupError):
    """A vote or comment names an answer that does not exist (never recorded, or purged)."""
