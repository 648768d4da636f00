"""Reading and checking forms: the posted fields as plain strings, and small
validators that give GOV.UK-style messages ("Enter ...", "Choose ...")."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Depends, Request

from fivesafes.web.i18n import _

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Form(dict[str, str]):
    """The posted fields (each the last value sent, stripped of surrounding blanks
    except passwords) plus ``lists`` for multi-valued fields (checkboxes)."""

    def __init__(self, values: dict[str, str], lists: dict[str, list[str]]) -> None:
        super().__init__(values)
        self.lists = lists

    def getlist(self, name: str) -> list[str]:
        return self.lists.get(name, [])


async def form_data(request: Request) -> Form:
    """Dependency: the request's form fields (text only; uploads are not included)."""
    form = await request.form()
    values: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if not isinstance(value, str):
            continue
        text = value if "password" in key else value.strip()
        values[key] = text
        lists.setdefault(key, []).append(text)
    return Form(values, lists)


def check_email(value: str) -> str | None:
    if not value:
        return _("Enter your e-mail address")
    if len(value) > 254 or not EMAIL.match(value):
        return _("Enter an e-mail address in the correct format, like name@example.org")
    return None


def check_text(value: str, missing: str | None, too_long: str, *, max_len: int = 200) -> str | None:
    """The error of a text field, if any: ``missing`` (None: the field may be left
    empty) or ``too_long`` (with ``%(max)s``, the most it takes), both messages
    marked with :func:`~fivesafes.web.i18n.N_` and translated here."""
    if missing is not None and not value:
        return _(missing)
    if len(value) > max_len:
        return _(too_long, max=max_len)
    return None


def errors_first(errors: dict[str, Any]) -> dict[str, Any]:
    """The errors without the fields that have none (for templates)."""
    return {k: v for k, v in errors.items() if v}


#: A route parameter for the posted form: ``form: Posted``.
Posted = Annotated[Form, Depends(form_data)]
