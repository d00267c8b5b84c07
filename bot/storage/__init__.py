"""Storage: answers, votes, comments, event de-duplication, retention and reports.

Stores plain ids and strings only; never imports Slack, the matcher or rendering.
"""

from bot.storage.engine import default_sqlite_path, normalize_url
from bot.storage.errors import (
    BadRecordError,
    StorageError,
    StorageUnavailable,
    UnknownAnswerError,
)
from bot.storage.learned import Draft, LearnedQuestion
from bot.storage.report import Report, build_report, format_report, format_summary, parse_since
from bot.storage.store import (
    DEFAULT_RETENTION_DAYS,
    MAX_TEXT_CHARS,
    Store,
    retention_days_from_env,
)

__all__ = [
    "DEFAULT_RETENTION_DAYS",
    "MAX_TEXT_CHARS",
    "BadRecordError",
    "Draft",
    "LearnedQuestion",
    "Report",
    "StorageError",
    "StorageUnavailable",
    "Store",
    "UnknownAnswerError",
    "build_report",
    "default_sqlite_path",
    "format_report",
    "format_summary",
    "normalize_url",
    "parse_since",
    "retention_days_from_env",
]
