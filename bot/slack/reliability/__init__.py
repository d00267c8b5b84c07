"""Reliability plumbing: event de-duplication, the database breaker, the Web API client
with retries, the bot identity."""
