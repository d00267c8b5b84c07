"""Logging for the servers: every handler scrubs our secrets and pasted credentials."""

from __future__ import annotations

import logging
import re

from bot.config import Settings
from bot.guard import RedactingLogFilter

# An OAuth install's one-time code, as Bolt logs the redirect's query at DEBUG ("'code':
# ['...']"), slack_sdk the oauth.v2.access request ("'code': '...'") and an access log the
# redirect itself ("?code=...&state="). It is exchanged for the workspace's token, so until
# then it is as good as one.
_OAUTH_CODE = re.compile(r"""(\bcode=|['"]code['"]:\s*\[?\s*['"])[^&\s'"]+""")


class SecretFilter(logging.Filter):
    """Replaces secret values in log records, whoever logs them (Bolt, slack_sdk, us): ours,
    and OAuth codes."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if len(s) >= 8)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True  # a broken format string: logging reports it (RedactingLogFilter hides)
        cleaned = message
        for secret in self.secrets:
            cleaned = cleaned.replace(secret, "[redacted]")
        if "code" in cleaned:
            cleaned = _OAUTH_CODE.sub(r"\1[redacted]", cleaned)
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
