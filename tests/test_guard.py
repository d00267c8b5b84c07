from __future__ import annotations

import itertools
import logging

import pytest

from bot.guard import RedactingLogFilter, contains_secret, find_secrets, redact

KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
GIT_SHA = "3f786850e387550fdab836ed7e6dc881de23001b"
PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "-----END OPENSSH PRIVATE KEY-----"
)


def kinds(text: str) -> list[str]:
    return [f.kind for f in find_secrets(text)]


@pytest.mark.parametrize(
    "text",
    [
        "Which service finds PII?",
        "How do I rotate my access keys?",
        "What does AKIA mean in an access key id?",
        f"the fix landed in commit {GIT_SHA}",
        "arn:aws:iam::123456789012:role/AdminRole-with-a-long-name-here-xx",
        "my role id is AROAJQABLZS4A3QDU576Q",  # a unique id, not a credential
        "is aws_secret_access_key required in ~/.aws/credentials?",
        "ThisIsAVeryLongCamelCaseWordWithoutDigitsOk",
        "",
    ],
)
def test_no_false_positives(text: str) -> None:
    assert find_secrets(text) == []
    assert redact(text) == text
    assert not contains_secret(text)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (f"key {KEY_ID} leaked", "AWS access key id"),
        ("temp ASIAY34FZKBOKMUTVV7A creds", "AWS access key id"),
        ("ABIAY34FZKBOKMUTVV7A", "AWS access key id"),
        ("ACCAY34FZKBOKMUTVV7A", "AWS access key id"),
        (f"aws_secret_access_key = {SECRET}", "AWS secret access key"),
        (f'"SecretAccessKey": "{SECRET}"', "AWS secret access key"),
        ("export AWS_SECRET_ACCESS_KEY=shortened/abc123", "AWS secret access key"),
        ("AWS_SESSION_TOKEN=IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJH", "AWS session token"),
        (f"my secret is {GIT_SHA}", "AWS secret access key"),
        (f"here it is: {SECRET}", "AWS secret access key"),  # shape alone: mixed case + digits
        (PEM, "private key"),
        ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "private key"),
        ("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "Slack token"),
        ("xoxp-1234-5678-91011-abcdef0123456789", "Slack token"),
        ("xapp-1-A0123456789-1234567890123-abcdef0123456789", "Slack token"),
        (
            "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
            "Slack webhook URL",
        ),
    ],
)
def test_detects(text: str, kind: str) -> None:
    assert kinds(text) == [kind]
    assert f"[REDACTED {kind}]" in redact(text)


def test_doc_example_key_pair_and_sha_context() -> None:
    text = f"[default]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"
    assert kinds(text) == ["AWS access key id", "AWS secret access key"]
    # A 40-hex-char value right after a key id is a secret too.
    assert kinds(f"{KEY_ID} {GIT_SHA}") == ["AWS access key id", "AWS secret access key"]


def test_word_boundaries() -> None:
    assert find_secrets("XAKIAIOSFODNN7EXAMPLE") == []
    assert find_secrets(KEY_ID + "X") == []
    assert find_secrets("a" + SECRET + "b/c") == []  # part of a longer run


def test_redact_keeps_the_rest_and_positions_are_exact() -> None:
    text = f"Rotate {KEY_ID} now. Also this:\n{PEM}\nthanks!"
    out = redact(text)
    assert out == (
        "Rotate [REDACTED AWS access key id] now. Also this:\n[REDACTED private key]\nthanks!"
    )
    first = find_secrets(text)[0]
    assert text[first.start : first.end] == KEY_ID


def test_truncated_pem_is_redacted_to_the_end() -> None:
    text = "why does this fail?\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3y"
    assert redact(text) == "why does this fail?\n[REDACTED private key]"


def test_findings_do_not_overlap() -> None:
    text = f"aws_secret_access_key={SECRET} {KEY_ID}"
    found = find_secrets(text)
    assert all(a.end <= b.start for a, b in itertools.pairwise(found))
    assert SECRET not in redact(text) and KEY_ID not in redact(text)


def test_log_filter_redacts_message_and_args(captured) -> None:
    log, lines = captured
    log.info("question from %s: %s", "U1", f"is {KEY_ID} mine?")
    log.warning(f"raw {SECRET} aws secret")
    log.info("nothing to see for %s", "U2")
    assert lines[0] == "question from U1: is [REDACTED AWS access key id] mine?"
    assert lines[1] == "raw [REDACTED AWS secret access key] aws secret"
    assert lines[2] == "nothing to see for U2"


def test_log_filter_redacts_tracebacks(captured) -> None:
    log, lines = captured
    try:
        raise ValueError(f"bad token xoxb-123456789012-abcdefghijkl {KEY_ID}")
    except ValueError:
        log.exception("handler failed")
    assert "handler failed" in lines[0] and "Traceback" in lines[0]
    assert KEY_ID not in lines[0] and "xoxb-1234" not in lines[0]


def test_log_filter_with_caplog(caplog: pytest.LogCaptureFixture) -> None:
    caplog.handler.addFilter(RedactingLogFilter())
    try:
        logging.getLogger("bot.some.module").warning("pasted %s", PEM)
    finally:
        caplog.handler.removeFilter(caplog.handler.filters[-1])
    assert "PRIVATE KEY" not in caplog.text and "[REDACTED private key]" in caplog.text
