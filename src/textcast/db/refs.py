"""How the API and CLI name things (providers, senders, templates …): by id or by name."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field
from sqlalchemy import ColumnElement, and_, false

from textcast.db.models import MAX_ID, MessageTemplate, Provider, Sender

Named = type[Provider] | type[Sender] | type[MessageTemplate]


def _not_an_id(name: str) -> str:
    if name.strip().isdigit():
        raise ValueError("must not be only digits (those refer to ids)")
    return name


# A name things are referred to by beside their ID: never all digits, since a
# reference of digits is read as an ID.
RefName = Annotated[
    str,
    Field(min_length=1, max_length=100, pattern=r"^[\w .@+-]+$"),
    AfterValidator(_not_an_id),
]


def by_ref(model: Named, ref: str | int) -> ColumnElement[bool]:
    """A numeric reference is an id, anything else a name (names may not be all digits
    in practice; an all-digit name can still be reached by its id)."""
    if isinstance(ref, int) or str(ref).isdigit():
        number = int(ref)
        # Past any ID a column holds: matches nothing (a database would refuse to bind it).
        return model.id == number if 0 <= number <= MAX_ID else false()
    return model.name == str(ref)


def live(model: Named, ref: str | int) -> ColumnElement[bool]:
    """Named or numbered ``ref``, and not deleted."""
    return and_(model.deleted_at.is_(None), by_ref(model, ref))
