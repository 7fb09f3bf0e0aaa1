"""What the API server does to requests that trigger our DAGs (an ASGI middleware the plugin
installs), where a DAG's own definition cannot reach:

- **import runs named after their file.** Airflow makes a manual run's id from the time alone
  (a timetable never sees the conf). A request that triggers the import DAG with a `file` and no
  run id of its own gets `manual__<time>__<file>`, as the landing scan's runs are
  `scan__<time>__<file>`, so the run list says which file each run was for.
- **no unlock without confirm and a reason.** The form's schema cannot require a ticked switch
  in Airflow 3.3: a default that fails the schema (`const: true`, `enum: [true]`) reaches the form
  as empty, and the form then never lets the run be triggered at all. So the switch stays a plain
  boolean and the trigger request itself is refused (HTTP 400, the form shows the message) when
  `confirm` is not ticked or the reason is blank. The unlock task checks again.

Every other request passes through untouched.
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
UNCONFIRMED = "tick Confirm to unlock the importer (the cause is fixed and imports may load again)"
NO_REASON = "give the reason for the unlock: what was wrong and what you did about it"


def file_run_id(kind: str, path: str, stamp: str) -> str:
    """`<kind>__<stamp>__<path with anything but letters, digits, _ . - as _>` (Airflow's run id
    characters; at most 250 long)."""
    return f"{kind}__{stamp}__{_UNSAFE.sub('_', path)[:180]}"


def _parse(body: bytes) -> dict[str, Any] | None:
    try:
        request = json.loads(body or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None  # Airflow answers it with its own error
    return request if isinstance(request, dict) else None


def name_manual_run(body: bytes, now: datetime | None = None) -> bytes:
    """The import trigger request's body, with a run id naming the file when it has none."""
    request = _parse(body)
    if request is None or request.get("dag_run_id") or not isinstance(request.get("conf"), dict):
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


def unlock_refusal(body: bytes) -> str | None:
    """Why an unlock trigger request must be refused; None when it may go ahead."""
    request = _parse(body)
    if request is None:
        return None
    conf = request.get("conf") if isinstance(request.get("conf"), dict) else {}
    if conf.get("confirm") is not True:
        return UNCONFIRMED
    if not isinstance(conf.get("reason"), str) or not conf["reason"].strip():
        return NO_REASON
    return None


class TriggerRequests:
    """ASGI middleware: see the module docstring."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.import_path = f"/api/v2/dags/{settings.IMPORT_DAG_ID}/dagRuns"
        self.unlock_path = f"/api/v2/dags/{settings.UNLOCK_DAG_ID}/dagRuns"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" and scope["method"] == "POST" else ""
        if not path.endswith((self.import_path, self.unlock_path)):
            await self.app(scope, receive, send)
            return
        body, complete = await _read_body(receive)
        if not complete:  # the client went away
            await self.app(scope, _replay({"type": "http.disconnect"}, receive), send)
            return
        if path.endswith(self.unlock_path) and (refusal := unlock_refusal(body)):
            await _send_json(send, 400, {"detail": refusal})
            return
        if path.endswith(self.import_path):
            body = name_manual_run(body)
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await self.app(dict(scope, headers=headers),
                       _replay({"type": "http.request", "body": body, "more_body": False}, receive), send)


async def _read_body(receive: Any) -> tuple[bytes, bool]:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"", False
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks), True


def _replay(first: dict[str, Any], receive: Any) -> Any:
    pending = [first]

    async def replay() -> dict[str, Any]:
        return pending.pop() if pending else await receive()

    return replay


async def _send_json(send: Any, status: int, content: dict[str, Any]) -> None:
    body = json.dumps(content).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
