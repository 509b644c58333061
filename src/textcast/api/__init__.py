"""The REST API (FastAPI): thin handlers over ``textcast.services``."""
