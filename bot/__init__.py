"""awssec: answers AWS security and compliance questions, in Slack or a terminal."""

__version__ = "0.1.0"
