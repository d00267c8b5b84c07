"""Every listener, registered from one place."""

from __future__ import annotations

from slack_bolt import App

from bot.slack.listeners import actions, commands, events, options, views


def register_listeners(app: App) -> None:
    events.register(app)
    commands.register(app)
    actions.register(app)
    views.register(app)
    options.register(app)
