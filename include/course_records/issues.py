"""The issue: one finding about a file, with the file's own line number (header = line 1)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

ERROR = "error"
WARNING = "warning"
INFO = "info"  # F06 only: a duplicate file is skipped, which is neither an error nor a warning


@dataclass(frozen=True, slots=True)
class Issue:
    line: int
    column: str | None
    rule: str
    severity: str
    message: str

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR


def quoted(value: object, limit: int = 40) -> str:
    """A value as a person should see it in a message: quoted, invisible characters shown, short."""
    text = "" if value is None else str(value)
    shown = text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return '"' + shown.replace('"', '\\"') + '"'
