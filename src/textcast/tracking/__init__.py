"""Tracked short links: codes minted per message, the redirect, and click
records (human clicks counted, link-preview bots flagged)."""
