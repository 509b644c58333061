"""A worker killed (SIGKILL) in the middle of a campaign's fan-out: the next
worker takes the campaign over and every recipient ends up with exactly one
message — none lost, none twice."""

from __future__ import annotations

import signal
from pathlib import Path

from sqlalchemy import func, insert, select, update

from tests.conftest import Simulator, twilio_provider_payload
from tests.integration.processes import TextcastProcess, base_env, until
from tests.integration.test_campaign_fanout import OPEN_ALL_DAY
from textcast.campaigns import service
from textcast.campaigns.spec import CampaignIn
from textcast.context import Context
from textcast.db.models import Campaign, CampaignRecipient, Contact, Message, utcnow
from textcast.services.providers import create_provider

CONTACTS = 6000


async def prepare(ctx: Context, simulator: Simulator) -> int:
    await simulator.control("PATCH", "config", {"callbacks": False})
    async with ctx.session() as session:
        await create_provider(
            ctx,
            session,
            twilio_provider_payload(
                simulator,
                senders=[{"name": "main", "type": "short_code", "sender_id": "12345", "mps": 500}],
            ),
        )
        now = utcnow()
        rows = [
            {"phone": f"+1415{i:07d}", "country": "US", "phone_type": "mobile", "created_at": now,
             "updated_at": now, "attributes": {}, "tags": [], "time_zone_source": "install_default"}
            for i in range(CONTACTS)
        ]  # fmt: skip
        await session.execute(insert(Contact), rows)
        data = CampaignIn.model_validate(
            {"name": "big", "body": "Sale {{ contact.phone }}", "audience": {"rules": {"all": []}},
             "quiet_hours": OPEN_ALL_DAY}
        )  # fmt: skip
        campaign = await service.create(ctx.settings, session, data)
        await service.launch(ctx.settings, session, campaign)
        return campaign.id


async def counts(ctx: Context, campaign_id: int) -> dict[str, int]:
    async with ctx.session() as session:
        by_status = dict(
            (
                await session.execute(
                    select(CampaignRecipient.status, func.count())
                    .where(CampaignRecipient.campaign_id == campaign_id)
                    .group_by(CampaignRecipient.status)
                )
            ).all()
        )
        by_status["messages"] = (
            await session.scalar(select(func.count()).where(Message.campaign_id == campaign_id))
            or 0
        )
        return {str(k): int(v) for k, v in by_status.items()}


async def test_a_worker_killed_mid_fan_out_loses_and_repeats_nobody(
    ctx: Context, simulator: Simulator, tmp_path: Path
) -> None:
    campaign_id = await prepare(ctx, simulator)
    env = base_env(
        database_url=ctx.settings.effective_database_url,
        data_dir=str(ctx.settings.data_dir),
        demo="false",
        allow_private_targets="true",
    )
    first = await TextcastProcess.start(["worker"], env, tmp_path / "first.log")
    try:

        async def part_way() -> bool:
            found = await counts(ctx, campaign_id)
            return found.get("queued", 0) >= 1000

        await until(part_way, "the fan-out under way", first)
    finally:
        await first.stop(sig=signal.SIGKILL)
    killed_at = await counts(ctx, campaign_id)
    assert killed_at.get("pending", 0) > 0, killed_at  # it was killed part way
    assert killed_at["queued"] == killed_at["messages"]  # each batch was all or nothing
    async with ctx.session() as session:  # the dead worker's lease runs out
        await session.execute(update(Campaign).values(lease_expires_at=utcnow()))
    second = await TextcastProcess.start(["worker"], env, tmp_path / "second.log")
    try:

        async def finished() -> bool:
            found = await counts(ctx, campaign_id)
            return found.get("pending", 0) == 0 and found.get("queued", 0) == CONTACTS

        await until(finished, "the fan-out resumed to its end", second)
    finally:
        await second.stop()
    final = await counts(ctx, campaign_id)
    assert final == {"queued": CONTACTS, "messages": CONTACTS}
    async with ctx.session() as session:
        repeated = await session.scalar(
            select(func.count()).select_from(
                select(Message.to)
                .where(Message.campaign_id == campaign_id)
                .group_by(Message.to)
                .having(func.count() > 1)
                .subquery()
            )
        )
        linked = await session.scalar(
            select(func.count(func.distinct(CampaignRecipient.message_id))).where(
                CampaignRecipient.campaign_id == campaign_id
            )
        )
        campaign = await session.get(Campaign, campaign_id)
    assert repeated == 0 and linked == CONTACTS
    assert campaign is not None and campaign.queued == CONTACTS and campaign.targeted == CONTACTS
