"""Who may reach which route: the public routes (no log-in needed) are listed
here; every other route must carry a dependency with an ``access`` attribute
(:mod:`fivesafes.web.deps`). ``tests/web/test_security_routes.py`` checks every
route of the app against this, so a new route without either fails the tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute

from fivesafes.web.deps import requirements

#: Paths (as declared on the routes) anyone may open.
PUBLIC: set[str] = {
    "/",
    "/healthz",
    "/favicon.ico",
    "/static",
    "/login",
    "/logout",
    "/register",
    "/password-reset",
    "/password-reset/{token}",
    "/accessibility",
    "/language/{code}",
    "/courses",
    "/courses.json",
    "/courses/{slug}",
    "/courses/{slug}.json",
    "/projects/public",
    "/projects/public.json",
    "/verify/{code}",
    "/verify",
    "/resources",
    "/resources/{slug}",
    "/featured-datasets",
    "/featured-datasets/{name}",
    "/workgroups",
    "/workgroups.json",
    "/workgroups/{slug}",
    "/workgroups/{slug}.json",
    "/statistics",
    "/statistics/{slug}",
    "/statistics/files/{name}",
    "/indicators",
    "/indicators/files/{name}",
}


@dataclass(frozen=True)
class RouteInfo:
    """One route as the app serves it: full path, methods, and whether it is an API
    route (a FastAPI endpoint) with its access requirements."""

    path: str
    methods: frozenset[str]
    is_api: bool
    access: tuple[dict[str, Any], ...]


def route_table(routes: Sequence[BaseRoute]) -> list[RouteInfo]:
    """Every route of an app (``app.routes``), routers included, with its full path."""
    table = []
    for ctx in iter_route_contexts(routes):
        is_api = isinstance(ctx.original_route, APIRoute)
        dependant = getattr(ctx, "dependant", None) if is_api else None
        table.append(
            RouteInfo(
                path=ctx.path or "",
                methods=frozenset(ctx.methods or ()),
                is_api=is_api,
                access=tuple(requirements(dependant)) if dependant is not None else (),
            )
        )
    return table


def unprotected(routes: Sequence[BaseRoute]) -> list[str]:
    """Routes that are neither public nor protected by an access dependency."""
    return sorted(
        {info.path for info in route_table(routes) if info.path not in PUBLIC and not info.access}
    )
