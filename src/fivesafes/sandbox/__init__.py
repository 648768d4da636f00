"""The safe setting's sandbox: a job's code run under bubblewrap, seeing only its
project's workspace (read-only), its own outputs folder, a private /tmp and the
TRE's Python read-only; no network, no other process, no secret; limits on
memory, CPU time, wall time, output size and processes (see docs/safe-setting.md).

:mod:`fivesafes.sandbox.limits` holds the limits and where they come from,
:mod:`fivesafes.sandbox.bwrap` builds and runs the sandbox (and refuses to run
when it cannot be set up), :mod:`fivesafes.sandbox.entry` is what runs inside.
"""

from fivesafes.sandbox.bwrap import SandboxError, SandboxResult, run_in_sandbox, self_test
from fivesafes.sandbox.limits import Limits

__all__ = ["Limits", "SandboxError", "SandboxResult", "run_in_sandbox", "self_test"]
