"""Signing in and out: throttled, timed the same for unknown accounts, audited."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from billing_portal.adapters import attempt_store, audit_store, passwords, session_store, user_store
from billing_portal.domain import csrf
from billing_portal.domain.people import User
from billing_portal.domain.throttle import refused
from billing_portal.service.deps import Deps


class SignInRefused(Exception):
    """Wrong email or password, an inactive account, or too many attempts: said as one sentence."""

    def __init__(self, message: str, *, throttled: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.throttled = throttled


WRONG = "That email and password do not match an active account."


@dataclass(frozen=True)
class SignedIn:
    user: User
    session_token: str


async def sign_in(deps: Deps, email: str, password: str, address: str) -> SignedIn:
    email = email.strip()
    window = timedelta(minutes=deps.throttle.window_minutes)
    account_failures, address_failures = await attempt_store.recent_failures(deps.pool, email, address, window)
    if refused(deps.throttle, account_failures, address_failures):
        raise SignInRefused(f"Too many failed sign-ins. Try again in {deps.throttle.window_minutes} minutes.",
                            throttled=True)
    user = await user_store.by_email(deps.pool, email)
    # argon2 takes tens of milliseconds of CPU: off the event loop, so other requests go on meanwhile.
    matched = await asyncio.to_thread(passwords.verify_password, user.password_hash if user else None, password)
    if user is None or not matched or not user.active:
        await attempt_store.record_failure(deps.pool, email, address)
        raise SignInRefused(WRONG)
    await attempt_store.forget(deps.pool, email)
    expires = datetime.now(UTC) + deps.session_max
    token = await session_store.create(deps.pool, user.user_id, csrf.new_token(), expires)
    await audit_store.record(deps.pool, user_id=user.user_id, email=user.email, action="signed in", address=address)
    return SignedIn(user, token)


async def sign_out(deps: Deps, user: User, session_token: str, address: str) -> None:
    await session_store.end(deps.pool, session_token)
    await audit_store.record(deps.pool, user_id=user.user_id, email=user.email, action="signed out", address=address)
