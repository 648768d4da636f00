"""Who may reach which route: the public routes (no log-in needed) are listed
here; every other route must carry a dependency with an ``access`` attribute
(:mod:`fivesafes.web.deps`). ``tests/web/test_security_routes.py`` checks every
route of the app against this, so a new route without either fails the tests.
"""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Mount

from fivesafes.web.deps import requirements

#: Paths (as declared on the routes) anyone may open.
PUBLIC: set[str] = {
    "/",
    "/healthz",
    "/static",
    "/login",
    "/logout",
    "/register",
    "/password-reset",
    "/password-reset/{token}",
    "/accessibility",
    "/courses",
    "/courses/{slug}",
    "/projects/public",
    "/projects/public.json",
    "/verify/{code}",
}


def route_access(route: BaseRoute) -> list[dict[str, Any]]:
    """The access requirements of one route ([] for a mount or a public route)."""
    if isinstance(route, APIRoute):
        return requirements(route.dependant)
    return []


def unprotected(routes: list[BaseRoute]) -> list[str]:
    """Routes that are neither public nor protected by an access dependency."""
    bad = []
    for route in routes:
        path = getattr(route, "path", "")
        if path in PUBLIC:
            continue
        if isinstance(route, Mount) or not route_access(route):
            bad.append(path)
    return bad
