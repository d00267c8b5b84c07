"""Ack functions: run in the request thread so Slack gets its 200 at once.

The real work runs afterwards in Bolt "lazy" listeners on a thread pool, so no listener can
hold an ack past Slack's 3 seconds, whatever the matcher or the Web API is doing.
"""

from __future__ import annotations

from slack_bolt import Ack


def ack_now(ack: Ack) -> None:
    ack()
