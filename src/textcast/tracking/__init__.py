"""Tracked short links: codes minted per message and their clicks (human
clicks counted, link-preview bots flagged). The redirect itself is a face."""
