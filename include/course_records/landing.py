"""The landing root (local, S3 or SFTP) through Airflow's ObjectStoragePath.

Layout beneath the root (DESIGN §6):

    course/<external_course_id>/*.csv   course-level importer
    global/*.csv                        global (legacy) importer
    archive/YYYY/MM/DD/<batch>-<name>   loaded files
    quarantine/<batch>-<name>           rejected files
    reports/<batch>/                    summary.json, rejects.csv, validation.json

Nothing is ever deleted: a move on an object store is copy-then-delete, and if the delete
fails the leftover copy is the same bytes, which the sha256 ledger then skips.
"""

from __future__ import annotations

import logging
from datetime import datetime

from airflow.sdk import ObjectStoragePath

from include.course_records import settings
from include.course_records.errors import UsageError
from include.course_records.target import check_path, is_in_progress

log = logging.getLogger(__name__)

def landing_root(url: str | None = None) -> ObjectStoragePath:
    return ObjectStoragePath(settings.landing_url(url))


def list_landed(root: ObjectStoragePath) -> list[tuple[str, int, float]]:
    """Finished-looking CSV files under course/*/ and global/: (path, size, mtime)."""
    found: list[tuple[str, int, float]] = []
    patterns = (f"{settings.COURSE_DIR}/*/*", f"{settings.GLOBAL_DIR}/*")
    for pattern in patterns:
        for entry in root.glob(pattern):
            rel = str(entry.relative_to(root)) if entry.is_file() else None
            if rel is None:
                continue
            try:
                check_path(rel)
            except UsageError:
                if not is_in_progress(entry.name):
                    log.warning("ignoring %s: not a landing file name", rel)
                continue
            info = entry.stat()
            found.append((rel, int(info.st_size), float(getattr(info, "st_mtime", 0) or 0)))
    return sorted(found)


def read_bytes(root: ObjectStoragePath, path: str) -> bytes:
    source = root / path
    if not source.exists():
        raise UsageError(f"{path!r} is not in the landing folder {root} (was it moved already?)")
    return source.read_bytes()


def exists(root: ObjectStoragePath, path: str) -> bool:
    return (root / path).exists()


def archive_path(path: str, batch: str, when: datetime) -> str:
    return f"{settings.ARCHIVE_DIR}/{when:%Y/%m/%d}/{batch}-{path.rsplit('/', 1)[-1]}"


def quarantine_path(path: str, batch: str) -> str:
    return f"{settings.QUARANTINE_DIR}/{batch}-{path.rsplit('/', 1)[-1]}"


def move(root: ObjectStoragePath, source: str, destination: str) -> str:
    """Move a landing file within the root; returns the destination URL."""
    src, dst = root / source, root / destination
    dst.parent.mkdir(parents=True, exist_ok=True)
    src.move(dst)
    log.info("moved %s → %s", source, destination)
    return str(dst)


def report_dir(root: ObjectStoragePath, batch: str) -> ObjectStoragePath:
    return root / settings.REPORTS_DIR / batch


def write_report_file(directory: ObjectStoragePath, name: str, content: bytes) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    target.write_bytes(content)
    return str(target)
