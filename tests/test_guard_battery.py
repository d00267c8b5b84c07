"""A battery of real-looking secrets, typed the ways people paste them.

None may leak into the guard's redacted text, the stored record, the report or a log line;
ordinary AWS text (class paths, placeholders, SHAs, ARNs, docs URLs) must stay untouched.
"""

from __future__ import annotations

import json
import unicodedata
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.guard import find_secrets, looks_secret_shaped, redact
from bot.storage import Store, build_report, format_report, format_summary
from tests.store_reads import answer_rows

KEY_ID = "AKIAJ7Q3RZ5XW2MB4T6K"
SECRET = "q8Vd2Lx/7NpR4kTzW+9bYc3HmF6sJ0gAeU1oKiEw"
SESSION = (
    "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDmX1x2k5GzFBcz3wK8u2hTq9fOY0aPz"
    "LW3rNm2Xx0t0wIgV4mAJ9yYk1nQ5bF0cGx2p6l+8TqWvR7sHjKz3bQxYz4q7QIIo///////////ARAAGgw2Mz"
)
# A session token without the usual prefix: only its length and its neighbours give it away.
SESSION_OTHER = "Zm9vYmFy" + SECRET.replace("/", "A") * 3
PEM_BODY = (
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1G\n"
    "B4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvuNMoSfm76oqFvAp8Gy0iz5sxjZmSnXyCdPEovGhLa"
)
GHP = "ghp_R7t2Yq9ZkP4mW8xV1nB6cJ3hL5dF0sA2gE7u"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvZSJ9."
    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
)
WEBHOOK = "hooks.slack.com/services/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"


def _wide(text: str) -> str:
    """Full-width form of ASCII letters and digits, as an IME types them."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in text)


def _zero_width(text: str) -> str:
    return "\u200b".join(text[i : i + 5] for i in range(0, len(text), 5))


def _pct(text: str) -> str:
    return text.replace("/", "%2F").replace("+", "%2B").replace("=", "%3D")


# (id, secret as typed[, text typed before it[, and after it]]), pasted inside a sentence.
_CASES: list[tuple[str, ...]] = [
    ("key id", KEY_ID),
    ("key id, lower case", KEY_ID.lower()),
    ("key id, full width", _wide(KEY_ID)),
    ("key id, zero-width", _zero_width(KEY_ID)),
    ("key id, space", f"{KEY_ID[:10]} {KEY_ID[10:]}"),
    ("key id, line break", f"{KEY_ID[:12]}\n{KEY_ID[12:]}"),
    ("secret, line break", f"{SECRET[:25]}\n{SECRET[25:]}", "secret key "),
    ("secret, zero-width", _zero_width(SECRET)),
    ("secret, full width", _wide(SECRET)),
    ("secret, space after key id", f"{KEY_ID} {SECRET[:18]} {SECRET[18:]}", ""),
    ("secret assignment, space", f"{SECRET[:20]} {SECRET[20:]}", "aws_secret_access_key = "),
    ("session token alone", SESSION),
    ("session token, URL-encoded", _pct(SESSION)),
    ("presigned URL", _pct(SESSION_OTHER), "https://b.s3.amazonaws.com/k?X-Amz-Security-Token="),
    ("session token beside a key id", f"{KEY_ID} {SESSION_OTHER}"),
    ("session token, line break", f"{SESSION[:70]}\n{SESSION[70:]}"),
    ("private key, no header", PEM_BODY),
    (
        "private key",
        f"{PEM_BODY}\n-----END RSA PRIVATE KEY-----",
        "-----BEGIN RSA PRIVATE KEY-----\n",
    ),
    ("xoxb", "xoxb-2047291830-4819203746152-Qm7Tz2Kx9Lw4Rv8Np3Ys6Hd1"),
    ("xoxc", "xoxc-2047291830-4819203746152-4819203749911-9f2c7a1e5b3d8f6a0c4e2b7d9a1f3c5e"),
    ("xoxd, URL-encoded", "xoxd-" + _pct("Kq7Z/2mXv+9LpR4tW8yB3nH6cJ1dF0sA=")),
    ("webhook, no https", WEBHOOK),
    ("webhook, Slack-linked", f"<http://{WEBHOOK}|{WEBHOOK}>"),
    ("webhook", f"https://{WEBHOOK}"),
    ("GitHub token", GHP),
    ("GitHub token, zero-width", _zero_width(GHP)),
    ("GitHub fine-grained", "github_pat_11AB2CD3E0" + "kP4mW8xV1nB6cJ3hL5dF0sA2gE7uR7t2Yq9Z" * 2),
    ("database URL", "Tr0ub4dor-3xQ9", "postgresql://app:", "@db.internal:5432/app"),
    ("JWT", JWT),
    ("JWT, line break", f"{JWT[:50]}\n{JWT[50:]}"),
]

SECRETS = [(case[0], case[1]) for case in _CASES]
AROUND = {case[0]: (*case[2:], "", "")[:2] for case in _CASES}

# Text that is not a secret and must come back unchanged.
NOT_SECRETS = [
    "com/amazonaws/services/s3/model/AmazonS3Exception: Access Denied",
    "software/amazon/awssdk/services/secretsmanager/SecretsManagerClient secret rotation",
    "my key is AKIAXXXXXXXXXXXXXXXX, is that format right?",
    "aws_access_key_id = AKIA0000000000000000",
    "the fix is commit 3f786850e387550fdab836ed7e6dc881de23001b",
    "arn:aws:iam::123456789012:role/service-role/AmazonSSMRoleForInstancesQuickSetup",
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html",
    "https://api.slack.com/messaging/webhooks and hooks.slack.com/services/",
    "WHAT DOES AKIA MEAN IN AN ACCESS KEY ID",
    "ASIA PACIFIC 2 REGION IS DOWN",
    "What is the Asia Pacific (Tokyo) region code, ap-northeast-1?",
    "postgresql://user:password@localhost/db",
    "mysql://root:${DB_PASSWORD}@db/app",
    "password: <your-password>",
    "where do I put aws_secret_access_key and the session token?",
    "instance i-0123456789abcdef0 in sg-0123456789abcdef0 with ami-0abcdef1234567890",
    "ＷｈｉｃｈＡＷＳ service finds PII？",
]


def _fragments(secret: str) -> list[str]:
    """What must not survive: each typed piece of 6+ characters, and the whole in NFKC form."""
    pieces = [p for p in secret.replace("\u200b", " ").split() if len(p) >= 6]
    return [*pieces, unicodedata.normalize("NFKC", "".join(secret.split())).replace("\u200b", "")]


def _assert_no_leak(output: str, secret: str) -> None:
    flat = unicodedata.normalize("NFKC", output).replace("\u200b", "")
    for fragment in _fragments(secret):
        for part in (fragment, unicodedata.normalize("NFKC", fragment).replace("\u200b", "")):
            # 12 characters of a piece are enough to recognise a key: none may remain.
            for i in range(0, max(1, len(part) - 11)):
                assert part[i : i + 12] not in flat, f"{part[i : i + 12]!r} leaked: {output!r}"


def _pasted(secret: str, name: str = "") -> str:
    before, after = AROUND.get(name, ("", ""))
    return f"why does this fail? {before}{secret}{after} thanks"


@pytest.mark.parametrize(("name", "secret"), SECRETS, ids=[n for n, _ in SECRETS])
def test_redacted_text_keeps_no_piece_of_the_secret(name: str, secret: str) -> None:
    text = _pasted(secret, name)
    assert find_secrets(text), name
    out = redact(text)
    _assert_no_leak(out, secret)
    # Redaction maps back to the original: the words around the secret come back as typed.
    assert out.startswith("why does this fail? ") and out.endswith(" thanks")
    assert "[REDACTED " in out


@pytest.mark.parametrize(("name", "secret"), SECRETS, ids=[n for n, _ in SECRETS])
def test_spans_are_in_original_coordinates(name: str, secret: str) -> None:
    text = _pasted(secret, name)
    for finding in find_secrets(text):
        assert 0 <= finding.start < finding.end <= len(text)
        assert text[finding.start : finding.end].strip() == text[finding.start : finding.end]


@pytest.mark.parametrize("text", NOT_SECRETS)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert find_secrets(text) == []
    assert redact(text) == text
    assert not looks_secret_shaped(text)


def test_redacting_twice_changes_nothing_more() -> None:
    once = redact(" / ".join(s for _, s in SECRETS))
    assert redact(once) == once


def test_secret_past_any_truncation_point_is_found() -> None:
    # The guard scans everything it is given: a key at the end of a 40 KB message.
    text = "a question " * 3_600 + KEY_ID
    assert len(text) > 39_000
    assert [text[f.start : f.end] for f in find_secrets(text)] == [KEY_ID]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.from_url(f"sqlite:///{tmp_path / 'battery.db'}", retention_days=90)
    yield s
    s.dispose()


def test_nothing_leaks_into_the_stored_record_or_the_report(store: Store) -> None:
    for name, secret in SECRETS:
        store.record_answer(
            question=_pasted(secret, name),
            topic_ids=[],
            suggestion_ids=[],
            confidence=0.1,
            team_id="T1",
            user_id="U1",
            channel_id="C1",
            surface=name[:32],
        )
    rows = answer_rows(store, datetime(2000, 1, 1))
    assert len(rows) == len(SECRETS)
    report = build_report(store, timedelta(days=1))
    outputs = [format_report(report, fmt) for fmt in ("table", "json", "csv")]
    outputs.append(format_summary(report, limit=len(SECRETS)))
    outputs.append(json.dumps(report.to_dict()))
    for (_, secret), row in zip(SECRETS, rows, strict=True):
        _assert_no_leak(row.question, secret)
        for output in outputs:
            _assert_no_leak(output, secret)


def test_nothing_leaks_into_a_log_line(captured) -> None:
    log, lines = captured
    for name, secret in SECRETS:
        log.info("question: %s", _pasted(secret, name))
    for (_, secret), line in zip(SECRETS, lines, strict=True):
        _assert_no_leak(line, secret)
