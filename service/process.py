"""What every server process does before it builds the app, whether it serves alone or as one of several workers.

Logging is set up, a worker is bound to its share of the cores
(``CTR_CPU_AFFINITY``, :func:`worker_cpus`), and TensorFlow's thread pools are
sized from the settings, all before TensorFlow runs anything
(:func:`service.runner.configure_threads`). The model's threads later run at a
lower priority than the event loop (``CTR_MODEL_NICENESS``,
:func:`lower_priority`).
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from service.settings import CpuAffinity, Settings

__all__ = [
    "LOG_FORMAT", "bind_to_cpus", "cpu_quota", "default_workers", "lower_priority", "lower_tensorflow_threads",
    "prepare_process", "usable_cpus", "worker_cpus",
]

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def usable_cpus() -> list[int]:
    """The cores this process may run on (all of them where the platform cannot tell)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def cpu_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The cores' worth of CPU time this process's cgroup may use (a container's CPU limit), None when unlimited.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = (Path(d) / "cpu.max").write_text("150000 100000\\n")
    ...     cpu_quota(Path(d))
    1.5
    """
    try:  # cgroup v2
        quota, _, period = (root / "cpu.max").read_text().partition(" ")
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:  # cgroup v1
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def default_workers() -> int:
    """One worker per core this process may use: its usable cores, fewer under a container's CPU limit."""
    cores = len(usable_cpus())
    quota = cpu_quota()
    return max(1, min(cores, math.ceil(quota))) if quota is not None else cores


def worker_cpus(index: int, workers: int, cpus: Sequence[int]) -> list[int]:
    """The cores worker ``index`` of ``workers`` is bound to: the usable ``cpus`` cut into ``workers``
    contiguous shares as equal as they can be, or one core each, in turn, when workers outnumber cores.

    >>> [worker_cpus(i, 2, [0, 1]) for i in range(2)]
    [[0], [1]]
    >>> [worker_cpus(i, 2, [0, 1, 2, 3, 4]) for i in range(2)]
    [[0, 1, 2], [3, 4]]
    >>> [worker_cpus(i, 3, [4, 6]) for i in range(3)]
    [[4], [6], [4]]
    """
    if workers >= len(cpus):
        return [cpus[index % len(cpus)]]
    share, extra = divmod(len(cpus), workers)
    start = index * share + min(index, extra)
    return list(cpus[start:start + share + (index < extra)])


def _threads() -> list[int]:
    """The native ids of this process's threads (empty where ``/proc`` cannot tell)."""
    try:
        return [int(tid) for tid in os.listdir("/proc/self/task")]
    except OSError:
        return []


def bind_to_cpus(cpus: Sequence[int]) -> None:
    """Binds every thread of this process, and the threads it starts later, to ``cpus``."""
    for tid in _threads() or [0]:
        try:
            os.sched_setaffinity(tid, cpus)
        except ProcessLookupError:  # the thread has ended meanwhile
            pass


def lower_priority(niceness: int, thread: int = 0) -> None:
    """Sets one thread (``thread``: its native id, 0 for the calling one) ``niceness`` steps below the
    process's main thread in scheduling priority (never higher than it is). Linux schedules threads one by
    one; elsewhere this could apply to the whole process, so it is done only on Linux."""
    if niceness <= 0 or not sys.platform.startswith("linux"):
        return
    who = thread or threading.get_native_id()
    try:
        target = min(19, os.getpriority(os.PRIO_PROCESS, os.getpid()) + niceness)
        if os.getpriority(os.PRIO_PROCESS, who) < target:
            os.setpriority(os.PRIO_PROCESS, who, target)
    except OSError as exc:  # the thread has ended, or the platform refuses
        log.debug("cannot lower the priority of thread %d: %s", who, exc)


def lower_tensorflow_threads(niceness: int) -> None:
    """Lowers the priority of TensorFlow's own threads (named ``tf_*``) in this process; threads already lowered
    stay as they are (:func:`lower_priority` never raises one)."""
    if niceness <= 0 or not sys.platform.startswith("linux"):
        return
    for tid in _threads():
        try:
            name = Path(f"/proc/self/task/{tid}/comm").read_text().strip()
        except OSError:  # ended meanwhile
            continue
        if name.startswith("tf_"):
            lower_priority(niceness, tid)


def prepare_process(settings: Settings, log_format: str = LOG_FORMAT, worker_index: int | None = None) -> None:
    """Configures logging, the cores of worker ``worker_index`` (if one of several) and TensorFlow's thread
    pools for this process (once, before TensorFlow runs)."""
    from service.runner import configure_threads

    logging.basicConfig(level=settings.log_level.value.upper(), format=log_format)
    if (worker_index is not None and settings.workers > 1 and settings.cpu_affinity is CpuAffinity.AUTO
            and hasattr(os, "sched_setaffinity")):
        cpus = worker_cpus(worker_index, settings.workers, usable_cpus())
        bind_to_cpus(cpus)
        log.info("worker %d bound to cores %s", worker_index, ",".join(map(str, cpus)))
    configure_threads(settings.tf_intra_op_threads, settings.tf_inter_op_threads)
