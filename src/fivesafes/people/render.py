"""Markdown to HTML for course content, without raw HTML.

Content is rendered with markdown-it-py's CommonMark parser with ``html`` off, so
any HTML in the source is shown as text, and its link validation refuses
``javascript:``, ``vbscript:``, ``file:`` and non-image ``data:`` URLs.
"""

from __future__ import annotations

from functools import lru_cache

from markdown_it import MarkdownIt


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "typographer": False}).enable("table")


def markdown_to_html(text: str) -> str:
    """Safe HTML for ``text`` (Markdown; raw HTML is escaped, not rendered)."""
    return _parser().render(text or "")


def without_title(text: str) -> str:
    """``text`` without a leading ``# Title`` line (the page shows the title itself)."""
    stripped = (text or "").lstrip()
    if stripped.startswith("# "):
        return stripped.split("\n", 1)[1] if "\n" in stripped else ""
    return text or ""
