"""Passwords (argon2id with argon2-cffi's default parameters, RFC 9106's
low-memory profile) and random tokens (stored only as their SHA-256).

``FIVESAFES_PASSWORD_HASHING=fast`` switches to argon2-cffi's cheapest profile; only
the test suite sets it (every hash records its own parameters, so either kind
still verifies, and a fast hash is upgraded at the next log-in without it)."""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import CHEAPEST

from fivesafes.web.i18n import _

HASHING_ENV = "FIVESAFES_PASSWORD_HASHING"
_strong = PasswordHasher()
_fast = PasswordHasher.from_parameters(CHEAPEST)


#: At most this many hashes at once (each takes 64 MiB and four lanes): more would
#: only thrash memory and CPU; the others wait their turn.
_slots = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))


def hasher() -> PasswordHasher:
    """The password hasher in force (see the module's docstring)."""
    return _fast if os.environ.get(HASHING_ENV) == "fast" else _strong


#: The shortest password accepted.
MIN_PASSWORD = 10


def hash_password(password: str) -> str:
    with _slots:
        return hasher().hash(password)


@lru_cache(maxsize=2)
def _dummy_hash(fast: bool) -> str:
    return (_fast if fast else _strong).hash(secrets.token_urlsafe(16))


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches the stored hash. With no stored hash it still
    spends the time of a check, so timing does not tell which e-mails exist."""
    try:
        dummy = _dummy_hash(hasher() is _fast)
        with _slots:
            return hasher().verify(stored or dummy, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether a stored hash was made with other parameters than those in force."""
    try:
        return hasher().check_needs_rehash(stored)
    except (InvalidHashError, ValueError):
        return False


def new_token() -> str:
    """A random URL-safe token (256 bits)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def password_problem(password: str, *, email: str = "", name: str = "") -> str | None:
    """Why a new password is not acceptable, or None."""
    if len(password) < MIN_PASSWORD:
        return _(
            "Enter a password of at least %(min_password)s characters", min_password=MIN_PASSWORD
        )
    if len(password) > 200:
        return _("Enter a password of at most 200 characters")
    lowered = password.lower()
    for part in (email.split("@")[0].lower(), name.lower()):
        if len(part) >= 4 and part in lowered:
            return _("Choose a password that does not contain your name or e-mail")
    if len(set(password)) < 4:
        return _("Choose a password with more different characters")
    return None
