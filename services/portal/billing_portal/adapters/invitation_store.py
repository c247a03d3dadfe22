"""Invitations to the client portal. The link's token is random; the table keeps its SHA-256."""
from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

Db = asyncpg.Connection | asyncpg.Pool


@dataclass(frozen=True)
class Invitation:
    invitation_id: str
    organization_id: str
    contact_id: str
    email: str
    name: str
    profile_id: str
    expires_at: datetime
    used_at: datetime | None


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def create(conn: asyncpg.Connection, *, organization_id: str, contact_id: str, email: str, name: str,
                 profile_id: str, invited_by: str, expires_at: datetime) -> tuple[str, str]:
    """The new invitation's id and its token (the only time the token exists outside the email)."""
    token, invitation_id = secrets.token_urlsafe(32), uuid.uuid4()
    await conn.execute(
        """INSERT INTO invitations (invitation_id, token_hash, organization_id, contact_id, email, name, profile_id,
                                    invited_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        invitation_id, _digest(token), organization_id, contact_id, email, name, uuid.UUID(profile_id),
        invited_by, expires_at)
    return str(invitation_id), token


async def by_token(db: Db, token: str, *, for_update: bool = False) -> Invitation | None:
    row = await db.fetchrow(
        f"""SELECT invitation_id::text, organization_id, contact_id, email, name, profile_id::text, expires_at,
                   used_at FROM invitations WHERE token_hash = $1 {'FOR UPDATE' if for_update else ''}""",
        _digest(token))
    return Invitation(**dict(row)) if row else None


async def mark_used(conn: asyncpg.Connection, invitation_id: str) -> None:
    await conn.execute("UPDATE invitations SET used_at = now() WHERE invitation_id = $1", uuid.UUID(invitation_id))
