"""Each step's peak memory is its own, also when one process runs several steps."""

import logging
import sys

import pytest

from include.course_records.resources import PEAK_LINE, measured

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peak memory is read from procfs")

MiB = 2**20


def test_a_small_step_after_a_large_one_reports_its_own_peak(caplog):
    caplog.set_level(logging.INFO, logger="include.course_records.resources")
    with measured("large") as large:
        block = b"x" * (300 * MiB)  # written, so resident
        del block
    with measured("small") as small:
        block = b"x" * MiB
        del block

    assert large.peak_mib - large.start_mib >= 290
    assert small.peak_mib - small.start_mib < 100, "the second step must not inherit the first one's peak"
    logged = [r.getMessage() for r in caplog.records]
    read_back = [PEAK_LINE.search(m).groups() for m in logged if PEAK_LINE.search(m)]  # as make bench reads it
    assert ("large", str(large.peak_mib), str(large.start_mib)) in read_back, logged
    assert ("small", str(small.peak_mib), str(small.start_mib)) in read_back, logged


def test_a_step_that_fails_is_measured_too(caplog):
    caplog.set_level(logging.INFO, logger="include.course_records.resources")
    with pytest.raises(ValueError), measured("failing") as usage:
        raise ValueError("boom")
    assert usage.peak_mib is not None and usage.peak_mib >= usage.start_mib
    assert any(r.getMessage().startswith("peak memory of failing: ") for r in caplog.records)


def test_arrow_buffers_come_from_jemalloc_and_a_freed_table_is_given_back():
    import os
    import subprocess

    probe = """
import pyarrow as pa
from include.course_records import reader  # sets the pool
from include.course_records.resources import release_memory
table = pa.array(["x" * 50] * 4_000_000)  # ~200 MiB of arrow buffers
before = pa.default_memory_pool().bytes_allocated()
del table
release_memory()
print(pa.default_memory_pool().backend_name, before // 2**20, pa.default_memory_pool().bytes_allocated())
"""
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True).stdout
    backend, allocated_mib, left = out.split()
    assert backend == "jemalloc" and int(allocated_mib) >= 190 and int(left) == 0


def test_a_step_does_not_start_with_what_only_reference_cycles_still_hold():
    import gc

    gc.disable()  # only the step's own collection may free it
    try:
        with measured("first") as first:
            cycle = {"block": b"x" * (300 * MiB)}
            cycle["self"] = cycle
            del cycle  # unreachable, but not freed: the cycle holds it
        with measured("next") as step:
            pass
    finally:
        gc.enable()
    assert first.start_mib is not None and step.start_mib is not None
    assert step.start_mib - first.start_mib < 150, "the next step started with the first one's garbage"
    assert first.peak_mib - first.start_mib >= 290
