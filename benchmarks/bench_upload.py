"""An upload checked while others write (issue 14, finding 12): a large children
looked after return sent to ``POST /collections`` of a running ``fivesafes serve``,
while another user saves their profile in a loop.

Reported: the return's size; how long its upload and check took; the server's peak
resident memory (VmHWM from /proc) before and after it, and the growth as a
multiple of the file; and the latency of the other user's writes while the return
was being checked (the median and the worst): with writes taking turns for the
whole request they waited for the check.

    .venv/bin/python benchmarks/bench_upload.py --rows 500000      # about 50 MB
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from bench_collections import big_return
from bench_web_load import server
from machine_info import machine

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _vm(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {key} for process {pid}")


async def _login(client: httpx.AsyncClient, email: str, password: str) -> None:
    page = await client.get("/login")
    found = CSRF.search(page.text)
    assert found is not None
    answer = await client.post(
        "/login", data={"csrf_token": found.group(1), "email": email, "password": password}
    )
    if answer.status_code != 303:
        raise RuntimeError(f"log-in of {email} failed: {answer.status_code}")


async def _token(client: httpx.AsyncClient, path: str) -> str:
    found = CSRF.search((await client.get(path)).text)
    assert found is not None
    return found.group(1)


async def run(base: str, users: dict[str, dict[str, str]], path: Path, year: int) -> dict:
    owner, other = users["data_owner"], users["researcher"]
    async with (
        httpx.AsyncClient(base_url=base, timeout=600) as uploader,
        httpx.AsyncClient(base_url=base, timeout=600) as writer,
    ):
        await _login(uploader, owner["email"], owner["password"])
        await _login(writer, other["email"], other["password"])
        token = await _token(uploader, "/collections")
        done = asyncio.Event()
        latencies: list[float] = []

        async def write_loop() -> None:
            n = 0
            while not done.is_set():
                n += 1
                csrf = await _token(writer, "/profile")
                start = time.perf_counter()
                answer = await writer.post(
                    "/profile",
                    data={
                        "csrf_token": csrf,
                        "display_name": other.get("name", "Researcher"),
                        "email": other["email"],
                        "organisation": "Upload bench",
                        "research_interests": f"write {n}",
                    },
                )
                latencies.append(time.perf_counter() - start)
                if answer.status_code != 303:
                    raise RuntimeError(f"profile save: {answer.status_code}")
                await asyncio.sleep(0.05)

        loop = asyncio.create_task(write_loop())
        await asyncio.sleep(1.0)  # a few writes before, as a baseline
        before = len(latencies)
        start = time.perf_counter()
        with path.open("rb") as fh:
            answer = await uploader.post(
                "/collections",
                data={"csrf_token": token, "collection": "cla_episodes", "year": str(year)},
                files={"file": (path.name, fh, "text/csv")},
            )
        took = time.perf_counter() - start
        done.set()
        await loop
    during = sorted(latencies[before:]) or [float("nan")]
    return {
        "status": answer.status_code,
        "location": answer.headers.get("location", ""),
        "seconds": took,
        "writes_during": len(during),
        "write_p50_ms": during[len(during) // 2] * 1000,
        "write_max_ms": during[-1] * 1000,
        "write_alone_ms": sorted(latencies[:before])[before // 2] * 1000 if before else 0,
    }


def main() -> None:
    from fivesafes.demo.site import seed_demo

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=500_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="fivesafes-upload-bench-"))
    try:
        path = folder / "return.csv"
        big_return(args.rows, path)
        size = path.stat().st_size
        url = f"sqlite:///{folder / 'fivesafes.db'}"
        users = {u["name"]: u for u in seed_demo(url)}
        with server(url, folder) as base:
            pid = int(
                next(
                    p
                    for p in Path("/proc").iterdir()
                    if p.name.isdigit()
                    and f"--port\0{base.rsplit(':', 1)[1]}".encode() in (p / "cmdline").read_bytes()
                ).name
            )
            idle = _vm(pid, "VmHWM")
            result = asyncio.run(run(base, users, path, 2022))
            peak = _vm(pid, "VmHWM")
        print(f"\nMachine: {machine()}\n")
        print(
            f"Return: {args.rows:,} rows, {size / 2**20:.1f} MiB; answer {result['status']} "
            f"({result['location']}) after {result['seconds']:.1f} s.\n"
            f"Server peak memory: {idle / 2**20:.0f} MiB before, {peak / 2**20:.0f} MiB after "
            f"(+{(peak - idle) / 2**20:.0f} MiB, {(peak - idle) / size:.1f}x the file).\n"
            f"Another user's writes: {result['write_alone_ms']:.0f} ms alone (median); while "
            f"the return was checked, {result['writes_during']} writes, median "
            f"{result['write_p50_ms']:.0f} ms, worst {result['write_max_ms']:.0f} ms."
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
