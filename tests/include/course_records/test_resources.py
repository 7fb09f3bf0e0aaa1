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
