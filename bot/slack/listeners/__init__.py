"""Every listener, registered from one place."""

from __future__ import annotations

from slack_bolt import App

from bot.slack.listeners import actions, commands, events, options, unhandled, views


def register_listeners(app: App) -> None:
    events.register(app)
    commands.register(app)
    actions.register(app)
    views.register(app)
    options.register(app)
    # Unhandled requests (a 404) and listener errors: one log line (see unhandled.py).
    unhandled.register(app)
