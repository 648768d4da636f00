"""Running a job under bubblewrap, with its limits, and refusing when the sandbox
cannot be set up (never running unsandboxed).

The job sees:

- ``/workspace/<file>``: its project's workspace, read-only (``$FIVESAFES_WORKSPACE``);
- ``/outputs``: its own empty outputs folder, writable (``$FIVESAFES_OUTPUTS``);
- ``/tmp``: private, in memory (counted in its memory);
- ``/job``: its script, read-only;
- the system's ``/usr`` and the TRE's Python environment, read-only.

Nothing else of the host's files; every namespace unshared (no network, not even
loopback to the host's; its own processes only; its own hostname and IPC); an
environment of a few fixed variables (no secret, no database URL); all
capabilities dropped; it dies with the runner.

Limits: memory and processes by a control group made for the job (cgroup v1 or
v2, where the runner may make one; else ``RLIMIT_AS`` for memory, and for
processes ``RLIMIT_NPROC`` when the runner is not root); CPU time
(``RLIMIT_CPU``); output size (``RLIMIT_FSIZE`` per file, and the folder's total
watched); wall time (watched). A job over one is killed and says which.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fivesafes.errors import FivesafesError
from fivesafes.sandbox.limits import Limits

#: The most of a job's printed output kept (the end of it), for output checkers.
LOG_BYTES = 2_000_000
POLL = 0.05


class SandboxError(FivesafesError):
    """The sandbox cannot be set up here: nothing is run."""


@dataclass
class SandboxResult:
    """How a sandboxed run ended and what it used."""

    exit_code: int | None
    #: The limit it went over (``memory``, ``cpu``, ``wall``, ``output``,
    #: ``processes``), or ``None``.
    limit: str | None
    #: For a failure: the exception's type and the script's file and line.
    error: dict[str, Any] | None
    duration: float
    cpu_seconds: float
    max_rss_kb: int
    log: bytes
    cancelled: bool = False
    outputs: list[Path] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and self.limit is None and not self.cancelled


def bwrap() -> str:
    found = shutil.which("bwrap")
    if found is None:
        raise SandboxError(
            "bubblewrap (bwrap) is not installed, so jobs cannot be sandboxed and none is "
            "run; install it (Debian: apt install bubblewrap)"
        )
    return found


def python_mounts() -> tuple[list[Path], Path | None]:
    """The folders of the TRE's Python to mount read-only, and the folder holding the
    ``fivesafes`` package when it lies outside them (added to the job's path)."""
    import fivesafes

    roots: list[Path] = []
    for p in (sys.prefix, sys.base_prefix, os.path.realpath(sys.executable)):
        path = Path(p).resolve()
        if path.is_file():
            path = path.parent.parent
        if not any(path == r or path.is_relative_to(r) for r in roots):
            roots.append(path)
    package = Path(fivesafes.__file__).resolve().parent.parent
    extra = None if any(package.is_relative_to(r) for r in roots) else package
    return roots, extra


class _Cgroup:
    """A control group of the job's own for memory and processes (v1 or v2)."""

    def __init__(self, name: str, limits: Limits) -> None:
        self.dirs: dict[str, Path] = {}
        root = Path("/sys/fs/cgroup")
        v2 = (root / "cgroup.controllers").exists()
        memory = limits.memory_mb * 2**20
        if v2:
            controllers = (root / "cgroup.controllers").read_text().split()
            if {"memory", "pids"} <= set(controllers):
                d = root / "fivesafes" / name
                d.mkdir(parents=True)
                self.dirs = {"memory": d, "pids": d}
                (d / "memory.max").write_text(str(memory))
                (d / "memory.swap.max").write_text("0") if (
                    d / "memory.swap.max"
                ).exists() else None
                (d / "pids.max").write_text(str(limits.processes))
            return
        for ctl in ("memory", "pids", "cpuacct"):
            base = root / ctl
            if not (base / "cgroup.procs").exists():
                continue
            d = base / "fivesafes" / name
            d.mkdir(parents=True)
            self.dirs[ctl] = d
        if "memory" in self.dirs:
            d = self.dirs["memory"]
            (d / "memory.limit_in_bytes").write_text(str(memory))
            if (d / "memory.memsw.limit_in_bytes").exists():
                (d / "memory.memsw.limit_in_bytes").write_text(str(memory))
        if "pids" in self.dirs:
            (self.dirs["pids"] / "pids.max").write_text(str(limits.processes))

    def join(self) -> None:
        """Put the calling process (the sandbox, before it starts) into the group."""
        for d in set(self.dirs.values()):
            (d / "cgroup.procs").write_text(str(os.getpid()))

    def hit(self) -> str | None:
        """The limit the group's processes ran into, if any."""
        if "pids" in self.dirs:
            events = self.dirs["pids"] / "pids.events"
            if events.exists() and _event(events.read_text(), "max") > 0:
                return "processes"
        if "memory" in self.dirs:
            d = self.dirs["memory"]
            for name, key in (("memory.events", "oom_kill"), ("memory.oom_control", "oom_kill")):
                if (d / name).exists() and _event((d / name).read_text(), key) > 0:
                    return "memory"
        return None

    def usage(self) -> tuple[float | None, int | None]:
        """CPU seconds and peak memory (kB) of all the group's processes."""
        cpu = peak = None
        d = self.dirs.get("cpuacct")
        if d is not None and (d / "cpuacct.usage").exists():
            cpu = int((d / "cpuacct.usage").read_text()) / 1e9
        d = self.dirs.get("memory")
        if d is not None:
            for name in ("memory.max_usage_in_bytes", "memory.peak"):
                if (d / name).exists():
                    peak = int((d / name).read_text()) // 1024
            if (d / "cpu.stat").exists():
                cpu = _event((d / "cpu.stat").read_text(), "usage_usec") / 1e6
        return cpu, peak

    def kill(self) -> None:
        for d in set(self.dirs.values()):
            try:
                pids = (d / "cgroup.procs").read_text().split()
            except OSError:
                continue
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(pid), signal.SIGKILL)

    def remove(self) -> None:
        for d in set(self.dirs.values()):
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    self.kill()
                    time.sleep(0.02)


def _event(text: str, key: str) -> int:
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key:
            return int(parts[1])
    return 0


def _cgroup(limits: Limits) -> _Cgroup | None:
    try:
        group = _Cgroup(f"job-{os.getpid()}-{uuid.uuid4().hex[:8]}", limits)
    except OSError:
        return None
    if not group.dirs:
        return None
    return group


def _user_processes() -> int:
    uid = os.getuid()
    n = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    n += 1
            except OSError:
                continue
    return n


def _system_mounts() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        p = Path(top)
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), top]
        elif p.is_dir():
            args += ["--ro-bind", top, top]
    for f in ("/etc/ld.so.cache", "/etc/localtime"):
        if Path(f).exists():
            args += ["--ro-bind", f, f]
    return args


def command(
    argv: list[str],
    *,
    workspace: Path | None,
    outputs: Path,
    job_dir: Path,
    status_dir: Path,
) -> list[str]:
    """The bubblewrap command line running ``argv`` (inside paths) in the sandbox."""
    roots, package = python_mounts()
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/.matplotlib",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "FIVESAFES_OUTPUTS": "/outputs",
        "FIVESAFES_STATUS": "/status/status.json",
    }
    args = [
        bwrap(),
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--cap-drop",
        "ALL",
        "--hostname",
        "sandbox",
        *_system_mounts(),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
    ]
    for root in roots:
        args += ["--ro-bind", str(root), str(root)]
    if package is not None:
        args += ["--ro-bind", str(package), "/opt/fivesafes"]
        env["PYTHONPATH"] = "/opt/fivesafes"
    args += ["--ro-bind", str(job_dir), "/job", "--bind", str(status_dir), "/status"]
    if workspace is not None:
        inside = f"/workspace/{workspace.name}"
        args += ["--ro-bind", str(workspace), inside]
        env["FIVESAFES_WORKSPACE"] = inside
    args += ["--bind", str(outputs), "/outputs", "--remount-ro", "/", "--chdir", "/tmp"]
    for k, v in env.items():
        args += ["--setenv", k, v]
    return [*args, "--", *argv]


def _preexec(limits: Limits, group: _Cgroup | None) -> Callable[[], None]:
    nproc = None
    if (group is None or "pids" not in group.dirs) and os.getuid() != 0:
        nproc = _user_processes() + limits.processes

    def setup() -> None:
        if group is not None:
            group.join()
        cpu = limits.cpu_seconds
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
        size = limits.output_mb * 2**20
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if group is None or "memory" not in group.dirs:
            memory = limits.memory_mb * 2**20
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        if nproc is not None:
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))

    return setup


def can_limit_processes(group: _Cgroup | None) -> bool:
    return (group is not None and "pids" in group.dirs) or os.getuid() != 0


def _size(folder: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(folder):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                continue
    return total


def run_in_sandbox(
    kind: str,
    script_name: str,
    script: bytes,
    *,
    workspace: Path | None,
    outputs: Path,
    limits: Limits | None = None,
    study: str | None = None,
    keep_going: Callable[[], bool] | None = None,
    heartbeat_every: float = 10.0,
) -> SandboxResult:
    """Run a job's script (``kind`` ``script``) or study (``study``: its name, the
    script its file) in the sandbox with ``outputs`` (an empty folder) as its outputs.
    ``keep_going()`` is asked every ``heartbeat_every`` seconds; ``False`` stops the
    job (cancelled). Raises :class:`SandboxError` when the sandbox cannot be set up."""
    limits = limits or Limits.from_env()
    if workspace is not None and not workspace.is_file():
        raise FivesafesError(f"no workspace file {workspace}")
    outputs.mkdir(parents=True, exist_ok=True)
    work = outputs.parent / f".job-{uuid.uuid4().hex}"
    job_dir, status_dir = work / "job", work / "status"
    job_dir.mkdir(parents=True)
    status_dir.mkdir()
    group = _cgroup(limits)
    try:
        if not can_limit_processes(group):
            raise SandboxError(
                "the runner runs as root but cannot make a control group to limit a job's "
                "processes (/sys/fs/cgroup is not writable); no job is run"
            )
        if kind == "study":
            (job_dir / "studies").mkdir()
            (job_dir / "studies" / script_name).write_bytes(script)
            argv = ["python", "-m", "fivesafes.sandbox.entry", "study", str(study), "/job/studies"]
        else:
            (job_dir / script_name).write_bytes(script)
            argv = ["python", "-m", "fivesafes.sandbox.entry", "script", f"/job/{script_name}"]
        python = Path(sys.executable)
        argv[0] = str(python)
        cmd = command(
            argv, workspace=workspace, outputs=outputs, job_dir=job_dir, status_dir=status_dir
        )
        return _watch(
            cmd, limits, group, work / "log", outputs, status_dir, keep_going, heartbeat_every
        )
    finally:
        if group is not None:
            group.kill()
            group.remove()
        shutil.rmtree(work, ignore_errors=True)


def _watch(
    cmd: list[str],
    limits: Limits,
    group: _Cgroup | None,
    log_path: Path,
    outputs: Path,
    status_dir: Path,
    keep_going: Callable[[], bool] | None,
    heartbeat_every: float,
) -> SandboxResult:
    t0 = time.monotonic()
    limit: str | None = None
    cancelled = False
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_preexec(limits, group),
            env={"PATH": "/usr/bin:/bin"},
        )
        rusage = None
        status = 0
        last_beat = t0
        output_bytes = limits.output_mb * 2**20

        def stop() -> None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            if group is not None:
                group.kill()

        while True:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            now = time.monotonic()
            if limit is None and not cancelled:
                if now - t0 > limits.wall_seconds:
                    limit = "wall"
                elif group is not None and (hit := group.hit()) is not None:
                    limit = hit
                elif _size(outputs) > output_bytes:
                    limit = "output"
                elif keep_going is not None and now - last_beat >= heartbeat_every:
                    last_beat = now
                    cancelled = not keep_going()
                if limit is not None or cancelled:
                    stop()
            time.sleep(POLL)
        proc.returncode = os.waitstatus_to_exitcode(status)
    duration = time.monotonic() - t0
    if limit is None and group is not None:
        limit = group.hit()
    code = proc.returncode
    error = None
    status_file = status_dir / "status.json"
    if status_file.is_file():
        try:
            error = json.loads(status_file.read_text()[:10_000]).get("error")
        except (ValueError, AttributeError):
            error = {"type": "unknown", "file": None, "line": None}
        if not isinstance(error, dict):
            error = None
        else:
            error = {k: error.get(k) for k in ("type", "file", "line")}
    if limit is None:
        limit = _limit_from_exit(code, error, outputs, limits)
    log_bytes = log_path.read_bytes()[-LOG_BYTES:] if log_path.exists() else b""
    assert rusage is not None
    cpu, peak = group.usage() if group is not None else (None, None)
    files = sorted(p for p in outputs.rglob("*") if p.is_file() and not p.is_symlink())
    return SandboxResult(
        exit_code=code,
        limit=limit,
        error=error if code else None,
        duration=duration,
        cpu_seconds=cpu if cpu is not None else rusage.ru_utime + rusage.ru_stime,
        max_rss_kb=peak if peak is not None else int(rusage.ru_maxrss),
        log=log_bytes,
        cancelled=cancelled,
        outputs=files,
    )


def _limit_from_exit(
    code: int | None, error: dict[str, Any] | None, outputs: Path, limits: Limits
) -> str | None:
    """A limit read off how the job ended, where no watcher saw it."""
    if code in (-signal.SIGXCPU, 128 + signal.SIGXCPU):
        return "cpu"
    if code in (-signal.SIGXFSZ, 128 + signal.SIGXFSZ):
        return "output"
    kind = (error or {}).get("type")
    if kind == "MemoryError":
        return "memory"
    size = limits.output_mb * 2**20
    if kind == "OSError" and any(
        p.stat().st_size >= size for p in outputs.rglob("*") if p.is_file()
    ):
        return "output"
    if code in (-signal.SIGKILL, 128 + signal.SIGKILL):
        return "cpu" if kind is None else None
    return None


def self_test() -> None:
    """Run an empty job in the sandbox; raise :class:`SandboxError` saying why if it
    cannot run (bubblewrap missing, namespaces refused, no process limit)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="fivesafes-selftest-") as tmp:
        out = Path(tmp) / "outputs"
        result = run_in_sandbox(
            "script",
            "selftest.py",
            b"import os\nassert not os.path.exists('/etc/passwd')\n",
            workspace=None,
            outputs=out,
            limits=Limits(wall_seconds=60),
        )
        if result.exit_code != 0:
            tail = result.log.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise SandboxError(
                "the sandbox cannot be set up here (bubblewrap failed: "
                + (" / ".join(tail) or f"exit {result.exit_code}")
                + "); no job is run"
            )
