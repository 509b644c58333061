"""Dashboard users and sign-in sessions on both databases: argon2id hashes,
the last admin kept, sessions that end the moment their user or key does, and
refused sign-ins counted per address."""

from __future__ import annotations

import pytest

from textcast.context import Context
from textcast.errors import Conflict, ValidationFailed
from textcast.services import apikeys, signins, users
from textcast.services.signins import TooManyAttempts


async def test_passwords_are_hashed_and_checked(ctx: Context) -> None:
    async with ctx.session() as session:
        user = await users.create(session, " Alice@Example.com ", "correct horse battery", "editor")
        assert user.username == "alice@example.com"
        assert user.password_hash.startswith("$argon2id$")
        assert await users.authenticate(session, "ALICE@example.com", "correct horse battery")
        assert await users.authenticate(session, "alice@example.com", "wrong") is None
        assert await users.authenticate(session, "nobody", "correct horse battery") is None
        with pytest.raises(ValidationFailed, match="at least 10"):
            await users.create(session, "bob", "short", "viewer")
        with pytest.raises(ValidationFailed, match="role"):
            await users.create(session, "bob", "long enough password", "owner")
        with pytest.raises(Conflict):
            await users.create(session, "alice@example.com", "another password", "viewer")


async def test_the_last_admin_cannot_be_demoted_disabled_or_removed(ctx: Context) -> None:
    async with ctx.session() as session:
        admin = await users.create(session, "root", "long enough password", "admin")
        for change in (
            users.set_role(session, admin, "viewer"),
            users.set_disabled(session, admin, True),
            users.remove(session, admin),
        ):
            with pytest.raises(Conflict, match="last active admin"):
                await change
        await users.create(session, "second", "long enough password", "admin")
        await users.set_role(session, admin, "viewer")
        assert admin.role == "viewer"


async def test_first_start_makes_one_admin_and_only_once(ctx: Context) -> None:
    async with ctx.session() as session:
        made = await users.ensure_first_admin(session)
        assert made is not None and made[0] == "admin"
        assert await users.authenticate(session, *made) is not None
        assert await users.ensure_first_admin(session) is None


async def test_a_session_ends_when_its_user_is_disabled_or_its_key_revoked(ctx: Context) -> None:
    async with ctx.session() as session:
        await users.create(session, "root", "long enough password", "admin")
        carol = await users.create(session, "carol", "long enough password", "editor")
        started = await signins.with_password(session, "carol", "long enough password", "10.0.0.1")
        assert started is not None
        token, signed = started
        found = await signins.resolve(session, token, "10.0.0.1")
        assert found is not None and found.actor.role == "editor"
        assert found.csrf_token == signed.csrf_token
        await users.set_role(session, carol, "viewer")
        found = await signins.resolve(session, token, None)
        assert found is not None and found.actor.role == "viewer"  # read on every request
        await users.set_disabled(session, carol, True)
        assert await signins.resolve(session, token, None) is None

        key = await apikeys.create_key(session, "ops", role="editor")
        by_key = await signins.with_api_key(session, key.key, None)
        assert by_key is not None
        assert (await signins.resolve(session, by_key[0], None)) is not None
        await apikeys.revoke(session, key.record.id)
        assert await signins.resolve(session, by_key[0], None) is None


async def test_refused_sign_ins_pause_that_address(ctx: Context) -> None:
    async with ctx.session() as session:
        await users.create(session, "dave", "long enough password", "viewer")
        for _ in range(signins.MAX_FAILURES_PER_NAME):
            assert await signins.with_password(session, "dave", "nope", "10.0.0.2") is None
        with pytest.raises(TooManyAttempts):
            await signins.with_password(session, "dave", "long enough password", "10.0.0.2")
        # Another address is not paused for it.
        assert await signins.with_password(session, "dave", "long enough password", "10.0.0.3")
