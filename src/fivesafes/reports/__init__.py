"""Reports as self-contained HTML pages, rendered one way.

Every report the TRE writes to a file (a study's report, a collection return's
report, a data dictionary, the linkage quality report) is a Jinja template of
``fivesafes/reports/templates`` rendered by :func:`fivesafes.reports.render.render`:
the web app's template engine and its stylesheet (inlined, so a report opened from
a folder looks like the site), strings marked for translation as the site's are,
and figures drawn with matplotlib and embedded as PNG.
"""
