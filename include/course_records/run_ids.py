"""Import run ids that name their file: `scan__<ts>__<path>` (the landing scan) and
`manual__<ts>__<path>` (a run triggered from the UI or the REST API), so the run list says which
file each run was for.

Airflow makes a manual run's id before the run exists, from the time alone (a timetable never
sees the conf). `ManualRunIds` is an ASGI middleware that the plugin installs in the API server:
a request that triggers the import DAG with a `file` in its conf and no run id of its own gets
one naming the file. Everything else passes through untouched.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from include.course_records import settings
from include.course_records.errors import UsageError
from include.course_records.target import check_path

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_TRIGGER_PATH = f"/api/v2/dags/{settings.IMPORT_DAG_ID}/dagRuns"


def file_run_id(kind: str, path: str, stamp: str) -> str:
    """`<kind>__<stamp>__<path with anything but letters, digits, _ . - as _>` (Airflow's run id
    characters; at most 250 long)."""
    return f"{kind}__{stamp}__{_UNSAFE.sub('_', path)[:180]}"


def name_manual_run(body: bytes, now: datetime | None = None) -> bytes:
    """The trigger request's body, with a run id naming the file when it has none of its own."""
    try:
        request = json.loads(body or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return body  # Airflow answers it with its own error
    if not isinstance(request, dict) or request.get("dag_run_id") or not isinstance(request.get("conf"), dict):
        return body
    path = request["conf"].get("file")
    if not isinstance(path, str):
        return body
    try:
        check_path(path.strip())
    except UsageError:
        return body  # the run will fail with the message that says what is wrong with the path
    stamp = f"{(now or datetime.now(UTC)):%Y%m%dT%H%M%S}"
    request["dag_run_id"] = file_run_id("manual", path.strip(), stamp)
    return json.dumps(request).encode()


class ManualRunIds:
    """ASGI middleware: names manual import runs after their file (see the module docstring)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].endswith(_TRIGGER_PATH):
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message], receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = name_manual_run(b"".join(chunks))
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await self.app(dict(scope, headers=headers),
                       _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)


def _replay(messages: list[dict[str, Any]], receive: Any) -> Any:
    pending = list(messages)

    async def replay() -> dict[str, Any]:
        return pending.pop(0) if pending else await receive()

    return replay
