"""The default number of torch CPU threads: the cores that are idle when a run starts.

On a CPU shared with other jobs, every OpenMP parallel region of a multi-threaded run waits at
its barrier for its slowest thread; when another process holds one of the cores, that thread
gets a time slice only now and then, and a training step of many small kernels becomes many
times slower than with one thread (measured in benchmarks/README.md, "Threads on a shared
CPU": 131 s with 1 thread against 1,057 s with 2 on a 2-core machine at load 24-28).  So the
default is the number of cores idle at the start, measured over :data:`SAMPLE_SECONDS` from
``/proc/stat`` (Linux; elsewhere ``cpus - load average``), rounded, at least 1 and at most the
CPUs this process may use::

    threads = clamp(round(cpus_allowed x idle share of all CPUs), 1, cpus_allowed)

An idle 2-core machine gets 2 threads, a machine with one core taken gets 1.  ``--threads N``
overrides it, and so does an ``OMP_NUM_THREADS`` set in the environment (an explicit choice,
e.g. a cluster's or CI's); the number used is recorded in ``config.json`` (``threads_used``).
The command line also sets ``OMP_WAIT_POLICY=PASSIVE`` before torch loads (unless set), so a
thread that loses its core later in the run does not make the others spin.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

SAMPLE_SECONDS = 0.25
"""How long the CPU counters are sampled to measure the idle share."""


def cpus_allowed() -> int:
    """CPUs this process may run on (its affinity mask; ``os.cpu_count()`` where unknown)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _cpu_times() -> tuple[int, int] | None:
    """``(idle, total)`` jiffies of all CPUs from ``/proc/stat`` (``None`` where unreadable)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        values = [int(x) for x in fields[1:9]]  # user nice system idle iowait irq softirq steal
    except (OSError, ValueError, IndexError):
        return None
    return values[3] + values[4], sum(values)


def idle_share(sample_seconds: float = SAMPLE_SECONDS) -> float | None:
    """The share of CPU time that was idle over ``sample_seconds`` (``None`` where unknown)."""
    first = _cpu_times()
    if first is None:
        return None
    time.sleep(sample_seconds)
    second = _cpu_times()
    if second is None or second[1] <= first[1]:
        return None
    return (second[0] - first[0]) / (second[1] - first[1])


def default_threads() -> int:
    """Threads for a run that did not ask for a number (module docstring)."""
    explicit = os.environ.get("OMP_NUM_THREADS", "")
    if explicit.strip().isdigit() and int(explicit) >= 1:
        return int(explicit)
    cpus = cpus_allowed()
    share = idle_share()
    if share is not None:
        idle = cpus * share
    else:
        try:
            idle = cpus - os.getloadavg()[0]
        except (AttributeError, OSError):
            idle = float(cpus)
    return max(1, min(cpus, int(idle + 0.5)))
