"""The import tasks' own helpers."""

from __future__ import annotations

from datetime import UTC, datetime

from include.course_records.pipeline import new_batch_id


def test_batch_ids_sort_in_creation_order_even_within_one_microsecond():
    ids = [new_batch_id() for _ in range(5000)]  # many fall in the same microsecond

    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_a_batch_id_reads_as_its_time():
    assert new_batch_id(datetime(2026, 11, 29, 10, 15, 0, 123456, tzinfo=UTC)).startswith("20261129T101500.123456Z-")
