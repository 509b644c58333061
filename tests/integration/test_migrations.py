"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command

from textcast.db.migrate import alembic_config, upgrade


def test_migrations_match_the_models_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'check.db'}"
    upgrade(url)
    command.check(alembic_config(url))  # raises when autogenerate would find a difference


def test_migrations_match_the_models_on_postgresql(pg_url: str) -> None:
    command.check(alembic_config(pg_url))


def test_downgrade_and_upgrade_round_trip(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'round.db'}"
    upgrade(url)
    command.downgrade(alembic_config(url), "base")
    upgrade(url)
    command.check(alembic_config(url))


def test_the_latest_answered_webhook_attempt_starts_each_history(tmp_path: Path) -> None:
    """0005 keeps what the delivery log already knew: the latest attempt of each
    delivery that got an answer (or an error), not one still under way."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'history.db'}"
    config = alembic_config(url)
    command.upgrade(config, "0004")
    database = sqlite3.connect(tmp_path / "history.db")
    with database:
        database.execute(
            "INSERT INTO webhook_endpoints (id, url, secret_encrypted, event_types, active, "
            "last_event_id, created_at) VALUES (1, 'https://x.example/h', 's', '[]', 1, 0, "
            "'2026-12-01 10:00:00')"
        )
        rows = [  # id, attempts, last_attempt_at, response_status, error
            (1, 3, "2026-12-01 10:05:00", 200, None),
            (2, 2, "2026-12-01 10:06:00", None, "ClientConnectorError: refused"),
            (3, 1, "2026-12-01 10:07:00", None, None),  # under way at the upgrade
            (4, 0, None, None, None),  # never tried
        ]
        database.executemany(
            "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, status, attempts, "
            "next_attempt_at, last_attempt_at, response_status, error, created_at) "
            "VALUES (?, 1, 1, 'pending', ?, '2026-12-01 10:00:00', ?, ?, ?, "
            "'2026-12-01 10:00:00')",
            rows,
        )
    upgrade(url)
    history = database.execute(
        "SELECT delivery_id, attempt, started_at, latency_ms, response_status, error "
        "FROM webhook_attempts ORDER BY delivery_id"
    ).fetchall()
    database.close()
    assert history == [
        (1, 3, "2026-12-01 10:05:00", None, 200, None),
        (2, 2, "2026-12-01 10:06:00", None, None, "ClientConnectorError: refused"),
    ]


def test_every_existing_api_key_becomes_an_admin(tmp_path: Path) -> None:
    """0007: keys could do everything before roles existed, and still may."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'roles.db'}"
    command.upgrade(alembic_config(url), "0005")
    database = sqlite3.connect(tmp_path / "roles.db")
    with database:
        database.executemany(
            "INSERT INTO api_keys (name, prefix, key_hash, is_admin, created_at) "
            "VALUES (?, 'tc_x', ?, ?, '2026-12-01 10:00:00')",
            [("ops", "a" * 64, 1), ("ci", "b" * 64, 0)],
        )
    upgrade(url)
    assert database.execute("SELECT name, role FROM api_keys ORDER BY id").fetchall() == [
        ("ops", "admin"),
        ("ci", "admin"),
    ]
    database.close()
