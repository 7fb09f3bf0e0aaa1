"""landing.py on a local landing root (file://); test_landing_remote.py runs the same on SFTP and S3."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta, timezone

import pytest

from include.course_records import landing
from include.course_records.errors import UsageError
from tests.conftest import drop


@pytest.fixture
def root(landing_dir):
    return landing.landing_root(landing_dir.as_uri())


@pytest.fixture
def landing_dir(tmp_path):
    path = tmp_path / "landing"
    path.mkdir()
    return path


def test_lists_course_and_global_files_with_size_and_mtime(root, landing_dir, caplog):
    course = drop(landing_dir, "course/CARD-101/may.csv", "a,b\n")
    drop(landing_dir, "global/legacy.csv", "abc\n")
    os.utime(course, (1_700_000_000, 1_700_000_000))
    drop(landing_dir, "course/CARD-101/~$may.csv", "editor lock")  # in progress: silent
    drop(landing_dir, "course/CARD-101/.may.csv.swp", "editor swap")  # in progress: silent
    drop(landing_dir, "global/upload.csv.part", "uploading")  # in progress: silent
    drop(landing_dir, "course/CARD-101/readme.txt", "not a csv")  # wrong name: warned
    drop(landing_dir, "course/stray.csv", "no course folder")  # outside the layout
    drop(landing_dir, "course/CARD-101/old/deeper.csv", "too deep")  # outside the layout
    drop(landing_dir, "archive/2026/05/04/b-may.csv", "archived")
    drop(landing_dir, "quarantine/b-bad.csv", "quarantined")
    drop(landing_dir, "reports/b/summary.json", "{}")

    with caplog.at_level(logging.WARNING, logger=landing.__name__):
        landed = landing.list_landed(root)

    assert landed == [("course/CARD-101/may.csv", 4, 1_700_000_000.0),
                      ("global/legacy.csv", 4, pytest.approx((landing_dir / "global/legacy.csv").stat().st_mtime))]
    assert [r.getMessage() for r in caplog.records] == ["ignoring course/CARD-101/readme.txt: not a landing file name"]


def test_an_empty_root_lists_nothing(root):
    assert landing.list_landed(root) == []


@pytest.mark.parametrize(("info", "expected"), [
    ({"mtime": 1_700_000_000.5}, 1_700_000_000.5),  # local disk
    ({"mtime": datetime(2026, 5, 4, 12, 0, tzinfo=UTC)}, datetime(2026, 5, 4, 12, 0, tzinfo=UTC).timestamp()),  # SFTP
    ({"LastModified": datetime(2026, 5, 4, 14, 0, tzinfo=timezone(timedelta(hours=2)))},  # S3
     datetime(2026, 5, 4, 12, 0, tzinfo=UTC).timestamp()),
    ({"updated": "2026-05-04T12:00:00Z"}, datetime(2026, 5, 4, 12, 0, tzinfo=UTC).timestamp()),  # GCS
    ({"mtime": datetime(2026, 5, 4, 12, 0)}, datetime(2026, 5, 4, 12, 0, tzinfo=UTC).timestamp()),  # naive: UTC
    ({"size": 3}, 0.0),  # no time at all: the scan waits a second look before dispatching
])
def test_modified_time_is_epoch_seconds_whatever_the_store_calls_it(info, expected):
    assert landing.modified_time(info) == expected


def test_read_bytes_and_a_missing_file(root, landing_dir):
    drop(landing_dir, "global/legacy.csv", b"\xef\xbb\xbfa,b\n")

    assert landing.read_bytes(root, "global/legacy.csv") == b"\xef\xbb\xbfa,b\n"
    assert landing.exists(root, "global/legacy.csv")
    with pytest.raises(UsageError, match=r"'global/gone.csv' is not in the landing folder file://.*moved already"):
        landing.read_bytes(root, "global/gone.csv")


def test_move_renames_into_new_folders_and_returns_the_url(root, landing_dir):
    drop(landing_dir, "course/CARD-101/may.csv", "a,b\n")
    destination = landing.archive_path("course/CARD-101/may.csv", "20260504T101500Z-a1b2c3",
                                       datetime(2026, 5, 4, tzinfo=UTC))

    moved = landing.move(root, "course/CARD-101/may.csv", destination)

    assert destination == "archive/2026/05/04/20260504T101500Z-a1b2c3-may.csv"
    assert moved == (landing_dir / destination).as_uri()
    assert (landing_dir / destination).read_text() == "a,b\n"
    assert not (landing_dir / "course/CARD-101/may.csv").exists()


def test_quarantine_path_keeps_the_name_after_the_batch():
    assert landing.quarantine_path("global/legacy.csv", "b1") == "quarantine/b1-legacy.csv"


def test_report_files_go_to_reports_batch(root, landing_dir):
    written = landing.write_report_file(landing.report_dir(root, "b1"), "summary.json", b"{}")

    assert written == (landing_dir / "reports/b1/summary.json").as_uri()
    assert (landing_dir / "reports/b1/summary.json").read_bytes() == b"{}"


# --- the object-store move (copy → verify → delete), forced on a local root ---------------------

@pytest.fixture
def no_rename(monkeypatch):
    """Make the local root behave like an object store: no rename, so move() copies."""
    monkeypatch.setattr(landing, "_RENAMING", frozenset())


def test_copying_move_verifies_then_deletes(root, landing_dir, no_rename):
    drop(landing_dir, "global/legacy.csv", "abc\n" * 1000)

    landing.move(root, "global/legacy.csv", "quarantine/b1-legacy.csv")

    assert (landing_dir / "quarantine/b1-legacy.csv").read_text() == "abc\n" * 1000
    assert not (landing_dir / "global/legacy.csv").exists()


def test_a_failed_delete_leaves_a_duplicate_never_a_loss(root, landing_dir, no_rename, monkeypatch, caplog):
    drop(landing_dir, "global/legacy.csv", "abc\n")

    def refuse(path, **kwargs):
        raise PermissionError(path)

    monkeypatch.setattr(root.fs, "rm_file", refuse)
    moved = landing.move(root, "global/legacy.csv", "quarantine/b1-legacy.csv")

    assert moved.endswith("/quarantine/b1-legacy.csv")
    assert (landing_dir / "quarantine/b1-legacy.csv").read_text() == "abc\n"
    assert (landing_dir / "global/legacy.csv").read_text() == "abc\n"
    assert "could not delete the original" in caplog.text


def test_a_copy_that_differs_is_removed_and_the_original_stays(root, landing_dir, no_rename, monkeypatch):
    drop(landing_dir, "global/legacy.csv", "abc\n")

    def truncating_copy(src, dst):
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(b"ab")

    monkeypatch.setattr(landing, "_copy", truncating_copy)
    with pytest.raises(OSError, match=r"gave different bytes \(2 bytes.*global/legacy.csv stays in landing"):
        landing.move(root, "global/legacy.csv", "archive/2026/05/04/b1-legacy.csv")

    assert (landing_dir / "global/legacy.csv").read_text() == "abc\n"
    assert not (landing_dir / "archive/2026/05/04/b1-legacy.csv").exists()


# --- URLs in the Variable's form ---------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "sftp://landing_sftp@sftp.example.org/upload/landing/reports/b1",
    "s3://landing_s3@course-records/landing/reports/b1",
    "file:///srv/landing/reports/b1",
])
def test_url_of_round_trips_the_landing_url(url):
    from airflow.sdk import ObjectStoragePath

    assert landing.url_of(ObjectStoragePath(url)) == url
