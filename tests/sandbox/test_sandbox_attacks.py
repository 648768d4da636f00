"""A job's code as an attacker's: from inside the sandbox, every attempt on what
lies outside its own workspace and outputs fails, each limit stops what goes over
it and says which, and the runner (this test process) carries on.

Each attack script writes ``/outputs/breached`` only if the attack worked; the
test checks that it did not, and, where the secret lies in a file or variable of
the host, that nothing of it reached the job's outputs or log."""

from __future__ import annotations

import os
import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from fivesafes.sandbox import Limits, run_in_sandbox
from fivesafes.sandbox.bwrap import SandboxResult, python_mounts

SECRET = "s3cr3t-identifier-9431"


def _run(
    tmp_path: Path, code: str, limits: Limits | None = None, workspace: Path | None = None
) -> SandboxResult:
    return run_in_sandbox(
        "script",
        "attack.py",
        textwrap.dedent(code).encode(),
        workspace=workspace,
        outputs=tmp_path / "outputs",
        limits=limits or Limits(wall_seconds=60),
    )


@pytest.fixture
def host(tmp_path: Path) -> Iterator[dict[str, Path]]:
    """Files of the TRE beside the job: the identifier zone, another project's
    workspace, the application database; and the job's own workspace."""
    root = tmp_path / "tre"
    files = {
        "identifiers": root / "store" / "identifiers.duckdb",
        "other_workspace": root / "workspaces" / "p002" / "workspace.duckdb",
        "appdb": root / "state" / "fivesafes.db",
        "workspace": root / "workspaces" / "p001" / "workspace.duckdb",
    }
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(SECRET)
    yield files


def _breached(result: SandboxResult, tmp_path: Path) -> bool:
    return (tmp_path / "outputs" / "breached").exists()


def _leaked(result: SandboxResult, tmp_path: Path) -> bool:
    texts = [result.log] + [
        p.read_bytes() for p in (tmp_path / "outputs").rglob("*") if p.is_file()
    ]
    return any(SECRET.encode() in t for t in texts)


@pytest.mark.parametrize("target", ["identifiers", "other_workspace", "appdb"])
def test_files_of_the_tre_outside_the_workspace_cannot_be_read(
    tmp_path: Path, host: dict[str, Path], target: str
) -> None:
    path = host[target]
    result = _run(
        tmp_path,
        f"""
        import os
        for p in [{str(path)!r}, {str(path.parent)!r}]:
            try:
                print(open(p).read() if os.path.isfile(p) else os.listdir(p))
                open('/outputs/breached', 'w').write('read ' + p)
            except OSError:
                pass
        """,
        workspace=host["workspace"],
    )
    assert result.exit_code == 0, result.log
    assert not _breached(result, tmp_path) and not _leaked(result, tmp_path)


def test_host_system_files_are_not_there(tmp_path: Path) -> None:
    # Beside the system's /usr, only the TRE's Python is mounted (read-only): every
    # other folder the job finds must lead to one of its folders, and hold no more.
    roots, package = python_mounts()
    allowed = [str(r) for r in roots] + (["/opt/fivesafes"] if package is not None else [])
    result = _run(
        tmp_path,
        f"""
        import os
        allowed = {allowed!r}
        for p in ['/etc/shadow', '/etc/passwd', '/etc/hostname', '/home', '/var', '/srv']:
            if os.path.exists(p) and (not os.path.isdir(p) or os.listdir(p)):
                open('/outputs/breached', 'a').write(p + '\\n')
        for top in ['/root', '/work', '/opt', '/mnt']:
            for here, dirs, files in os.walk(top):
                inside = any(here == a or here.startswith(a + '/') for a in allowed)
                above = any(a.startswith(here + '/') for a in allowed)
                if not inside and not above:
                    open('/outputs/breached', 'a').write(here + '\\n')
                if inside:
                    dirs.clear()
                elif above and files:
                    open('/outputs/breached', 'a').write(here + ' has files\\n')
        """,
    )
    assert result.exit_code == 0, result.log
    assert not _breached(result, tmp_path), (tmp_path / "outputs" / "breached").read_text()


def test_the_job_reads_its_workspace_but_cannot_change_it(
    tmp_path: Path, host: dict[str, Path]
) -> None:
    result = _run(
        tmp_path,
        """
        import os
        ws = os.environ['FIVESAFES_WORKSPACE']
        open('/outputs/size.txt', 'w').write(str(len(open(ws).read())))
        for p in [ws, '/usr/bin/python3', '/job/attack.py', os.path.dirname(ws) + '/new']:
            try:
                open(p, 'a').write('x')
                open('/outputs/breached', 'a').write(p)
            except OSError:
                pass
        """,
        workspace=host["workspace"],
    )
    assert result.exit_code == 0, result.log
    assert not _breached(result, tmp_path)
    assert (tmp_path / "outputs" / "size.txt").read_text() == str(len(SECRET))
    assert host["workspace"].read_text() == SECRET


def test_no_network_not_even_to_the_host(tmp_path: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    try:
        result = _run(
            tmp_path,
            f"""
            import socket
            for address in [('127.0.0.1', {port}), ('10.0.2.2', 80), ('1.1.1.1', 53),
                            ('pypi.org', 443)]:
                try:
                    socket.create_connection(address, timeout=2).close()
                    open('/outputs/breached', 'a').write(str(address))
                except OSError:
                    pass
            """,
        )
    finally:
        server.close()
    assert result.exit_code == 0, result.log
    assert not _breached(result, tmp_path)


def test_the_hosts_processes_and_environment_are_not_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIVESAFES_SECRET_KEY", SECRET)
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", f"postgresql://tre:{SECRET}@db/tre")
    result = _run(
        tmp_path,
        f"""
        import os
        print(dict(os.environ))
        pids = [int(p) for p in os.listdir('/proc') if p.isdigit()]
        if {os.getpid()} in pids or len(pids) > 3:
            open('/outputs/breached', 'a').write('processes: ' + str(pids))
        for pid in pids:
            try:
                print(open(f'/proc/{{pid}}/environ').read())
            except OSError:
                pass
        """,
    )
    assert result.exit_code == 0, result.log
    assert not _breached(result, tmp_path) and not _leaked(result, tmp_path)


def test_a_fork_bomb_is_stopped_at_the_process_limit(tmp_path: Path) -> None:
    result = _run(
        tmp_path,
        """
        import os, time
        while True:
            try:
                os.fork()
            except OSError:
                time.sleep(0.01)
        """,
        Limits(processes=20, wall_seconds=30),
    )
    assert result.limit == "processes" and not result.succeeded, result


def test_a_memory_hog_is_stopped_at_the_memory_limit(tmp_path: Path) -> None:
    result = _run(
        tmp_path,
        """
        hog = []
        while True:
            hog.append(bytearray(20 * 2**20))
        """,
        Limits(memory_mb=200, wall_seconds=30),
    )
    assert result.limit == "memory" and not result.succeeded, result


def test_an_endless_loop_is_stopped_at_the_cpu_limit(tmp_path: Path) -> None:
    result = _run(tmp_path, "while True:\n    pass\n", Limits(cpu_seconds=1, wall_seconds=30))
    assert result.limit == "cpu" and not result.succeeded, result


def test_a_sleeping_job_is_stopped_at_the_wall_time(tmp_path: Path) -> None:
    result = _run(tmp_path, "import time\ntime.sleep(60)\n", Limits(wall_seconds=1))
    assert result.limit == "wall" and not result.succeeded and result.duration < 10


def test_a_huge_output_is_stopped_at_the_output_limit(tmp_path: Path) -> None:
    result = _run(
        tmp_path,
        """
        with open('/outputs/big.csv', 'wb') as f:
            while True:
                f.write(b'x' * 2**20)
        """,
        Limits(output_mb=5, wall_seconds=30),
    )
    assert result.limit == "output" and not result.succeeded, result
    assert (tmp_path / "outputs" / "big.csv").stat().st_size <= 5 * 2**20


def test_the_error_is_its_type_and_line_never_its_message(tmp_path: Path) -> None:
    result = _run(tmp_path, "rows = {}\n\nprint(rows['a person'])\n")
    assert result.exit_code == 1
    assert result.error == {"type": "KeyError", "file": "attack.py", "line": 3}
    assert "a person" not in str(result.error)
