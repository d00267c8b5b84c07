"""Options listeners (external selects): the topic menus when the topics exceed Slack's 100
options per static select."""

from __future__ import annotations

from slack_bolt import App

from bot.rendering.blocks.ids import ACTION_CORRECT, ACTION_EXPERT_TOPIC, ACTION_TEACH
from bot.slack.listeners.options.topics import handle_topic_options, topic_menus_pattern


def register(app: App) -> None:
    # Options are answered in the ack itself (Slack shows what the ack carries), so there is
    # no lazy part: filtering the topics takes well under a millisecond.
    app.options(topic_menus_pattern(ACTION_TEACH, ACTION_CORRECT, ACTION_EXPERT_TOPIC))(
        handle_topic_options
    )
