"""Helpers shared by test files in more than one folder of ``tests/``.

Imported as ``shared.<module>``: ``tests/`` is on ``sys.path`` whenever pytest
runs from the repository (its ``conftest.py`` is a rootdir conftest, whose folder
pytest puts first on the path), so a test file that uses them runs alone as well
as in the suite. Helpers used by one folder only stay in that folder.

- :mod:`shared.fixed_secrets`: project secrets that are the same on every run.
- :mod:`shared.study_world`: the demo-sized world the study tests run on.
"""
