"""Slash command listeners."""

from __future__ import annotations

from slack_bolt import App

from bot.slack.listeners.acks import ack_now
from bot.slack.listeners.commands.awssec import handle_awssec


def register(app: App) -> None:
    app.command("/awssec")(ack=ack_now, lazy=[handle_awssec])
