"""The engine's operations, shared by the API, the CLI and the dashboard."""
