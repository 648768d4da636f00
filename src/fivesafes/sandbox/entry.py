"""What runs inside the sandbox: the job's script (or study), with any uncaught
exception written as its type and the script's file and line only, to the status
file the runner reads (``$FIVESAFES_STATUS``). The message is never written
there: it can hold the data (``KeyError: 'a person's value'``); the full
traceback goes to the log, which only output checkers read.

``python -m fivesafes.sandbox.entry script /job/analysis.py``
``python -m fivesafes.sandbox.entry study NAME /job/studies``
"""

from __future__ import annotations

import json
import os
import runpy
import shutil
import sys
import traceback
from pathlib import Path
from typing import Any


def _where(exc: BaseException, script: Path | None) -> dict[str, Any]:
    frames = traceback.extract_tb(exc.__traceback__)
    chosen = None
    if script is not None:
        mine = [f for f in frames if Path(f.filename) == script]
        chosen = mine[-1] if mine else None
    if chosen is None and frames:
        chosen = frames[-1]
    return {
        "type": type(exc).__name__,
        "file": Path(chosen.filename).name if chosen else None,
        "line": chosen.lineno if chosen else None,
    }


def _status(data: dict[str, Any]) -> None:
    path = os.environ.get("FIVESAFES_STATUS")
    if path:
        Path(path).write_text(json.dumps(data))


def main(argv: list[str]) -> int:
    kind = argv[0]
    script: Path | None = None
    try:
        if kind == "script":
            script = Path(argv[1])
            sys.argv = [str(script)]
            sys.path.insert(0, str(script.parent))
            runpy.run_path(str(script), run_name="__main__")
        elif kind == "study":
            from fivesafes.analysis.studies import find_study, run_study

            name, folder = argv[1], Path(argv[2])
            script = find_study(name, folder).path
            # Curation writes its derived tables into the workspace: a private copy.
            workspace = Path("/tmp") / "workspace.duckdb"
            shutil.copyfile(os.environ["FIVESAFES_WORKSPACE"], workspace)
            run_study(name, workspace, Path(os.environ["FIVESAFES_OUTPUTS"]), studies_dir=folder)
        else:
            raise SystemExit(f"unknown kind {kind!r}")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if code:
            _status({"error": {"type": "SystemExit", "file": None, "line": None}})
        return code
    except BaseException as exc:
        traceback.print_exc()
        _status({"error": _where(exc, script)})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
