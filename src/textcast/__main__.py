"""`python -m textcast` runs the CLI."""

from textcast.cli import app

app()
