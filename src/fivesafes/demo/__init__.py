"""The demo: a user of the library's public API like any other, on a synthetic world.

:mod:`.run` runs every stage of the data flow end to end (``fivesafes demo``);
:mod:`.site` fills a web database with one user per role and the seeders of
:mod:`.people`, :mod:`.projects` and :mod:`.collections` (``fivesafes web seed-demo``);
:mod:`.outputs` is the outputs stage of the run.
"""

from fivesafes.demo.run import run_demo

__all__ = ["run_demo"]
