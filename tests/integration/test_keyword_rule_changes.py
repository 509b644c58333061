"""Changing a keyword rule: checked as a new rule is (built-in words keep
their action, a reply rule needs its text, one rule per word and scope),
while the rule may keep its own word."""

from __future__ import annotations

import pytest

from textcast.audience import keywords
from textcast.context import Context
from textcast.db.models import KeywordRule, Provider, Sender
from textcast.errors import Conflict, ValidationFailed


async def test_a_rule_is_changed_under_the_rules_of_a_new_one(ctx: Context) -> None:
    async with ctx.session() as session:
        provider = Provider(
            name="kw", type="twilio", secrets_encrypted="-", webhook_secret_encrypted="-"
        )
        session.add(provider)
        await session.flush()
        session.add(
            Sender(provider_id=provider.id, name="kw", type="long_code", sender_id="+1", mps=1)
        )
        hours = await keywords.create(
            session, keywords.KeywordRuleIn(keyword="hours", provider="kw", reply="9 to 5")
        )
        await keywords.create(
            session, keywords.KeywordRuleIn(keyword="menu", provider="kw", reply="Pizza")
        )
        rule_id = hours.id

    async with ctx.session() as session:
        changed = await keywords.update(
            session,
            rule_id,
            keywords.KeywordRuleIn(keyword="Hours", provider="kw", sender="kw", reply="8 to 6"),
        )
        assert (changed.keyword, changed.reply, changed.sender_id) == ("hours", "8 to 6", 1)
        with pytest.raises(Conflict):
            await keywords.update(
                session, rule_id, keywords.KeywordRuleIn(keyword="menu", provider="kw", reply="x")
            )
        with pytest.raises(ValidationFailed) as refused:
            await keywords.update(
                session, rule_id, keywords.KeywordRuleIn(keyword="hours", provider="kw", reply=" ")
            )
        assert refused.value.field == "reply"
        with pytest.raises(ValidationFailed) as refused:
            await keywords.update(
                session,
                rule_id,
                keywords.KeywordRuleIn(keyword="stop", provider="kw", action="opt_in"),
            )
        assert refused.value.field == "action"

    async with ctx.session() as session:
        stored = await session.get(KeywordRule, rule_id)
        assert stored is not None and stored.reply == "8 to 6"
