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


def test_0006_keeps_the_default_and_reads_sources_from_reasons(tmp_path: Path) -> None:
    """The one default sender so far makes its provider the installation's
    default; every other provider gets its oldest live sender as its default;
    existing suppressions get the source their reason text tells."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'defaults.db'}"
    command.upgrade(alembic_config(url), "0005")
    database = sqlite3.connect(tmp_path / "defaults.db")
    at = "'2026-12-01 10:00:00'"
    with database:
        for provider_id, deleted in ((1, "NULL"), (2, "NULL"), (3, at)):
            database.execute(
                "INSERT INTO providers (id, name, type, config, secrets_encrypted, is_simulated, "
                "webhook_secret_encrypted, created_at, updated_at, deleted_at, opt_out_scope) "
                f"VALUES ({provider_id}, 'p{provider_id}', 'twilio', '{{}}', 's', 0, 'w', {at}, "
                f"{at}, {deleted}, 'account')"
            )
        senders = [  # id, provider, is_default, deleted
            (1, 1, 0, "NULL"),
            (2, 1, 1, "NULL"),  # the installation's one default
            (3, 2, 0, at),  # retired: never a default
            (4, 2, 0, "NULL"),
            (5, 2, 0, "NULL"),
            (6, 3, 0, at),
        ]
        for sender_id, provider_id, is_default, deleted in senders:
            database.execute(
                "INSERT INTO senders (id, provider_id, name, type, sender_id, mms_capable, "
                "template_id_required, mps, is_default, created_at, deleted_at) VALUES "
                f"({sender_id}, {provider_id}, 's{sender_id}', 'long_code', '+14155550100', 0, 0, "
                f"1, {is_default}, {at}, {deleted})"
            )
        reasons = ["replied STOP", "replied ARRET", "provider error 21610", "added by an operator"]
        for index, reason in enumerate(reasons, start=1):
            database.execute(
                "INSERT INTO suppressions (id, provider_id, phone, reason, created_at) "
                f"VALUES ({index}, 1, '+1415555000{index}', '{reason}', {at})"
            )
    upgrade(url)
    providers = database.execute(
        "SELECT id, is_default, opt_out_tag FROM providers ORDER BY id"
    ).fetchall()
    defaults = database.execute("SELECT id FROM senders WHERE is_default ORDER BY id").fetchall()
    sources = database.execute(
        "SELECT source, source_detail FROM suppressions ORDER BY id"
    ).fetchall()
    database.close()
    assert providers == [(1, 1, "opted-out"), (2, 0, "opted-out"), (3, 0, "opted-out")]
    assert defaults == [(2,), (4,)]
    assert sources == [
        ("reply", "STOP"),
        ("reply", "ARRET"),
        ("provider_error", "21610"),
        ("operator", None),
    ]


def test_rebuilding_a_sqlite_table_keeps_the_rows_that_refer_to_it(tmp_path: Path) -> None:
    """0004 rebuilds ``providers`` (copy, drop, rename); with foreign keys
    enforced during the migration, the drop cascaded and deleted every sender."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'rebuild.db'}"
    command.upgrade(alembic_config(url), "0003")
    database = sqlite3.connect(tmp_path / "rebuild.db")
    at = "'2026-12-01 10:00:00'"
    with database:
        database.execute(
            "INSERT INTO providers (id, name, type, config, secrets_encrypted, is_simulated, "
            f"webhook_secret_encrypted, created_at, updated_at) VALUES (1, 'p', 'twilio', '{{}}', "
            f"'s', 0, 'w', {at}, {at})"
        )
        database.execute(
            "INSERT INTO senders (id, provider_id, name, type, sender_id, mms_capable, "
            "template_id_required, mps, is_default, created_at) VALUES "
            f"(1, 1, 'main', 'long_code', '+14155550100', 0, 0, 1, 1, {at})"
        )
    upgrade(url)
    senders = database.execute("SELECT id, is_default FROM senders").fetchall()
    foreign_keys = database.execute("PRAGMA foreign_key_check").fetchall()
    database.close()
    assert senders == [(1, 1)] and foreign_keys == []


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
