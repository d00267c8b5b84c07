"""Answering a question in Slack: reading the message, matching, posting the reply, recording it."""
