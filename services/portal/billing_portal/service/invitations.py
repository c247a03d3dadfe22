"""Inviting a client contact: an emailed single-use link (through the notifications service, so it is
sent exactly once and shows in its deliveries) where the contact sets a password and signs in."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from billing_shared.events.catalog import BILLING_PORTAL
from billing_shared.events.portal import InvitationData, InvitationSent

from billing_portal.adapters import directory_store, invitation_store, passwords, session_store, user_store
from billing_portal.domain import csrf
from billing_portal.domain.people import User
from billing_portal.service.deps import Deps

MIN_PASSWORD = 10


class InvitationRefused(Exception):
    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.message, self.status = message, status


@dataclass(frozen=True)
class Accepted:
    user_id: str
    session_token: str


async def invite(deps: Deps, who: User, contact_id: str, profile_id: str) -> str:
    """Records the invitation and its event in one transaction; returns the address it goes to."""
    contact = await directory_store.get(deps.pool, contact_id)
    if contact is None or not contact.active:
        raise InvitationRefused("That contact is not an active contact in the directory.", 404)
    if not contact.email:
        raise InvitationRefused(f"{contact.name} has no email address in Autotask: add one and sync, then invite.")
    expires = datetime.now(UTC) + timedelta(hours=deps.config.invitation_hours)
    async with deps.uow.begin() as tx:
        invitation_id, token = await invitation_store.create(
            tx.conn, organization_id=contact.organization_id, contact_id=contact.contact_id, email=contact.email,
            name=contact.name, profile_id=profile_id, invited_by=who.email, expires_at=expires)
        link = f"{deps.config.portal_public_url.rstrip('/')}/invitations/{token}"
        tx.publish(BILLING_PORTAL, InvitationSent.new(
            producer="portal", organization_id=contact.organization_id, data=InvitationData(
                invitation_id=invitation_id, organization_id=contact.organization_id, contact_id=contact.contact_id,
                email=contact.email, name=contact.name, link=link, expires_at=expires, invited_by=who.email)))
    return contact.email


def state_of(invitation: invitation_store.Invitation | None) -> str:
    """forged (unknown), used, expired, or open."""
    if invitation is None:
        return "forged"
    if invitation.used_at is not None:
        return "used"
    return "expired" if invitation.expires_at <= datetime.now(UTC) else "open"


async def accept(deps: Deps, token: str, password: str, confirm: str) -> Accepted:
    if len(password) < MIN_PASSWORD:
        raise InvitationRefused(f"Choose a password of at least {MIN_PASSWORD} characters.")
    if password != confirm:
        raise InvitationRefused("The two passwords differ.")
    hashed = await asyncio.to_thread(passwords.hash_password, password)
    async with deps.uow.begin() as tx:
        invitation = await invitation_store.by_token(tx.conn, token, for_update=True)
        state = state_of(invitation)
        if state != "open":
            raise InvitationRefused(state, 410 if state in ("used", "expired") else 404)
        assert invitation is not None
        contact = await directory_store.get(tx.conn, invitation.contact_id)
        if contact is None or not contact.active:
            raise InvitationRefused("inactive", 410)
        user_id = await user_store.upsert_invited(
            tx.conn, email=invitation.email, password_hash=hashed, organization_id=invitation.organization_id,
            contact_id=invitation.contact_id, profile_id=invitation.profile_id)
        await invitation_store.mark_used(tx.conn, invitation.invitation_id)
        session = await session_store.create(tx.conn, user_id, csrf.new_token(),
                                             datetime.now(UTC) + deps.session_max)
    return Accepted(user_id, session)
