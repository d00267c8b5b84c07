"""Button listeners (Block Kit actions)."""

from __future__ import annotations

from slack_bolt import App

from bot.rendering.blocks.ids import (
    ACTION_FEEDBACK_HELPFUL,
    ACTION_FEEDBACK_NOT_HELPFUL,
    ACTION_OPEN_DOCS,
    ACTION_SHARE,
    ACTION_SHOW_TOPIC,
    action_id_pattern,
)
from bot.slack.listeners.acks import ack_now
from bot.slack.listeners.actions.feedback import handle_feedback
from bot.slack.listeners.actions.share import handle_share
from bot.slack.listeners.actions.show_topic import handle_show_topic


def register(app: App) -> None:
    app.action(action_id_pattern(ACTION_SHOW_TOPIC))(ack=ack_now, lazy=[handle_show_topic])
    app.action(action_id_pattern(ACTION_SHARE))(ack=ack_now, lazy=[handle_share])
    for action in (ACTION_FEEDBACK_HELPFUL, ACTION_FEEDBACK_NOT_HELPFUL):
        app.action(action)(ack=ack_now, lazy=[handle_feedback])
    # Link buttons open the docs in the browser by themselves; Slack still sends the click.
    app.action(action_id_pattern(ACTION_OPEN_DOCS))(ack_now)
