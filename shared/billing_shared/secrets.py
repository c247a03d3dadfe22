"""Secrets at rest: Fernet-encrypted with a key from the environment; masked on every read."""
from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken


class SecretBox:
    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.encode())
        except ValueError as exc:
            raise ValueError("SECRETS_KEY must be a Fernet key (urlsafe base64 of 32 bytes)") from exc

    def seal(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode())

    def open(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(bytes(sealed)).decode()
        except InvalidToken as exc:
            raise ValueError("a stored secret cannot be decrypted with this SECRETS_KEY") from exc

    def __repr__(self) -> str:
        return "SecretBox(****)"


def mask(secret: str | None) -> str | None:
    """`"****1234"`: enough to recognise a key, never enough to use it."""
    if not secret:
        return None
    return "****" + secret[-4:] if len(secret) > 8 else "****"


def new_key() -> str:
    return Fernet.generate_key().decode()
