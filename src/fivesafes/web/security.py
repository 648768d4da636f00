"""Passwords (argon2id, argon2-cffi's defaults) and random tokens (stored only as
their SHA-256)."""

from __future__ import annotations

import hashlib
import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

#: The shortest password accepted.
MIN_PASSWORD = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches the stored hash. With no stored hash it still
    spends the time of a check, so timing does not tell which e-mails exist."""
    try:
        return _hasher.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    """A random URL-safe token (256 bits)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def password_problem(password: str, *, email: str = "", name: str = "") -> str | None:
    """Why a new password is not acceptable, or None."""
    if len(password) < MIN_PASSWORD:
        return f"Enter a password of at least {MIN_PASSWORD} characters"
    if len(password) > 200:
        return "Enter a password of at most 200 characters"
    lowered = password.lower()
    for part in (email.split("@")[0].lower(), name.lower()):
        if len(part) >= 4 and part in lowered:
            return "Choose a password that does not contain your name or e-mail"
    if len(set(password)) < 4:
        return "Choose a password with more different characters"
    return None
