"""The ``fivesafes`` command line: a thin layer over the library.

Conventions every command follows: ``--help`` shows an example; ``--json``
prints one machine-readable summary instead of the human output; exit code 0
on success, 2 for a user error (one line saying what to do, no traceback), 1
for an internal error.
"""
