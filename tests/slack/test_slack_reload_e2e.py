"""End to end: knowledge edited while the web process serves.

A broken edit must not take the bot down: it keeps answering with the last good knowledge,
and /healthz shows the version in use and the `file:line` problems; the fixed file is picked
up without a restart.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from slackfakes import (
    KNOWLEDGE,
    FakeSlackAPI,
    WebServer,
    event_body,
    mention_event,
    start_web_server,
    unique,
)


@pytest.fixture(scope="module")
def knowledge_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("knowledge") / "knowledge"
    shutil.copytree(KNOWLEDGE, target)
    return target


@pytest.fixture(scope="module")
def web_server(
    fake_slack: FakeSlackAPI, tmp_path_factory: pytest.TempPathFactory, knowledge_copy: Path
) -> Iterator[WebServer]:
    server = start_web_server(
        fake_slack,
        tmp_path_factory.mktemp("web"),
        AWSSEC_KNOWLEDGE=str(knowledge_copy),
        WEB_CONCURRENCY="2",  # the second worker may well boot after the file is broken
    )
    try:
        yield server
    finally:
        server.process.stop()


def poll(check: Callable[[], Any], timeout: float = 15.0, interval: float = 0.2) -> Any:
    """`check()` once truthy, or its last value after `timeout` seconds (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def ask(web_server: WebServer, fake: FakeSlackAPI, question: str) -> str:
    channel = unique("C")
    web_server.send(json.dumps(event_body(mention_event(question, channel))))
    [call] = fake.wait_for("chat.postMessage", channel=channel)
    return call.params["blocks"][0]["text"]["text"]


def test_broken_edit_keeps_serving_and_a_fix_is_picked_up(
    web_server: WebServer, fake_slack: FakeSlackAPI, knowledge_copy: Path
) -> None:
    topics = knowledge_copy / "topics.yaml"
    good = topics.read_text()
    first = web_server.health()
    assert first["last_error"] is None and first["topics"] == 4
    assert ask(web_server, fake_slack, "which service finds PII?") == "Amazon Macie"

    # Break it: a topic without its required fields, and a YAML syntax error further down.
    broken = good.replace("    name: Amazon Macie\n", "    name: [Amazon Macie\n", 1)
    topics.write_text(broken)

    def broken_health() -> dict | None:
        health = web_server.health()
        return health if health["last_error"] else None

    health = poll(broken_health)
    assert health, "the broken edit never showed up in /healthz"
    assert re.search(r"topics\.yaml:\d+", health["last_error"]), health["last_error"]
    assert health["ok"] is True and health["topics"] == 4
    # Still answering, with the last good knowledge.
    assert ask(web_server, fake_slack, "which service finds PII?") == "Amazon Macie"
    assert "knowledge reload failed" in web_server.output()

    # Fix it (with a visible change): the new version is served without a restart.
    topics.write_text(good.replace("name: Amazon Macie", "name: Amazon Macie (PII finder)", 1))

    def reloaded_health() -> dict | None:
        health = web_server.health()
        changed = health["knowledge_version"] != first["knowledge_version"]
        return health if changed and health["last_error"] is None else None

    health = poll(reloaded_health)
    assert health, "the fixed knowledge was never loaded"
    assert health["last_error"] is None

    # Every worker checks its files on its own (at most every 2 s): poll, bounded.
    def new_answer() -> str | None:
        header = ask(web_server, fake_slack, "which service finds PII?")
        return header if header != "Amazon Macie" else None

    assert poll(new_answer) == "Amazon Macie (PII finder)"
