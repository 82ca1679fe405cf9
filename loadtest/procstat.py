"""CPU time of running processes, read from Linux's ``/proc``, and the cores a load run used.

Example::

    before, machine = cpu_seconds(server.pid), busy_seconds()
    ...  # load the server
    server_cores = (cpu_seconds(server.pid) - before) / elapsed_seconds
    machine_cores = (busy_seconds() - machine) / elapsed_seconds  # every process, this one's load and others'

    with CpuShares("wrk", {"ctrkit": server.pid}) as shares:
        subprocess.run(["wrk", ...])
    shares.cores  # {"wrk": 0.03, "ctrkit": 0.95, "machine": 1.98}
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Mapping
from pathlib import Path

__all__ = ["CpuShares", "available", "busy_seconds", "cpu_seconds"]

_PROC = Path("/proc")


def available() -> bool:
    """Whether process CPU times can be read here (Linux with ``/proc`` mounted)."""
    return (_PROC / "self" / "stat").is_file()


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:  # the process has gone
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses
    return text[text.rindex(")") + 2 :].split()


def _children(pid: int) -> list[int]:
    found = []
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds used so far by ``pid`` (all its threads) and its living descendants."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        fields = _stat_fields(current)
        if fields is None:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        pending += _children(current)
    return total


def busy_seconds() -> float:
    """CPU seconds all cores of the machine have spent busy (not idle nor waiting for I/O) since boot."""
    fields = (_PROC / "stat").read_text().split("\n", 1)[0].split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CpuShares:
    """The cores used while the block runs: by the child program it runs and waits for, named processes, the machine.

    ``cores`` maps ``program`` (the CPU of children that ended meanwhile: the
    load generator, the only one), each name of ``watch`` (name -> pid, with
    its descendants) and ``machine`` (every process) to CPU seconds per second
    of the block. Watched processes and the machine are left out where
    ``/proc`` cannot be read.
    """

    def __init__(self, program: str, watch: Mapping[str, int] | None = None) -> None:
        self.program = program
        self.watch = dict(watch or {}) if available() else {}
        self.cores: dict[str, float] = {}
        self.elapsed = 0.0

    def __enter__(self) -> CpuShares:
        self._before = {name: cpu_seconds(pid) for name, pid in self.watch.items()}
        self._machine = busy_seconds() if available() else None
        self._program = _children_cpu()
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = elapsed = time.perf_counter() - self._started
        self.cores = {self.program: (_children_cpu() - self._program) / elapsed}
        self.cores.update({name: (cpu_seconds(pid) - self._before[name]) / elapsed
                           for name, pid in self.watch.items()})
        if self._machine is not None:
            self.cores["machine"] = (busy_seconds() - self._machine) / elapsed
