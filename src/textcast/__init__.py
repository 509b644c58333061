"""Textcast: a self-hosted SMS engagement engine."""

__version__ = "0.1.0"
