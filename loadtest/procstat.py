"""CPU time of running processes, read from Linux's ``/proc``.

Example::

    before, machine = cpu_seconds(server.pid), busy_seconds()
    ...  # load the server
    server_cores = (cpu_seconds(server.pid) - before) / elapsed_seconds
    machine_cores = (busy_seconds() - machine) / elapsed_seconds  # every process, this one's load and others'
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["available", "busy_seconds", "cpu_seconds"]

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
