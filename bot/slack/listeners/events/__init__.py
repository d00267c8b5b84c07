"""Events API listeners: mentions, direct messages, App Home."""

from __future__ import annotations

from slack_bolt import App

from bot.slack.listeners.acks import ack_now
from bot.slack.listeners.events.app_home import handle_app_home_opened
from bot.slack.listeners.events.direct_message import handle_direct_message, is_direct_message
from bot.slack.listeners.events.mention import handle_app_mention, is_fresh_mention


def register(app: App) -> None:
    # Bolt runs the first listener whose matchers pass, so the specific ones come first and
    # the bare acks after them swallow everything else we are subscribed to (edits, bot
    # posts, channel chatter). Unhandled events would get a 404 and Slack would retry them.
    app.event("app_mention", matchers=[is_fresh_mention])(ack=ack_now, lazy=[handle_app_mention])
    app.event("app_mention")(ack_now)
    app.event("message", matchers=[is_direct_message])(ack=ack_now, lazy=[handle_direct_message])
    app.event("message")(ack_now)
    app.event("app_home_opened")(ack=ack_now, lazy=[handle_app_home_opened])
