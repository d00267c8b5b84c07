"""Modal listeners (view submissions)."""

from __future__ import annotations

from slack_bolt import App

from bot.rendering.blocks.ids import VIEW_EXPERT_ANSWER, VIEW_FEEDBACK_COMMENT
from bot.slack.listeners.acks import ack_now
from bot.slack.listeners.views.expert_answer import ack_expert_answer, handle_expert_answer
from bot.slack.listeners.views.feedback_comment import handle_feedback_comment


def register(app: App) -> None:
    # The empty ack closes the modal at once; the comment is stored afterwards.
    app.view_submission(VIEW_FEEDBACK_COMMENT)(ack=ack_now, lazy=[handle_feedback_comment])
    # An expert's written answer: the ack keeps the modal open when the text is unusable.
    app.view_submission(VIEW_EXPERT_ANSWER)(ack=ack_expert_answer, lazy=[handle_expert_answer])
