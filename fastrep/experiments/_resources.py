"""What this machine offers a sweep: shared by the planner (``plan``) and the runner (``runner``),
which imports the planner, so neither reaches into the other."""

from __future__ import annotations

import os


def cores() -> int:
    """The cores this process may run on (its CPU affinity; the CPU count where the OS does
    not tell)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
