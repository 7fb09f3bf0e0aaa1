"""How much memory a step of the import took: its peak resident set size, logged when it ends.

A worker runs each task in a process of its own, so a task's peak is what sizes the worker. To
report it per step also where one process runs several steps (`airflow dags test`, the tests),
the process's peak is reset when a step starts (Linux: `/proc/self/clear_refs`); the memory the
process already held then (Airflow, the imported libraries, what an earlier step left to the
allocator) is logged beside it. Where procfs is missing the step runs unmeasured.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass

log = logging.getLogger(__name__)

_STATUS = "/proc/self/status"
_CLEAR_REFS = "/proc/self/clear_refs"
_RESET_PEAK = "5"  # proc(5): reset the peak resident set size to the current one
# the line each measured step logs, as `make bench` reads it back from a task's log
PEAK_LINE = re.compile(r"peak memory of (\w+): (\d+) MiB \((\d+) MiB when it started\)")


def _status_kib(field: str) -> int | None:
    try:
        with open(_STATUS, encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _reset_peak() -> bool:
    try:
        with open(_CLEAR_REFS, "w", encoding="ascii") as clear:
            clear.write(_RESET_PEAK)
    except OSError:
        return False
    return True


@dataclass
class Usage:
    """What `measured` saw: MiB resident when the step started and at its peak (None: unmeasured)."""

    start_mib: int | None = None
    peak_mib: int | None = None


@contextlib.contextmanager
def measured(step: str) -> Iterator[Usage]:
    """Run a step; when it ends (also by an error), log `peak memory of STEP: N MiB (M MiB when it started)`.

    Also a decorator (`@measured("load")`), measuring each call. What earlier steps freed is given
    back to the system first (`release_memory`), so that a step is not charged for it."""
    usage = Usage()
    release_memory(collect=True)
    start_kib = _status_kib("VmRSS")
    reset = _reset_peak()
    try:
        yield usage
    finally:
        peak_kib = _status_kib("VmHWM")
        if start_kib is not None and peak_kib is not None:
            usage.start_mib, usage.peak_mib = start_kib // 1024, peak_kib // 1024
            log.info("peak memory of %s: %d MiB (%d MiB when it started)%s", step, usage.peak_mib,
                     usage.start_mib, "" if reset else " — the process's peak so far: it could not be reset")


def use_jemalloc() -> None:
    """pyarrow's allocations (pandas' strings, the reader's tables) from jemalloc, where pyarrow's
    build has it: it hands freed memory back as it goes, where the default mimalloc keeps it, so a
    1M-row check peaks ~60 MiB (5%) lower, no slower. `ARROW_DEFAULT_MEMORY_POOL`, if set, wins."""
    import os

    import pyarrow as pa

    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    with contextlib.suppress(NotImplementedError):  # a pyarrow built without jemalloc
        pa.set_memory_pool(pa.jemalloc_memory_pool())


def release_memory(*, collect: bool = False) -> None:
    """Give freed memory back to the system: pyarrow's pool (jemalloc or mimalloc) and the C heap keep what
    was freed for their own reuse, where pandas' other allocations cannot use it, and a step's
    peak grows by it. `collect`: first free what only reference cycles still hold (an earlier
    task's checked frame, in one process running several tasks; ~0.15 s with GX loaded)."""
    import ctypes
    import gc

    import pyarrow as pa

    if collect:
        gc.collect()
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):  # glibc only
        ctypes.CDLL("libc.so.6").malloc_trim(0)
