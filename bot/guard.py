"""Credential guard: spots secrets pasted into questions so they never reach storage or logs.

Pure functions over strings. The patterns lean towards catching a real credential (a false
positive only costs a redacted word) but stay quiet on ordinary AWS questions, ARNs and git SHAs.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

__all__ = [
    "RedactingLogFilter",
    "SecretFinding",
    "contains_secret",
    "find_secrets",
    "redact",
]

ACCESS_KEY_ID = "AWS access key id"
SECRET_ACCESS_KEY = "AWS secret access key"
SESSION_TOKEN = "AWS session token"
PRIVATE_KEY = "private key"
SLACK_TOKEN = "Slack token"
SLACK_WEBHOOK = "Slack webhook URL"


@dataclass(frozen=True)
class SecretFinding:
    kind: str
    start: int
    end: int


# Only the prefixes of *credentials* (AKIA long-term, ASIA temporary, ABIA STS bearer token,
# ACCA context-specific). AROA/AIDA/... are unique ids of roles and users: not secrets.
_ACCESS_KEY_ID = re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])")

# A secret access key is 40 base64 characters; the look-arounds reject slices of longer runs
# (base64 blobs, PEM bodies).
_SECRET_KEY_SHAPE = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])")
_SECRET_CONTEXT = re.compile(r"secret|credential|passw(?:or)?d", re.IGNORECASE)
_CONTEXT_WINDOW = 100
_HEX40 = re.compile(r"[0-9a-fA-F]{40}")

# `aws_secret_access_key = ...`, `"SecretAccessKey": "..."`, `export AWS_SESSION_TOKEN=...`:
# the value is a secret whatever its length (it may be truncated or mangled).
_ASSIGNMENT = re.compile(
    r"(?P<name>aws_secret_access_key|secret_access_key|secretaccesskey|aws_secret_key"
    r"|aws_session_token|session_token|sessiontoken|aws_security_token)"
    r"[\"']?\s*[:=]\s*[\"']?(?P<value>[A-Za-z0-9/+=]{8,})",
    re.IGNORECASE,
)

# Through the END line, or to the end of the text when the paste was cut short.
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
    r".*?(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
    re.DOTALL,
)

_SLACK_TOKEN = re.compile(
    r"(?<![A-Za-z0-9])(?:xox[abposre](?:\.xox[a-z])?-[A-Za-z0-9-]{10,}|xapp-[A-Za-z0-9-]{10,})"
)
_SLACK_WEBHOOK = re.compile(r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[\w/]+")


def _looks_random(candidate: str) -> bool:
    """A 40-char run mixing upper case, lower case and digits is almost surely a key."""
    return (
        any(c.isupper() for c in candidate)
        and any(c.islower() for c in candidate)
        and any(c.isdigit() for c in candidate)
        and not _HEX40.fullmatch(candidate)
    )


def find_secrets(text: str) -> list[SecretFinding]:
    """Return the credentials found in ``text``, in order, without overlaps."""
    if not text:
        return []
    found: list[SecretFinding] = []

    key_ids = [m.span() for m in _ACCESS_KEY_ID.finditer(text)]
    found += [SecretFinding(ACCESS_KEY_ID, s, e) for s, e in key_ids]

    for m in _SECRET_KEY_SHAPE.finditer(text):
        s, e = m.span()
        lo, hi = max(0, s - _CONTEXT_WINDOW), e + _CONTEXT_WINDOW
        near_key_id = any(ks < hi and ke > lo for ks, ke in key_ids)
        # A bare git SHA (40 hex chars) is only a secret when something says so.
        if near_key_id or _SECRET_CONTEXT.search(text, lo, hi) or _looks_random(m.group()):
            found.append(SecretFinding(SECRET_ACCESS_KEY, s, e))

    for m in _ASSIGNMENT.finditer(text):
        kind = SESSION_TOKEN if "token" in m.group("name").lower() else SECRET_ACCESS_KEY
        found.append(SecretFinding(kind, m.start("value"), m.end("value")))

    found += [SecretFinding(PRIVATE_KEY, *m.span()) for m in _PRIVATE_KEY.finditer(text)]
    found += [SecretFinding(SLACK_TOKEN, *m.span()) for m in _SLACK_TOKEN.finditer(text)]
    found += [SecretFinding(SLACK_WEBHOOK, *m.span()) for m in _SLACK_WEBHOOK.finditer(text)]

    # Patterns overlap (a key inside a PEM block, an assignment value that is also 40 chars):
    # keep the earliest, longest finding so redaction replaces each secret exactly once.
    found.sort(key=lambda f: (f.start, -(f.end - f.start)))
    result: list[SecretFinding] = []
    for finding in found:
        if result and finding.start < result[-1].end:
            if finding.end > result[-1].end:
                last = result[-1]
                result[-1] = SecretFinding(last.kind, last.start, finding.end)
            continue
        result.append(finding)
    return result


def redact(text: str) -> str:
    """Replace every credential in ``text`` with ``[REDACTED <kind>]``."""
    findings = find_secrets(text)
    if not findings:
        return text
    parts: list[str] = []
    pos = 0
    for f in findings:
        parts.append(text[pos : f.start])
        parts.append(f"[REDACTED {f.kind}]")
        pos = f.end
    parts.append(text[pos:])
    return "".join(parts)


def contains_secret(text: str) -> bool:
    return bool(find_secrets(text))


class RedactingLogFilter(logging.Filter):
    """Redact credentials in log records before any handler formats them.

    Install on handlers (not loggers): a logger's filters do not see records propagated from
    child loggers, a handler's do. The record is rewritten in place, so every handler that
    sees it afterwards gets the redacted text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            # A broken format string: logging will report it; still hide what we can.
            message = f"{record.msg} {record.args!r}"
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when set, so the traceback text is redacted too.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
