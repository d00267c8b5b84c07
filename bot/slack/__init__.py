"""Slack surface: Bolt app factory, listeners, HTTP (gunicorn) and Socket Mode runtimes.

Nothing outside `bot.slack` imports this package, so `awssec ask` never loads Slack code.
"""
