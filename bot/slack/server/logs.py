"""Logging for the servers: every handler scrubs our secrets and pasted credentials."""

from __future__ import annotations

import logging

from bot.config import Settings
from bot.guard import RedactingLogFilter


class SecretFilter(logging.Filter):
    """Replaces secret values in log records, whoever logs them (Bolt, slack_sdk, us)."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if len(s) >= 8)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        cleaned = message
        for secret in self.secrets:
            cleaned = cleaned.replace(secret, "[redacted]")
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def configure_logging(settings: Settings) -> None:
    """Root logging at `LOG_LEVEL`; every handler scrubs our secrets and pasted credentials."""
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger().setLevel(settings.log_level)
    install_log_filters(settings.secrets)


def install_log_filters(secrets: tuple[str, ...]) -> None:
    """Add the secret filters to every handler configured so far (root, gunicorn's own).

    Handler filters see records propagated from any logger, and `RedactingLogFilter`
    rewrites the record in place, so credentials pasted into a question never reach a log line.
    """
    secret_filter = SecretFilter(secrets)
    redacting = RedactingLogFilter()
    loggers = [logging.getLogger()]
    loggers += [
        logger
        for logger in list(logging.Logger.manager.loggerDict.values())
        if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(f, SecretFilter) for f in handler.filters):
                handler.addFilter(secret_filter)
            if not any(isinstance(f, RedactingLogFilter) for f in handler.filters):
                handler.addFilter(redacting)
