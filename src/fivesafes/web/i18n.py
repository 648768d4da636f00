"""The translation hook of the web app's Python code: ``_(message)`` marks a
user-facing message. A null gettext for now (the message as given, in English);
the internationalisation replaces it with the catalogues' gettext."""

from __future__ import annotations


def _(message: str) -> str:
    """``message`` in the reader's language (for now: as given)."""
    return message
