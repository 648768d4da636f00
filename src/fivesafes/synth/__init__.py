"""The synthetic world every demo, test and benchmark runs on.

Public API: :func:`make_world` and its :class:`WorldConfig` (with
:class:`ErrorRates` and :class:`Effects`). See ``docs/synthetic-world.md``.
"""

from fivesafes.synth.config import Effects, ErrorRates, WorldConfig
from fivesafes.synth.world import WorldSummary, make_world

__all__ = ["Effects", "ErrorRates", "WorldConfig", "WorldSummary", "make_world"]
