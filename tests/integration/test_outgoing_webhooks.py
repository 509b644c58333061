"""Events delivered to operators' endpoints: signed, retried, logged."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from typer.testing import CliRunner

from tests.conftest import RunningServer, free_port
from tests.integration.helpers import api, eventually
from textcast import hmac_signing
from textcast.audience import contacts
from textcast.cli import app as cli_app
from textcast.context import Context
from textcast.errors import NotFound
from textcast.listeners import start_listener
from textcast.notify import endpoints
from textcast.notify.deliverer import DeliveryPolicy, EventNotifier
from textcast.services import events

FAST = DeliveryPolicy(base_delay=0.01, max_delay=0.05, settle_seconds=0, max_attempts=3)


@dataclass
class Receiver:
    url: str
    answers: list[int] = field(default_factory=list)  # statuses to give, then 200
    bodies: list[str] = field(default_factory=list)  # texts to answer with, then none
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    during: Callable[[], Awaitable[None]] | None = None  # run inside each request


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port()
    box = Receiver(f"http://127.0.0.1:{port}/hooks")

    async def hook(request: web.Request) -> web.Response:
        box.received.append((dict(request.headers), await request.read()))
        if box.during is not None:
            await box.during()
        return web.Response(
            status=box.answers.pop(0) if box.answers else 200,
            text=box.bodies.pop(0) if box.bodies else "",
        )

    app = web.Application()
    app.router.add_post("/hooks", hook)
    runner = await start_listener(app, "127.0.0.1", port)
    yield box
    await runner.cleanup()


async def opt_out_event(ctx: Context, phone: str) -> None:
    async with ctx.session() as session:
        contact = await contacts.ensure(session, phone)
        events.contact_event(
            session,
            "contact.opted_out",
            contact_id=contact.id,
            provider_id=1,
            sender_id=None,
            source="test",
        )


async def register(ctx: Context, url: str, types: list[str] | None = None) -> tuple[int, str]:
    async with ctx.session() as session:
        endpoint, secret = await endpoints.create(
            ctx,
            session,
            endpoints.EndpointIn(url=url, event_types=types or []),  # type: ignore[arg-type]
        )
        return endpoint.id, secret


async def drain(notifier: EventNotifier, rounds: int = 50) -> None:
    for _ in range(rounds):
        await notifier.step()
        await asyncio.sleep(0.02)


async def test_events_arrive_signed_and_in_order(ctx: Context, receiver: Receiver) -> None:
    await opt_out_event(ctx, "+14155550001")  # before registration: not sent
    endpoint_id, secret = await register(ctx, receiver.url)
    for i in range(3):
        await opt_out_event(ctx, f"+1415555010{i}")
    await drain(EventNotifier(ctx, FAST))
    phones = [json.loads(body)["phone"] for _, body in receiver.received]
    assert phones == ["+14155550100", "+14155550101", "+14155550102"]
    headers, body = receiver.received[0]
    assert hmac_signing.verify([secret], headers["Textcast-Signature"], body)
    assert not hmac_signing.verify(["whsec_other"], headers["Textcast-Signature"], body)
    assert headers["Textcast-Event-Id"] == str(json.loads(body)["id"])
    async with ctx.sessions() as session:
        log = await endpoints.deliveries(
            session, endpoint_id, status=None, before_id=None, limit=10
        )
    assert [d.status for d in log] == ["delivered"] * 3


async def test_failures_are_retried_then_given_up_with_the_log_kept(
    ctx: Context, receiver: Receiver
) -> None:
    endpoint_id, _ = await register(ctx, receiver.url)
    receiver.answers = [500, 503]  # third attempt succeeds
    await opt_out_event(ctx, "+14155550100")
    await drain(EventNotifier(ctx, FAST))
    async with ctx.sessions() as session:
        (delivery,) = await endpoints.deliveries(
            session, endpoint_id, status=None, before_id=None, limit=10
        )
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("delivered", 3, 200)

    receiver.answers = [500] * 10
    await opt_out_event(ctx, "+14155550101")
    await drain(EventNotifier(ctx, FAST))
    async with ctx.sessions() as session:
        failed = await endpoints.deliveries(
            session, endpoint_id, status="failed", before_id=None, limit=10
        )
    assert len(failed) == 1 and failed[0].attempts == 3 and failed[0].error == "HTTP 500"


async def test_an_unreachable_endpoint_does_not_hold_back_another(
    ctx: Context, receiver: Receiver
) -> None:
    await register(ctx, f"http://127.0.0.1:{free_port()}/nobody-listens")
    await register(ctx, receiver.url, types=["contact.opted_out"])
    await opt_out_event(ctx, "+14155550100")
    await drain(EventNotifier(ctx, FAST), rounds=5)
    assert len(receiver.received) == 1


async def test_type_filter_and_api(
    server: RunningServer, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    url = f"{server.url}/api/v1/webhooks"
    status, body = await api(
        http,
        "POST",
        url,
        server.headers,
        {"url": receiver.url, "event_types": ["contact.opted_in"]},
    )
    assert status == 201 and body["secret"].startswith("whsec_"), body
    endpoint_id = body["id"]
    status, listed = await api(http, "GET", url, server.headers)
    assert listed[0]["secret"] == "whsec_****"
    status, body = await api(
        http, "POST", url, server.headers, {"url": receiver.url, "event_types": ["message.boom"]}
    )
    assert status == 422 and body["field"] == "event_types", body
    status, body = await api(http, "POST", url, server.headers, {"url": "ftp://example.com/x"})
    assert status == 422, body

    await opt_out_event(server.ctx, "+14155550100")  # not a type this endpoint wants
    async with server.ctx.session() as session:
        contact = await contacts.ensure(session, "+14155550100")
        events.contact_event(
            session,
            "contact.opted_in",
            contact_id=contact.id,
            provider_id=1,
            sender_id=None,
            source="test",
        )
    # The server's own notifier delivers it (events settle for two seconds first).
    await eventually(lambda: _received(receiver), timeout=15)
    assert [json.loads(b)["type"] for _, b in receiver.received] == ["contact.opted_in"]

    async def delivered() -> bool:
        status, log = await api(http, "GET", f"{url}/{endpoint_id}/deliveries", server.headers)
        assert status == 200, log
        return bool(log["deliveries"]) and log["deliveries"][0]["status"] == "delivered"

    await eventually(delivered)
    status, log = await api(http, "GET", f"{url}/{endpoint_id}/deliveries", server.headers)
    delivery_url = f"{url}/{endpoint_id}/deliveries/{log['deliveries'][0]['id']}"
    status, detail = await api(http, "GET", delivery_url, server.headers)
    assert status == 200, detail
    assert [(a["attempt"], a["response_status"]) for a in detail["history"]] == [(1, 200)]
    status, body = await api(http, "GET", f"{url}/{endpoint_id}/deliveries/999999", server.headers)
    assert status == 404 and "no delivery 999999" in json.dumps(body), body

    # Redelivered over the API: the same event goes again, as attempt 2.
    status, again = await api(http, "POST", f"{delivery_url}/redeliver", server.headers)
    assert (status, again["status"]) == (200, "pending"), again
    await eventually(lambda: _received_twice(receiver), timeout=15)
    assert receiver.received[0][1] == receiver.received[1][1]
    missing = f"{url}/{endpoint_id}/deliveries/999999/redeliver"
    status, body = await api(http, "POST", missing, server.headers)
    assert status == 404 and "no delivery 999999" in json.dumps(body), body
    status, _ = await api(http, "DELETE", f"{url}/{endpoint_id}", server.headers)
    assert status == 200
    status, _ = await api(http, "GET", f"{url}/{endpoint_id}", server.headers)
    assert status == 404


async def _received(receiver: Receiver) -> bool:
    return bool(receiver.received)


async def _received_twice(receiver: Receiver) -> bool:
    return len(receiver.received) >= 2


async def test_each_delivery_names_its_event_type_in_a_header(
    ctx: Context, receiver: Receiver
) -> None:
    await register(ctx, receiver.url)
    await opt_out_event(ctx, "+14155550100")
    await drain(EventNotifier(ctx, FAST), rounds=5)
    ((headers, body),) = receiver.received
    assert headers["Textcast-Event-Type"] == "contact.opted_out" == json.loads(body)["type"]
    assert headers["Textcast-Delivery-Attempt"] == "1"


async def test_the_delivery_log_shows_attempts_and_the_latest_attempts_outcome(
    ctx: Context, receiver: Receiver
) -> None:
    endpoint_id, _ = await register(ctx, receiver.url)
    receiver.answers = [503, 500]
    receiver.bodies = ["upstream   busy\n"]
    await opt_out_event(ctx, "+14155550100")
    notifier = EventNotifier(ctx, FAST)
    await notifier.step()  # the first attempt only
    first = await log_entry(ctx, endpoint_id)
    assert (first["status"], first["attempts"]) == ("pending", 1)
    assert (first["last_response_status"], first["last_error"]) == (503, "HTTP 503: upstream busy")
    assert first["last_attempt_at"] is not None and first["next_attempt_at"] is not None
    assert first["delivered_at"] is None

    await drain(notifier)
    done = await log_entry(ctx, endpoint_id)
    assert (done["status"], done["attempts"]) == ("delivered", 3)
    assert (done["last_response_status"], done["last_error"]) == (200, None)
    assert done["delivered_at"] is not None and done["next_attempt_at"] is None
    assert str(done["last_attempt_at"]) > str(first["last_attempt_at"])


async def log_entry(ctx: Context, endpoint_id: int) -> dict[str, object]:
    async with ctx.sessions() as session:
        (delivery,) = await endpoints.deliveries(
            session, endpoint_id, status=None, before_id=None, limit=10
        )
        return endpoints.delivery_view(delivery)


async def test_every_answered_attempt_stays_in_the_delivery_history(
    ctx: Context, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint_id, _ = await register(ctx, receiver.url)
    receiver.answers = [503, 500]
    receiver.bodies = ["upstream busy"]
    await opt_out_event(ctx, "+14155550100")
    await drain(EventNotifier(ctx, FAST))
    async with ctx.sessions() as session:
        (delivery,) = await endpoints.deliveries(
            session, endpoint_id, status=None, before_id=None, limit=10
        )
        _, history = await endpoints.delivery_with_history(session, endpoint_id, delivery.id)
        with pytest.raises(NotFound):  # a delivery is looked up through its own endpoint
            await endpoints.delivery_with_history(session, endpoint_id + 1, delivery.id)
    assert [(a.attempt, a.response_status, a.error) for a in history] == [
        (1, 503, "HTTP 503: upstream busy"),
        (2, 500, "HTTP 500"),
        (3, 200, None),
    ]
    assert all(a.latency_ms is not None and a.latency_ms >= 0 for a in history)
    assert history[0].started_at <= history[1].started_at <= history[2].started_at

    # The CLI shows the same history, and says so when there is none to show.
    monkeypatch.setenv("TEXTCAST_DATABASE_URL", ctx.settings.effective_database_url)
    monkeypatch.setenv("TEXTCAST_DATA_DIR", str(ctx.settings.data_dir))
    monkeypatch.setenv("TEXTCAST_DEMO", "false")
    runner = CliRunner()
    args = ["webhooks", "delivery", str(endpoint_id), str(delivery.id)]
    shown = await asyncio.to_thread(runner.invoke, cli_app, [*args, "--json"])
    assert shown.exit_code == 0, shown.output
    view = json.loads(shown.stdout)
    assert [a["response_status"] for a in view["history"]] == [503, 500, 200]
    assert (view["status"], view["attempts"]) == ("delivered", 3)
    table = await asyncio.to_thread(runner.invoke, cli_app, args)
    assert table.exit_code == 0 and "upstream busy" in table.stdout, table.output
    missing = await asyncio.to_thread(
        runner.invoke, cli_app, ["webhooks", "delivery", str(endpoint_id), "999999"]
    )
    assert missing.exit_code == 1 and "no delivery 999999" in missing.stderr, missing.output


async def test_an_endpoint_deleted_mid_delivery_does_not_lose_the_others_records(
    ctx: Context, receiver: Receiver
) -> None:
    doomed, _ = await register(ctx, receiver.url + "?doomed")
    kept, _ = await register(ctx, receiver.url)

    async def delete_doomed() -> None:
        receiver.during = None
        async with ctx.session() as session:
            await endpoints.delete(session, doomed)

    receiver.during = delete_doomed  # while both deliveries of the batch are under way
    await opt_out_event(ctx, "+14155550100")
    await drain(EventNotifier(ctx, FAST), rounds=10)
    assert len(receiver.received) == 2  # once each: the kept one's answer was recorded
    entry = await log_entry(ctx, kept)
    assert (entry["status"], entry["attempts"]) == ("delivered", 1)
    async with ctx.sessions() as session:
        _, history = await endpoints.delivery_with_history(session, kept, int(str(entry["id"])))
    assert [a.response_status for a in history] == [200]


async def test_a_delivery_is_redelivered_on_request_with_the_same_event(
    ctx: Context, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint_id, _ = await register(ctx, receiver.url)
    await opt_out_event(ctx, "+14155550100")
    notifier = EventNotifier(ctx, FAST)
    await drain(notifier)
    delivered = await log_entry(ctx, endpoint_id)
    assert (delivered["status"], delivered["attempts"]) == ("delivered", 1)

    monkeypatch.setenv("TEXTCAST_DATABASE_URL", ctx.settings.effective_database_url)
    monkeypatch.setenv("TEXTCAST_DATA_DIR", str(ctx.settings.data_dir))
    monkeypatch.setenv("TEXTCAST_DEMO", "false")
    runner = CliRunner()
    args = ["webhooks", "redeliver", str(endpoint_id), str(delivered["id"]), "--json"]
    again = await asyncio.to_thread(runner.invoke, cli_app, args)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["status"] == "pending"
    await drain(notifier)
    done = await log_entry(ctx, endpoint_id)
    assert (done["status"], done["attempts"]) == ("delivered", 2)
    first, second = receiver.received
    assert json.loads(first[1])["id"] == json.loads(second[1])["id"]
    assert second[0]["Textcast-Delivery-Attempt"] == "2"

    missing = ["webhooks", "redeliver", str(endpoint_id), "999999"]
    refused = await asyncio.to_thread(runner.invoke, cli_app, missing)
    assert refused.exit_code == 1 and "no delivery 999999" in refused.stderr, refused.output
