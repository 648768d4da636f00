"""A job's limits, from the TRE's configuration (environment variables) with
defaults a laptop and a shared server can both live with."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from fivesafes.errors import FivesafesError

PREFIX = "FIVESAFES_JOB_"


@dataclass(frozen=True)
class Limits:
    """What one job may use. Each is set by ``FIVESAFES_JOB_<NAME>`` (e.g.
    ``FIVESAFES_JOB_MEMORY_MB=8192``)."""

    #: Memory of all the job's processes together (its /tmp included), in MB.
    memory_mb: int = 4096
    #: CPU time of each process, in seconds.
    cpu_seconds: int = 1800
    #: Time from start to end, in seconds.
    wall_seconds: int = 3600
    #: Everything the job writes into its outputs folder together, in MB.
    output_mb: int = 200
    #: Processes and threads the job may have at once.
    processes: int = 64

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Limits:
        env = dict(os.environ if env is None else env)
        values: dict[str, int] = {}
        for f in fields(cls):
            key = PREFIX + f.name.upper()
            if key in env:
                try:
                    value = int(env[key])
                except ValueError:
                    raise FivesafesError(f"{key}={env[key]!r} is not a whole number") from None
                if value <= 0:
                    raise FivesafesError(f"{key} must be more than 0")
                values[f.name] = value
        return cls(**values)

    def describe(self, limit: str) -> str:
        """The sentence a job killed over ``limit`` shows."""
        return {
            "memory": f"it used more than its memory limit ({self.memory_mb:,} MB)",
            "cpu": f"it used more than its CPU time limit ({self.cpu_seconds:,} s)",
            "wall": f"it ran longer than its time limit ({self.wall_seconds:,} s)",
            "output": f"it wrote more than its output limit ({self.output_mb:,} MB)",
            "processes": f"it started more than its limit of {self.processes} processes",
        }[limit]
