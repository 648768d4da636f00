"""No template carries an inline style: the Content-Security-Policy
(``default-src 'self'``, no ``'unsafe-inline'``) makes browsers ignore ``style=``
attributes and ``<style>`` elements, so a page styled that way looks broken.
Styles belong in static/style.css as classes."""

from __future__ import annotations

import re
from pathlib import Path

from fivesafes.web.templating import TEMPLATES

INLINE = re.compile(r"""\sstyle\s*=|<style[\s>]""", re.IGNORECASE)


def test_no_template_has_an_inline_style() -> None:
    found = [
        f"{path.relative_to(TEMPLATES)}:{number}: {line.strip()}"
        for path in sorted(Path(TEMPLATES).rglob("*.html"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if INLINE.search(line)
    ]
    assert sorted(Path(TEMPLATES).rglob("statistics/*.html"))  # the scan sees the templates
    assert found == [], "inline styles (blocked by the CSP):\n" + "\n".join(found)
