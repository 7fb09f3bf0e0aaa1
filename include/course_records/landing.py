"""The landing root (local, S3 or SFTP) through Airflow's ObjectStoragePath.

Layout beneath the root (contract):

    course/<external_course_id>/*.csv   course-level importer
    global/*.csv                        global (legacy) importer
    archive/YYYY/MM/DD/<batch>-<name>   loaded files
    quarantine/<batch>-<name>           rejected files
    reports/<batch>/                    summary.json, rejects.csv, validation.json

The root is one URL: `file:///srv/landing`, `s3://<conn_id>@bucket/prefix` or
`sftp://<conn_id>@host/path`, where `<conn_id>` names the Airflow connection that holds the
credentials (the S3 endpoint, or the SFTP host, port, login and key come from it).

Nothing is ever deleted. Local disks and SFTP servers rename a file in one step. Object stores
have no rename: a move there is copy, verify the copy, then delete; if the delete fails, the
leftover original is the same bytes as the archived copy, which the sha256 ledger then skips.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import ObjectStoragePath

from include.course_records import settings
from include.course_records.errors import UsageError
from include.course_records.target import check_path, is_in_progress

log = logging.getLogger(__name__)

# Stores whose server renames a file in one atomic step.
_RENAMING = frozenset({"file", "local", "sftp", "ssh"})
_LOCAL = frozenset({"file", "local"})
_SFTP = frozenset({"sftp", "ssh"})
# Object stores: no directories (a key's "folders" exist once the key does) and no rename.
# mkdir there is not harmless: s3fs creates the *bucket* when it is missing, so a typo in the
# landing Variable would quietly make a new bucket instead of failing.
_OBJECT_STORES = frozenset({"s3", "s3a", "s3n", "gs", "gcs", "abfs", "abfss", "az", "adl"})
_CHUNK = 1 << 20

# Where each store keeps a file's modification time in its listing, and in what form:
# local `mtime` (float seconds), SFTP `mtime` (datetime), S3 `LastModified` (datetime),
# GCS `updated` (ISO string), Azure `last_modified` (datetime).
_MTIME_KEYS = ("mtime", "LastModified", "last_modified", "updated")


def landing_root(url: str | None = None) -> ObjectStoragePath:
    """The landing root for a URL (default: the Variable's environment value, else data/landing)."""
    return ObjectStoragePath(settings.landing_url(url))


def list_landed(root: ObjectStoragePath) -> list[tuple[str, int, float]]:
    """Finished-looking CSV files under course/*/ and global/: (path under the root, size, mtime).

    mtime is seconds since the epoch on every store (0.0 when the store gives none).
    """
    fs = root.fs
    base = _fs_path(root)
    _forget_listings(root)
    found: list[tuple[str, int, float]] = []
    # depth: how many folders below the root a landing file sits (course/<id>/f.csv, global/f.csv)
    for folder, depth in ((settings.COURSE_DIR, 2), (settings.GLOBAL_DIR, 1)):
        listing: dict[str, dict[str, Any]] = fs.find(f"{base}/{folder}", maxdepth=depth, withdirs=False, detail=True)
        for name, info in listing.items():
            rel = _relative_to(base, name)
            if rel is None or rel.count("/") != depth or info.get("type") != "file":
                continue  # deeper, shallower, or an S3 "folder" marker: not a landing file
            try:
                check_path(rel)
            except UsageError:
                if not is_in_progress(rel.rsplit("/", 1)[-1]):
                    log.warning("ignoring %s: not a landing file name", rel)
                continue
            found.append((rel, int(info.get("size") or 0), modified_time(info)))
    return sorted(found)


def modified_time(info: dict[str, Any]) -> float:
    """A listing entry's modification time in seconds since the epoch, whatever the store calls it."""
    for key in _MTIME_KEYS:
        value = info.get(key)
        if isinstance(value, datetime):
            # naive datetimes come from stores that speak UTC
            return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                continue
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    return 0.0


def read_bytes(root: ObjectStoragePath, path: str) -> bytes:
    """The landed file's bytes; UsageError when it is not (or no longer) there."""
    source = root / path
    _forget_listings(root)
    try:
        return source.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path!r} is not in the landing folder {url_of(root)} (was it moved already?)") from None


@contextlib.contextmanager
def local_file(root: ObjectStoragePath, path: str) -> Iterator[str]:
    """The landed file as a local path, to be read as a stream (a large file is never held whole):
    the file itself on a local root, else a temporary copy, streamed down and deleted after.
    UsageError when it is not (or no longer) there."""
    source = root / path
    _forget_listings(root)
    try:
        if source.protocol in _LOCAL:
            if not source.exists():
                raise FileNotFoundError(path)
            yield _fs_path(source)
            return
        with tempfile.TemporaryDirectory(prefix="course-records-") as folder:
            copy = os.path.join(folder, path.rsplit("/", 1)[-1] or "landed.csv")
            with source.fs.open(_fs_path(source), "rb") as reader, open(copy, "wb") as writer:
                while block := reader.read(_CHUNK * 8):
                    writer.write(block)
            yield copy
    except FileNotFoundError:
        raise UsageError(f"{path!r} is not in the landing folder {url_of(root)} (was it moved already?)") from None


def exists(root: ObjectStoragePath, path: str) -> bool:
    _forget_listings(root)
    return (root / path).exists()


def archive_path(path: str, batch: str, when: datetime) -> str:
    return f"{settings.ARCHIVE_DIR}/{when:%Y/%m/%d}/{batch}-{path.rsplit('/', 1)[-1]}"


def quarantine_path(path: str, batch: str) -> str:
    return f"{settings.QUARANTINE_DIR}/{batch}-{path.rsplit('/', 1)[-1]}"


def move(root: ObjectStoragePath, source: str, destination: str) -> str:
    """Move a landing file within the root; returns the destination's URL.

    Never loses the file: a rename where the store has one, else copy → verify → delete. If the
    copy does not match, the original stays and OSError is raised. If only the delete fails, the
    file is safe at the destination and a duplicate stays in landing (logged, not raised).
    """
    src, dst = root / source, root / destination
    _forget_listings(root)
    _make_parents(dst)
    if root.protocol in _RENAMING and _rename(src, dst):
        log.info("moved %s → %s", source, destination)
        return url_of(dst)
    _copy(src, dst)
    _verify_copy(src, dst, source, destination)
    try:
        src.fs.rm_file(_fs_path(src))
    except Exception as exc:  # noqa: BLE001 - the verified copy is safe; a leftover is only a duplicate
        log.warning("copied %s → %s but could not delete the original (%s: %s): it stays in landing as a "
                    "duplicate; its next run finds its sha256 already loaded (F06) or rejects it again",
                    source, destination, exc.__class__.__name__, exc)
    else:
        log.info("moved %s → %s (copied, verified, deleted)", source, destination)
    return url_of(dst)


def report_dir(root: ObjectStoragePath, batch: str) -> ObjectStoragePath:
    return root / settings.REPORTS_DIR / batch


def write_report_file(directory: ObjectStoragePath, name: str, content: bytes) -> str:
    """Write one report file (summary.json, rejects.csv, …) into a report folder; returns its URL."""
    target = directory / name
    _make_parents(target)
    target.write_bytes(content)
    return url_of(target)


def url_of(path: ObjectStoragePath) -> str:
    """The path as a URL in the landing Variable's form (`sftp://conn@host/…`, `s3://conn@bucket/…`)."""
    host = path.storage_options.get("host")
    if path.protocol in _SFTP and path.conn_id and host:
        # ObjectStoragePath's own str() drops the SFTP host
        return f"{path.protocol}://{path.conn_id}@{host}{_fs_path(path)}"
    return str(path)


# --- store differences ------------------------------------------------------------------------

def _fs_path(path: ObjectStoragePath) -> str:
    """The path as the store's filesystem names it: /abs/path (local, SFTP), bucket/key (S3)."""
    return path.path.rstrip("/") or "/"


def _relative_to(base: str, name: str) -> str | None:
    # Path.relative_to() is not implemented for remote paths (fsspec paths have no cwd)
    prefix = base.rstrip("/") + "/"
    return name[len(prefix):] if name.startswith(prefix) else None


def _forget_listings(root: ObjectStoragePath) -> None:
    """Drop cached directory listings: an uploader may have changed the store since we last looked.

    s3fs keeps listings for the life of the process (and under `dag.test()` every task shares
    one), so a stale listing could hide a new file or give an old size to a replaced one.
    """
    root.fs.invalidate_cache()


def _make_parents(path: ObjectStoragePath) -> None:
    if path.protocol not in _OBJECT_STORES:
        path.parent.mkdir(parents=True, exist_ok=True)


def _rename(src: ObjectStoragePath, dst: ObjectStoragePath) -> bool:
    """Rename on the server in one step; False when this store can't, so the caller copies instead."""
    if src.protocol not in _SFTP:
        src.fs.mv(_fs_path(src), _fs_path(dst))
        return True
    return _sftp_rename(src.fs, _fs_path(src), _fs_path(dst))


def _sftp_rename(fs: Any, src: str, dst: str) -> bool:
    """SFTP's own RENAME request, which every server implements and which never overwrites.

    Not `fs.mv()`: when a server lacks the posix-rename extension, sshfs falls back to a shell
    `cp` (impossible on SFTP-only accounts) and deletes the source whether or not the copy worked.
    """
    from fsspec.asyn import sync
    from sshfs.utils import wrap_exceptions

    pool = getattr(fs, "_pool", None)  # sshfs's SFTP channel pool: internal, so check it is there
    if pool is None:
        return False

    @wrap_exceptions  # SFTP errors → FileNotFoundError, PermissionError, FileExistsError
    async def rename() -> None:
        async with pool.get() as channel:
            await channel.rename(src, dst)

    sync(fs.loop, rename)
    return True


def _copy(src: ObjectStoragePath, dst: ObjectStoragePath) -> None:
    if src.protocol in _OBJECT_STORES:
        src.fs.copy(_fs_path(src), _fs_path(dst))  # server-side (S3 CopyObject): the bytes don't travel
        return
    # the store's own files, not ObjectStoragePath.open(), which records lineage on every read()
    with src.fs.open(_fs_path(src), "rb") as reader, dst.fs.open(_fs_path(dst), "wb") as writer:
        while chunk := reader.read(_CHUNK):
            writer.write(chunk)


def _verify_copy(src: ObjectStoragePath, dst: ObjectStoragePath, source: str, destination: str) -> None:
    """Both sides read back byte for byte (size and sha256) before the original may go."""
    _forget_listings(dst)
    expected, actual = _fingerprint(src), _fingerprint(dst)
    if expected == actual:
        return
    try:  # a wrong copy is not the file: leave no second, different version in archive/quarantine
        dst.fs.rm_file(_fs_path(dst))
    except Exception as exc:  # noqa: BLE001 - the original is kept either way
        log.warning("could not remove the bad copy %s: %s", destination, exc)
    raise OSError(f"copying {source} to {destination} gave different bytes ({actual[0]} bytes, sha256 "
                  f"{actual[1][:12]}… instead of {expected[0]} bytes, {expected[1][:12]}…): {source} stays in landing")


def _fingerprint(path: ObjectStoragePath) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with path.fs.open(_fs_path(path), "rb") as reader:
        while chunk := reader.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
