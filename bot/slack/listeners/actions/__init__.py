"""Button listeners (Block Kit actions)."""

from __future__ import annotations

from slack_bolt import App

from bot.rendering.blocks.ids import (
    ACTION_ASK_EXPERTS,
    ACTION_CORRECT,
    ACTION_EXPERT_TOPIC,
    ACTION_EXPERT_WRITE,
    ACTION_FEEDBACK_HELPFUL,
    ACTION_FEEDBACK_NOT_HELPFUL,
    ACTION_OPEN_DOCS,
    ACTION_SHARE,
    ACTION_SHOW_TOPIC,
    ACTION_TEACH,
    action_id_pattern,
)
from bot.slack.listeners.acks import ack_now
from bot.slack.listeners.actions.experts import (
    handle_ask_experts,
    handle_expert_topic,
    handle_expert_write,
)
from bot.slack.listeners.actions.feedback import handle_feedback
from bot.slack.listeners.actions.share import handle_share
from bot.slack.listeners.actions.show_topic import handle_show_topic
from bot.slack.listeners.actions.teach import handle_correct, handle_teach


def register(app: App) -> None:
    app.action(action_id_pattern(ACTION_SHOW_TOPIC))(ack=ack_now, lazy=[handle_show_topic])
    app.action(action_id_pattern(ACTION_SHARE))(ack=ack_now, lazy=[handle_share])
    for action in (ACTION_FEEDBACK_HELPFUL, ACTION_FEEDBACK_NOT_HELPFUL):
        app.action(action)(ack=ack_now, lazy=[handle_feedback])
    # Teaching (admins) and the hand-off to the security team (experts channel).
    app.action(action_id_pattern(ACTION_TEACH))(ack=ack_now, lazy=[handle_teach])
    app.action(action_id_pattern(ACTION_CORRECT))(ack=ack_now, lazy=[handle_correct])
    app.action(action_id_pattern(ACTION_ASK_EXPERTS))(ack=ack_now, lazy=[handle_ask_experts])
    app.action(action_id_pattern(ACTION_EXPERT_TOPIC))(ack=ack_now, lazy=[handle_expert_topic])
    app.action(action_id_pattern(ACTION_EXPERT_WRITE))(ack=ack_now, lazy=[handle_expert_write])
    # Link buttons open the docs in the browser by themselves; Slack still sends the click.
    app.action(action_id_pattern(ACTION_OPEN_DOCS))(ack_now)
