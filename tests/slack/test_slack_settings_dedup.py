"""Settings from the environment, secret scrubbing, and the de-duplication store."""

from __future__ import annotations

import logging
import threading

import pytest
from slackfakes import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET

from bot.config import Settings, SettingsError
from bot.slack.reliability.dedup import Deduplicator, MemoryDeduplicator
from bot.slack.server.logs import SecretFilter

HTTP_ENV = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}


def test_http_mode_defaults() -> None:
    settings = Settings.from_env(HTTP_ENV)
    assert not settings.socket_mode
    assert settings.port == 3000 and settings.log_level == "INFO"
    assert settings.api_base_url == "https://slack.com/api/"


def test_socket_mode_and_overrides() -> None:
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "PORT": "8080",
        "LOG_LEVEL": "debug",
        "SLACK_API_BASE_URL": "https://slack-gov.com/api",
        "AWSSEC_KNOWLEDGE": "/k",
    }
    settings = Settings.from_env(env)
    assert settings.socket_mode and settings.signing_secret is None
    assert settings.port == 8080 and settings.log_level == "DEBUG"
    assert settings.api_base_url == "https://slack-gov.com/api/"
    assert settings.knowledge_path == "/k"
    assert Settings.from_env(env, knowledge_path="/cli").knowledge_path == "/cli"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "SLACK_BOT_TOKEN"),
        ({**HTTP_ENV, "SLACK_BOT_TOKEN": "xoxp-user-token"}, "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": BOT_TOKEN}, "SLACK_SIGNING_SECRET"),
        ({**HTTP_ENV, "SLACK_SIGNING_SECRET": "has space"}, "SLACK_SIGNING_SECRET"),
        ({**HTTP_ENV, "SLACK_APP_TOKEN": "xoxb-wrong-kind"}, "SLACK_APP_TOKEN"),
        ({**HTTP_ENV, "PORT": "eighty"}, "PORT"),
        ({**HTTP_ENV, "PORT": "70000"}, "PORT"),
        ({**HTTP_ENV, "LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({**HTTP_ENV, "SLACK_API_BASE_URL": "slack.com/api"}, "SLACK_API_BASE_URL"),
        ({**HTTP_ENV, "WEB_CONCURRENCY": "two"}, "WEB_CONCURRENCY"),
        ({**HTTP_ENV, "WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY"),
        ({**HTTP_ENV, "WEB_THREADS": "x"}, "WEB_THREADS"),
        ({**HTTP_ENV, "WEB_THREADS": "-4"}, "WEB_THREADS"),
        ({**HTTP_ENV, "AWSSEC_LISTENER_THREADS": "x"}, "AWSSEC_LISTENER_THREADS"),
        ({**HTTP_ENV, "AWSSEC_LISTENER_THREADS": "4.5"}, "AWSSEC_LISTENER_THREADS"),
        ({**HTTP_ENV, "AWSSEC_LISTENER_THREADS": "99999"}, "AWSSEC_LISTENER_THREADS"),
    ],
)
def test_bad_settings_name_the_variable_in_one_line(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    message = str(caught.value)
    assert message.startswith(variable) and "\n" not in message
    for secret in (BOT_TOKEN, SIGNING_SECRET, APP_TOKEN, "xoxp-user-token", "has space"):
        assert secret not in message


def test_worker_and_thread_counts() -> None:
    settings = Settings.from_env(HTTP_ENV)
    assert (settings.web_concurrency, settings.web_threads, settings.listener_threads) == (2, 4, 32)
    env = {
        **HTTP_ENV,
        "WEB_CONCURRENCY": "3",
        "WEB_THREADS": " 8 ",
        "AWSSEC_LISTENER_THREADS": "2",
    }
    settings = Settings.from_env(env)
    assert (settings.web_concurrency, settings.web_threads, settings.listener_threads) == (3, 8, 2)


def test_repr_hides_secrets() -> None:
    settings = Settings.from_env({**HTTP_ENV, "SLACK_APP_TOKEN": APP_TOKEN})
    text = repr(settings) + str(settings)
    for secret in (BOT_TOKEN, SIGNING_SECRET, APP_TOKEN):
        assert secret not in text


def test_secret_filter_scrubs_log_records(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.secret.filter")
    handler_filter = SecretFilter((BOT_TOKEN, SIGNING_SECRET))
    record = logger.makeRecord(
        logger.name, logging.INFO, __file__, 1, "token %s and %s", (BOT_TOKEN, "ok"), None
    )
    assert handler_filter.filter(record)
    assert record.getMessage() == "token [redacted] and ok"


def test_secret_filter_scrubs_oauth_codes_in_each_form_they_are_logged() -> None:
    """Bolt logs the redirect's query, slack_sdk the oauth.v2.access body, an access log the
    redirect URL: the one-time code is scrubbed from each, and the rest of the line kept."""
    code = "4724469134.4644010458.2b4c8a2e9d1f"
    handler_filter = SecretFilter(())
    for line, kept in (
        (f"callback (request: {{'code': ['{code}'], 'state': ['s1']}})", "'state': ['s1']"),
        (f"body_params: {{'client_id': '1.2', 'code': '{code}'}}", "'client_id': '1.2'"),
        (f"GET /slack/oauth_redirect?code={code}&state=s1 HTTP/1.1", "&state=s1 HTTP/1.1"),
    ):
        record = logging.makeLogRecord({"msg": line, "levelno": logging.DEBUG})
        assert handler_filter.filter(record)
        assert code not in record.getMessage() and kept in record.getMessage()
    plain = logging.makeLogRecord({"msg": "exit status 3, no secrets here"})
    assert handler_filter.filter(plain) and plain.getMessage() == "exit status 3, no secrets here"


def test_memory_dedup_claims_once_and_expires() -> None:
    now = [0.0]
    dedup = MemoryDeduplicator(ttl=10, clock=lambda: now[0])
    assert isinstance(dedup, Deduplicator)
    assert dedup.claim("a") and not dedup.claim("a") and dedup.claim("b")
    now[0] = 11
    assert dedup.claim("a") and len(dedup) == 1


def test_memory_dedup_is_bounded() -> None:
    dedup = MemoryDeduplicator(max_keys=3)
    for key in "abcd":
        assert dedup.claim(key)
    assert len(dedup) == 3


def test_memory_dedup_is_thread_safe() -> None:
    dedup = MemoryDeduplicator()
    wins: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        for i in range(500):
            won = dedup.claim(f"k{i}")
            with lock:
                wins.append(won)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sum(wins) == 500
