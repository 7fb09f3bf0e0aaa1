"""Which importer a landing file goes through, from its path under the landing root."""

from __future__ import annotations

import re
from dataclasses import dataclass

from include.course_records import settings
from include.course_records.errors import UsageError

_SAFE_COURSE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_SAFE_NAME = re.compile(r"^[^/\\\x00-\x1f\x7f-\x9f]{1,200}$")
_IN_PROGRESS = (re.compile(r"^\."), re.compile(r"^~\$"), re.compile(r"\.(part|tmp|crdownload|filepart)$", re.I))


@dataclass(frozen=True)
class Target:
    """Which importer a file goes through, and (course-level) into which course."""

    path: str  # relative to the landing root, e.g. course/CARD-101/may.csv
    importer: str  # "course" or "global"
    course: str | None

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


def is_in_progress(name: str) -> bool:
    """Names that editors and uploaders use while a file is still being written."""
    return any(pattern.search(name) for pattern in _IN_PROGRESS)


def check_path(path: str) -> tuple[str, str | None]:
    """The importer and course a landing path implies; refuses anything outside the layout."""
    parts = path.split("/")
    bad = (
        not path or path.startswith("/") or "\\" in path or any(p in ("", ".", "..") for p in parts)
        or not all(_SAFE_NAME.match(p) for p in parts)
    )
    if not bad and len(parts) == 3 and parts[0] == settings.COURSE_DIR and _SAFE_COURSE.match(parts[1]):
        importer, course = "course", parts[1]
    elif not bad and len(parts) == 2 and parts[0] == settings.GLOBAL_DIR:
        importer, course = "global", None
    else:
        raise UsageError(
            f"{path!r} is not a landing file: use course/<external_course_id>/<name>.csv "
            "or global/<name>.csv, relative to the landing root, without '..'"
        )
    if not parts[-1].lower().endswith(".csv") or is_in_progress(parts[-1]):
        raise UsageError(f"{path!r} is not a finished .csv file")
    return importer, course


def resolve_target(path: str, importer: str | None = None, course: str | None = None) -> Target:
    """The landing path decides; parameters may repeat it but never contradict it."""
    implied_importer, implied_course = check_path(path)
    if importer and importer != implied_importer:
        raise UsageError(
            f"importer={importer!r} contradicts the landing path {path!r}, which is for the "
            f"{implied_importer} importer: move the file or drop the importer parameter"
        )
    if course and implied_importer == "global":
        raise UsageError(f"course={course!r} makes no sense for the global importer ({path!r})")
    if course and course != implied_course:
        raise UsageError(
            f"course={course!r} contradicts the landing path {path!r} (course {implied_course!r})"
        )
    return Target(path=path, importer=implied_importer, course=implied_course)


