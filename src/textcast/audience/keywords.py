"""Keywords in replies: the built-in STOP/START/HELP families, and operators'
rules (auto-replies, a HELP text, extra opt-out/opt-in words).

Matching follows the carrier rule (as Twilio applies it): the whole reply,
trimmed and case-folded, is the keyword, so "Please stop texting me" is not an
opt-out. A rule for one sender wins over the account's.

The built-in families (:data:`OPT_OUT`, :data:`OPT_IN`, :data:`HELP`) keep
their meaning: an operator may attach a reply to them (an opt-out
confirmation, the HELP text) but cannot turn STOP into anything else, since
carriers and regulators expect it to work everywhere. A rule for ``help``
answers the whole HELP family (HELP, INFO).

Twilio answers STOP, START and HELP itself on numbers with its default
opt-out handling; attach replies to those words only where that handling is
turned off, or the subscriber gets two answers. A sender whose
``keyword_responses`` is off leaves the answering to the provider altogether.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast.db.models import KeywordRule, Sender
from textcast.db.models import Provider as ProviderRow
from textcast.db.refs import live
from textcast.errors import Conflict, NotFound, ValidationFailed

OPT_OUT = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"})
OPT_IN = frozenset({"start", "yes", "unstop"})
HELP = frozenset({"help", "info"})

Keyword = Literal["opt_out", "opt_in", "help"]


def classify(body: str) -> Keyword | None:
    """The built-in family ``body`` belongs to, if it is one keyword of one."""
    word = body.strip().casefold()
    if word in OPT_OUT:
        return "opt_out"
    if word in OPT_IN:
        return "opt_in"
    if word in HELP:
        return "help"
    return None


ACTIONS = ("reply", "opt_out", "opt_in")
BUILT_IN_ACTION = {"opt_out": "opt_out", "opt_in": "opt_in", "help": "reply"}


class KeywordRuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keyword: str = Field(min_length=1, max_length=50)
    provider: str | int = Field(description="provider account (name or id)")
    sender: str | int | None = Field(None, description="only for this sender (name or id)")
    action: str = Field("reply", description="reply, opt_out or opt_in")
    reply: str | None = Field(None, max_length=1600)


@dataclass(frozen=True)
class Decision:
    action: str | None  # opt_out, opt_in, reply, or None (an ordinary message)
    reply: str | None
    keyword: str | None


def normalize(word: str) -> str:
    return " ".join(word.split()).casefold()


async def create(session: AsyncSession, rule_in: KeywordRuleIn) -> KeywordRule:
    rule = KeywordRule(**await _checked(session, rule_in))
    session.add(rule)
    await session.flush()
    return rule


async def update(session: AsyncSession, rule_id: int, rule_in: KeywordRuleIn) -> KeywordRule:
    """Replace a rule's keyword, scope, action and reply, checked as a new rule is."""
    rule = await session.get(KeywordRule, rule_id)
    if rule is None:
        raise NotFound(f"no keyword rule {rule_id}")
    for name, value in (await _checked(session, rule_in, keep=rule_id)).items():
        setattr(rule, name, value)
    await session.flush()
    return rule


async def _checked(
    session: AsyncSession, rule_in: KeywordRuleIn, keep: int | None = None
) -> dict[str, Any]:
    """A rule's columns from ``rule_in``, or why it cannot be (``keep``: the
    rule being changed, which may keep its own keyword and scope)."""
    word = normalize(rule_in.keyword)
    if not word:
        raise ValidationFailed("keyword", "must not be blank")
    if rule_in.action not in ACTIONS:
        raise ValidationFailed("action", f"must be one of {', '.join(ACTIONS)}")
    family = classify(word)
    if family is not None and rule_in.action != BUILT_IN_ACTION[family]:
        raise ValidationFailed(
            "action", f"{word.upper()} is a built-in {family} keyword; its action is fixed"
        )
    if rule_in.action == "reply" and not (rule_in.reply or "").strip():
        raise ValidationFailed("reply", "a reply rule needs the reply text")
    provider = await session.scalar(select(ProviderRow).where(live(ProviderRow, rule_in.provider)))
    if provider is None:
        raise ValidationFailed("provider", f"no provider {rule_in.provider!r}")
    sender_id = None
    if rule_in.sender is not None:
        sender = await session.scalar(select(Sender).where(live(Sender, rule_in.sender)))
        if sender is None or sender.provider_id != provider.id:
            raise ValidationFailed("sender", f"no sender {rule_in.sender!r} on {provider.name!r}")
        sender_id = sender.id
    existing = await _existing(session, provider.id, sender_id, word)
    if existing is not None and existing.id != keep:
        raise Conflict(f"keyword {word.upper()!r} already has a rule in this scope")
    return {
        "provider_id": provider.id,
        "sender_id": sender_id,
        "keyword": word,
        "action": rule_in.action,
        "reply": (rule_in.reply or "").strip() or None,
    }


async def _existing(
    session: AsyncSession, provider_id: int, sender_id: int | None, word: str
) -> KeywordRule | None:
    scope = (
        KeywordRule.sender_id.is_(None) if sender_id is None else KeywordRule.sender_id == sender_id
    )
    return await session.scalar(
        select(KeywordRule).where(
            KeywordRule.provider_id == provider_id, KeywordRule.keyword == word, scope
        )
    )


async def list_rules(session: AsyncSession, provider_id: int | None = None) -> list[KeywordRule]:
    query = select(KeywordRule).order_by(KeywordRule.id)
    if provider_id is not None:
        query = query.where(KeywordRule.provider_id == provider_id)
    return list(await session.scalars(query))


async def delete(session: AsyncSession, rule_id: int) -> None:
    rule = await session.get(KeywordRule, rule_id)
    if rule is None:
        raise NotFound(f"no keyword rule {rule_id}")
    await session.delete(rule)


async def decide(
    session: AsyncSession, provider_id: int, sender_id: int | None, body: str
) -> Decision:
    """What an inbound ``body`` means: its keyword action and any auto-reply.

    A sender with keyword responses off keeps only the built-in families'
    meaning (STOP still opts out): no reply, and none of the operator's rules."""
    word = normalize(body)
    family = classify(word)
    if not word or len(word) > 50:
        return Decision(None, None, None)
    if sender_id is not None and not await _answers_keywords(session, sender_id):
        return (
            Decision(BUILT_IN_ACTION[family], None, word) if family else Decision(None, None, None)
        )
    candidates = [word, "help"] if family == "help" and word != "help" else [word]
    scope: ColumnElement[bool] = KeywordRule.sender_id.is_(None)
    if sender_id is not None:
        scope = or_(scope, KeywordRule.sender_id == sender_id)
    rules = list(
        await session.scalars(
            select(KeywordRule).where(
                KeywordRule.provider_id == provider_id,
                KeywordRule.keyword.in_(candidates),
                scope,
            )
        )
    )
    # Most specific first: the exact word before the family's, a sender's before the account's.
    rules.sort(key=lambda r: (candidates.index(r.keyword), r.sender_id is None))
    rule = rules[0] if rules else None
    if family is not None:
        return Decision(BUILT_IN_ACTION[family], rule.reply if rule else None, word)
    if rule is None:
        return Decision(None, None, None)
    return Decision(rule.action, rule.reply, word)


async def _answers_keywords(session: AsyncSession, sender_id: int) -> bool:
    sender = await session.get(Sender, sender_id)
    return sender is None or sender.keyword_responses
