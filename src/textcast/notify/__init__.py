"""Outgoing webhooks: operators' endpoints that receive Textcast's events."""
