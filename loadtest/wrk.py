"""Load driven by ``wrk``: POST bodies rotated over N connections, with latency, status counts and CPU shares.

``wrk`` (a C load generator, Debian package ``wrk``) spends a few microseconds
per request, so on a small machine it leaves the cores to the server under
test; :func:`run_wrk` reports the CPU it used beside the servers', which
shows whether it kept up. Requests come from ``wrk_bodies.lua``: each body is
a file listed in a manifest with its own headers, so JSON and binary bodies
go the same way.

Example::

    manifest = write_manifest(Path("bodies"), [Body(b'{"instances": [{"C1": "a"}]}')])
    result = run_wrk("http://127.0.0.1:8000/predict", manifest, connections=32, seconds=10,
                     watch={"ctrkit": server.pid})
    result["req_per_s"], result["latency_ms"]["p99"], result["cpu_cores"]["wrk"]
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtest import procstat

__all__ = ["Body", "WrkMissing", "find_wrk", "run_wrk", "write_manifest", "wrk_version"]

SCRIPT = Path(__file__).with_name("wrk_bodies.lua")
_MARKER = "CTRKIT_WRK "


class WrkMissing(RuntimeError):
    """``wrk`` is not on the PATH."""


def find_wrk() -> str:
    """The ``wrk`` executable's path; raises :class:`WrkMissing` naming the package to install."""
    path = shutil.which("wrk")
    if path is None:
        raise WrkMissing(
            "wrk, the HTTP load generator the bench drives, is not installed: install the Debian/Ubuntu "
            "package `wrk` (sudo apt-get install wrk; `make bench` does it where apt-get exists), "
            "`brew install wrk` on macOS, or build it from https://github.com/wg/wrk"
        )
    return path


def wrk_version(executable: str) -> str:
    """First line of ``wrk --version`` (``wrk 4.1.0 [epoll] ...``)."""
    run = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=10)
    return (run.stdout or run.stderr).splitlines()[0].strip()


@dataclass(frozen=True)
class Body:
    """One request body and the headers it needs besides ``Content-Type: application/json``."""

    content: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


def write_manifest(directory: Path, bodies: Sequence[Body]) -> Path:
    """Writes each body into ``directory`` and the manifest ``wrk_bodies.lua`` reads; returns the manifest."""
    if not bodies:
        raise ValueError("at least one body is needed")
    directory.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, body in enumerate(bodies):
        path = directory / f"body-{i:03d}"
        path.write_bytes(body.content)
        fields = [str(path.resolve())] + [f"{name}: {value}" for name, value in body.headers.items()]
        if any("\t" in f or "\n" in f for f in fields):
            raise ValueError(f"tabs and newlines cannot appear in body paths or headers: {fields}")
        lines.append("\t".join(fields))
    manifest = directory / "manifest.tsv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def run_wrk(
    url: str,
    manifest: Path,
    *,
    connections: int,
    seconds: int,
    timeout_s: int = 30,
    watch: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Runs ``wrk`` with one thread for ``seconds`` against ``url`` and returns what it measured.

    ``watch`` names processes (name -> pid) whose CPU use during the run is
    reported beside wrk's own, in cores (CPU seconds per second), with the
    whole machine's (``machine``: these processes and any other). Answers
    are counted by status; latency percentiles cover every answer, whatever
    its status; ``req_per_s`` counts 2xx answers only.
    """
    if connections < 1 or seconds < 1 or timeout_s < 1:
        raise ValueError(f"connections, seconds and timeout_s must be at least 1, got {connections}, {seconds}, "
                         f"{timeout_s}")
    command = [find_wrk(), "-t1", f"-c{connections}", f"-d{seconds}s", f"--timeout={timeout_s}s",
               "-s", str(SCRIPT), url, "--", str(manifest.resolve())]
    with procstat.CpuShares("wrk", watch) as shares:
        run = subprocess.run(command, capture_output=True, text=True, timeout=seconds + timeout_s + 60)
    lines = [line for line in run.stdout.splitlines() if line.startswith(_MARKER)]
    if run.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed (status {run.returncode}): {' '.join(command)}\n{run.stdout}\n{run.stderr}")
    raw = json.loads(lines[-1][len(_MARKER):])

    duration = raw["duration_us"] / 1e6
    statuses = {int(k): v for k, v in sorted(raw["statuses"].items(), key=lambda kv: int(kv[0]))}
    non_2xx = sum(n for status, n in statuses.items() if not 200 <= status < 300)
    ok = raw["requests"] - non_2xx
    latency = {f"p{k}": v / 1000 for k, v in raw["latency_us"]["percentiles"].items()}
    latency.update({k: raw["latency_us"][k] / 1000 for k in ("mean", "max")})
    return {
        "connections": connections,
        "seconds": duration,
        "requests": raw["requests"],
        "ok": ok,
        "non_2xx": non_2xx,
        "statuses": statuses,
        "socket_errors": {k: v for k, v in raw["errors"].items() if k != "status"},
        "req_per_s": ok / duration if duration > 0 else 0.0,
        "latency_ms": latency,
        "cpu_cores": shares.cores,
    }
