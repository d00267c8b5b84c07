"""Rendering layer: an Answer to plain text (text.py) and to Slack Block Kit (blocks.py)."""
