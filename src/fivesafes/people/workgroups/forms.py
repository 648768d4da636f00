"""Reading what a trainer types for a workgroup, a live session or a resource.

Each ``parse_*`` function returns ``(values, errors)``: the values ready to store,
and for each field that is wrong a message naming it (GOV.UK style: "Enter ...",
"Choose ..."); store only when ``errors`` is empty. Session times are typed as
local UK time (``YYYY-MM-DDTHH:MM``, what a ``datetime-local`` input sends) and
stored in UTC; fees are typed in pounds (``0``, ``12.50``) and stored in pence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.people.workgroups.models import LiveSession, SessionFormat, Workgroup

#: Where the sessions happen: times are typed and shown in this zone.
LOCAL = ZoneInfo("Europe/London")
CURRENCIES = ("GBP",)
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
#: Slugs that name pages of their own.
RESERVED = {"new", "manage"}
MAX_MINUTES = 24 * 60
MAX_FILE_BYTES = 20 * 1024 * 1024

Errors = dict[str, str]


def _text(form: Mapping[str, Any], name: str) -> str:
    return str(form.get(name, "") or "").strip()


def _length(errors: Errors, name: str, value: str, label: str, limit: int) -> None:
    if len(value) > limit:
        errors[name] = f"{label} must be {limit} characters or fewer"


def is_web_address(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in value


def parse_workgroup_form(
    db: Session, form: Mapping[str, Any], workgroup: Workgroup | None = None
) -> tuple[dict[str, Any], Errors]:
    errors: Errors = {}
    slug = _text(form, "slug").lower()
    theme = _text(form, "theme")
    description = _text(form, "description")
    if not slug:
        errors["slug"] = "Enter the workgroup's address, like courts-justice"
    elif not SLUG.match(slug) or len(slug) > 80:
        errors["slug"] = (
            "The address may have only lower-case letters, digits and single hyphens "
            "(80 characters at most), like courts-justice"
        )
    elif slug in RESERVED:
        errors["slug"] = f"The address {slug!r} is taken by a page of the site: choose another"
    else:
        other = db.scalar(select(Workgroup).where(Workgroup.slug == slug))
        if other is not None and (workgroup is None or other.id != workgroup.id):
            errors["slug"] = f"Another workgroup has the address {slug!r}: choose another"
    if not theme:
        errors["theme"] = "Enter the workgroup's theme, like Courts & Justice"
    _length(errors, "theme", theme, "The theme", 200)
    if not description:
        errors["description"] = "Enter a description: who the workgroup is for and what it does"
    _length(errors, "description", description, "The description", 5000)
    return {"slug": slug, "theme": theme, "description": description}, errors


def local_input(moment: datetime) -> str:
    """A stored time as a ``datetime-local`` value in UK time."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(LOCAL).strftime("%Y-%m-%dT%H:%M")


def parse_local(value: str) -> datetime | None:
    """``YYYY-MM-DDTHH:MM`` (or with a space) in UK time, as UTC; None if unreadable."""
    try:
        naive = datetime.strptime(value.replace(" ", "T"), "%Y-%m-%dT%H:%M")
    except ValueError:
        return None
    return naive.replace(tzinfo=LOCAL).astimezone(UTC)


def parse_pence(value: str) -> int | None:
    """Pounds as typed (``12``, ``12.50``, ``£1,200``) in pence; None if not money."""
    cleaned = value.replace("£", "").replace(",", "").strip()
    if not cleaned:
        return None
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        return None
    return int(amount * 100)


def parse_session_form(
    form: Mapping[str, Any], live: LiveSession | None = None
) -> tuple[dict[str, Any], Errors]:
    errors: Errors = {}
    title = _text(form, "title")
    summary = _text(form, "summary")
    if not title:
        errors["title"] = "Enter the session's title"
    _length(errors, "title", title, "The title", 200)
    _length(errors, "summary", summary, "The summary", 2000)

    starts_raw = _text(form, "starts_at")
    starts_at = parse_local(starts_raw) if starts_raw else None
    if not starts_raw:
        errors["starts_at"] = "Enter the date and time the session starts"
    elif starts_at is None:
        errors["starts_at"] = "Enter the start as a date and time, like 2027-03-04T14:00"

    minutes_raw = _text(form, "duration_minutes")
    minutes = int(minutes_raw) if minutes_raw.isdigit() else None
    if not minutes_raw:
        errors["duration_minutes"] = "Enter how long the session lasts, in minutes"
    elif minutes is None or not 1 <= minutes <= MAX_MINUTES:
        errors["duration_minutes"] = f"Enter the duration as whole minutes, 1 to {MAX_MINUTES}"

    fmt = _text(form, "format")
    place = _text(form, "place")
    link = _text(form, "online_link")
    if fmt not in {f.value for f in SessionFormat}:
        errors["format"] = "Choose in person or live online"
    elif fmt == SessionFormat.IN_PERSON.value and not place:
        errors["place"] = "Enter where the session meets"
    elif fmt == SessionFormat.LIVE_ONLINE.value:
        if not link:
            errors["online_link"] = "Enter the link of the online session (for enrolled members)"
        elif not is_web_address(link):
            errors["online_link"] = "Enter the link as a web address, like https://…"
    _length(errors, "place", place, "The place", 300)
    _length(errors, "online_link", link, "The link", 500)

    fee_raw = _text(form, "fee") or "0"
    fee = parse_pence(fee_raw)
    if fee is None:
        errors["fee"] = "Enter the fee in pounds, like 0 for free or 25.50"
    currency = _text(form, "currency") or "GBP"
    if currency not in CURRENCIES:
        errors["currency"] = "Fees are in pounds sterling (GBP)"

    capacity_raw = _text(form, "capacity")
    capacity: int | None = None
    if capacity_raw:
        if not capacity_raw.isdigit() or int(capacity_raw) < 1:
            errors["capacity"] = "Enter the number of places as a whole number, 1 or more"
        else:
            capacity = int(capacity_raw)
            taken = live.enrolled_count if live is not None else 0
            if capacity < taken:
                errors["capacity"] = (
                    f"{taken} places are taken already: the capacity cannot be fewer"
                )
    values = {
        "title": title,
        "summary": summary,
        "starts_at": starts_at,
        "duration_minutes": minutes,
        "format": fmt,
        "place": place if fmt == SessionFormat.IN_PERSON.value else "",
        "online_link": link if fmt == SessionFormat.LIVE_ONLINE.value else "",
        "fee_pence": fee,
        "currency": currency,
        "capacity": capacity,
        "enrolment_open": str(form.get("enrolment_open", "")) == "1",
    }
    return values, errors


def parse_resource_form(
    form: Mapping[str, Any], upload: tuple[str, bytes, str] | None = None
) -> tuple[dict[str, Any], Errors]:
    """A resource: ``title`` and either ``url`` or ``upload`` (filename, bytes, media
    type), not both."""
    errors: Errors = {}
    title = _text(form, "title")
    url = _text(form, "url")
    if not title:
        errors["title"] = "Enter the resource's title"
    _length(errors, "title", title, "The title", 200)
    values: dict[str, Any] = {"title": title}
    if url and upload is not None:
        errors["url"] = "Give a link or a file, not both"
    elif url:
        if not is_web_address(url):
            errors["url"] = "Enter the link as a web address, like https://…"
        _length(errors, "url", url, "The link", 500)
        values["url"] = url
    elif upload is not None:
        filename, content, media_type = upload
        name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
        if not content:
            errors["file"] = f"The file {name!r} is empty"
        elif len(content) > MAX_FILE_BYTES:
            errors["file"] = f"The file {name!r} is larger than {MAX_FILE_BYTES // 2**20} MB"
        _length(errors, "file", name, "The file's name", 200)
        values.update(
            filename=name, content=content, media_type=media_type or "application/octet-stream"
        )
    else:
        errors["url"] = "Give a link, or choose a file to upload"
    return values, errors
