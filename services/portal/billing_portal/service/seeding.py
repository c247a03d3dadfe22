"""PORTAL_USERS at start: each entry made to exist with the password it names."""
from __future__ import annotations

import asyncio

import structlog

from billing_portal.adapters import passwords, user_store
from billing_portal.config import SeedUser
from billing_portal.service.deps import Deps

log = structlog.get_logger(__name__)


async def seed_users(deps: Deps, users: list[SeedUser]) -> None:
    for seed in users:
        password = seed.password.get_secret_value()
        known = await user_store.by_email(deps.pool, seed.email)
        if known is not None and known.role == seed.role and known.organization_id == seed.organization_id \
                and known.contact_id == seed.contact_id and known.active \
                and await asyncio.to_thread(passwords.verify_password, known.password_hash, password):
            continue  # as configured already: keep its hash (and its sessions)
        await user_store.upsert(deps.pool, email=seed.email, password_hash=passwords.hash_password(password),
                                role=seed.role, organization_id=seed.organization_id, contact_id=seed.contact_id)
        log.info("portal user seeded", email=seed.email, role=seed.role)
