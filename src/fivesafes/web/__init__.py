"""The fivesafes web app (FastAPI, server-rendered Jinja2 pages, plain CSS).

:func:`fivesafes.web.app.create_app` builds it; accounts, sessions, CSRF and the
role checks live in :mod:`~fivesafes.web.security`, :mod:`~fivesafes.web.sessions`
and :mod:`~fivesafes.web.deps`; pages in :mod:`fivesafes.web.routes`.
"""
