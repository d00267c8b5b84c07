"""Events API listeners: mentions, direct messages, App Home."""

from __future__ import annotations

from slack_bolt import App

from bot.slack.listeners.acks import ack_now
from bot.slack.listeners.events import conversations, lifecycle
from bot.slack.listeners.events.app_home import handle_app_home_opened
from bot.slack.listeners.events.direct_message import handle_direct_message, is_direct_message
from bot.slack.listeners.events.mention import handle_app_mention, is_fresh_mention
from bot.slack.reliability.claims import claim_then_ack, forget_when_answered


def register(app: App) -> None:
    # Bolt runs the first listener whose matchers pass, so the specific ones come first and
    # the bare acks after them swallow everything else we are subscribed to (edits, bot
    # posts, channel chatter). Unhandled events would get a 404 and Slack would retry them.
    # Questions are claimed durably before the ack and forgotten once answered, so one
    # acknowledged while its worker dies is answered by another (reliability/claims.py).
    app.event("app_mention", matchers=[is_fresh_mention])(
        ack=claim_then_ack, lazy=[forget_when_answered(handle_app_mention)]
    )
    app.event("app_mention")(ack_now)
    app.event("message", matchers=[is_direct_message])(
        ack=claim_then_ack, lazy=[forget_when_answered(handle_direct_message)]
    )
    # Channel messages (message.channels, message.groups): follow-ups in the bot's threads,
    # and top-level questions in auto-answer channels; everything else is only acked. Both
    # answer questions nobody re-sends, so they are claimed durably too (only messages that
    # look like questions: the matchers are pure checks, chatter costs no claim).
    app.event("message", matchers=[conversations.is_followup_question])(
        ack=claim_then_ack, lazy=[forget_when_answered(conversations.handle_thread_followup)]
    )
    app.event("message", matchers=[conversations.is_channel_question])(
        ack=claim_then_ack, lazy=[forget_when_answered(conversations.handle_auto_answer)]
    )
    app.event("message")(ack_now)
    app.event("app_home_opened")(ack=ack_now, lazy=[handle_app_home_opened])
    # app_uninstalled / tokens_revoked: forget the team's tokens (many workspaces).
    lifecycle.register(app)
