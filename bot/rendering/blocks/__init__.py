"""Slack Block Kit rendering: plain dicts, no Slack SDK.

`elements` (building blocks, limits) and `ids` (action ids, block ids, button values) are
used by the other modules: `answers`, `feedback`, `catalogue` (help, list, App Home, report).
"""
