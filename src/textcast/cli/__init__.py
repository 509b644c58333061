"""The `textcast` command line (Typer + Rich), thin over the same services as the API."""

from __future__ import annotations

import logging

import typer

from textcast import runtime
from textcast.cli.campaigns import campaigns_app
from textcast.cli.common import fail, load_settings
from textcast.cli.contacts import contacts_app
from textcast.cli.engagement import (
    events_app,
    keywords_app,
    stats_command,
    suppressions_app,
    webhooks_app,
)
from textcast.cli.messages import apikeys_app, messages_app, send, send_batch, send_test
from textcast.cli.provider_health import provider_health_command
from textcast.cli.provider_stats import provider_stats_command
from textcast.cli.providers import providers_app, senders_app
from textcast.cli.segments import segments_app
from textcast.cli.settings import settings_app
from textcast.cli.templates import templates_app
from textcast.cli.users import users_app

app = typer.Typer(help="Textcast: self-hosted SMS engagement engine.", no_args_is_help=True)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(providers_app, name="providers")
providers_app.command("stats")(provider_stats_command)
providers_app.command("health")(provider_health_command)
app.add_typer(senders_app, name="senders")
app.add_typer(messages_app, name="messages")
app.add_typer(apikeys_app, name="apikeys")
app.add_typer(events_app, name="events")
app.add_typer(contacts_app, name="contacts")
app.add_typer(segments_app, name="segments")
app.add_typer(suppressions_app, name="suppressions")
app.add_typer(keywords_app, name="keywords")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(templates_app, name="templates")
app.add_typer(campaigns_app, name="campaigns")
app.add_typer(users_app, name="users")
app.add_typer(settings_app, name="settings")
app.command("send")(send)
app.command("send-test")(send_test)
app.command("send-batch")(send_batch)
app.command("stats")(stats_command)


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Bind address (TEXTCAST_HOST)."),
    port: int | None = typer.Option(None, help="Port (TEXTCAST_PORT)."),
    log_level: str = typer.Option("info"),
) -> None:
    """API + webhooks + dispatcher (+ the simulator in demo mode)."""
    from textcast.server import serve as serve_forever

    settings = load_settings()
    if host:
        settings.host = host
    if port:
        settings.port = port
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        runtime.run(serve_forever(settings, log_level=log_level))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        fail(f"cannot start: {exc}")


@app.command()
def worker(log_level: str = typer.Option("info")) -> None:
    """The dispatcher alone: any number of them on PostgreSQL, one per SQLite file
    (next to `serve` with TEXTCAST_DISPATCHER=false). Prometheus metrics on
    TEXTCAST_WORKER_METRICS_PORT when set."""
    from textcast.dispatch_lock import DispatcherLockTaken
    from textcast.server import run_worker

    settings = load_settings()
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        runtime.run(run_worker(settings))
    except DispatcherLockTaken as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot start: {exc}")


@app.command()
def simulator(
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8010),
    account_sid: str | None = typer.Option(
        None, help="Account SID the simulator accepts (AC + 32 hex)."
    ),
    auth_token: str | None = typer.Option(
        None, help="Its auth token (signs callbacks too).", envvar="TWILIO_AUTH_TOKEN"
    ),
    any_account: bool = typer.Option(
        False,
        help="Accept any well-formed Account SID with any token (the first request "
        "registers it), as in demo mode.",
    ),
) -> None:
    """Run the Twilio-compatible simulator on its own."""
    from textcast.simulator import run_simulator_forever

    if (account_sid is None) != (auth_token is None):
        fail("give --account-sid and --auth-token together", 2)
    if account_sid is None and not any_account:
        fail("give --account-sid and --auth-token, or --any-account", 2)
    accounts = {account_sid: auth_token} if account_sid and auth_token else {}
    who = f"account {account_sid}" if account_sid else "no account yet"
    open_note = ", and any well-formed account" if any_account else ""
    print(f"Twilio simulator on http://{host}:{port} for {who}{open_note}", flush=True)
    run_simulator_forever(host, port, accounts, open_accounts=any_account)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations."""
    from textcast.db import migrate

    settings = load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.effective_database_url)
    typer.echo("database is up to date")
