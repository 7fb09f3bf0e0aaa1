"""A headless Chromium driven over the DevTools protocol, for tests that act as a person would:
sign in, follow links, read what the page shows, take screenshots.

Only the standard library and `websockets` (already installed with uvicorn). Chromium runs
offline: host names do not resolve, so a page can only reach the loopback servers the test
started.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("COURSE_RECORDS_TEST_ARTIFACTS") or REPO / "test-artifacts")
WAIT_SECONDS = 90.0  # how long a page may take to show what the test waits for (then it fails)


def chromium_binary() -> str:
    """Chromium's path; a missing browser fails the test (CI installs it), it never skips it."""
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if not found:
        pytest.fail("headless Chromium is needed for the browser tests: install the Debian package "
                    "(apt-get update && apt-get install -y chromium); CI's .ci/run does", pytrace=False)
    return found


class Chromium:
    def __init__(self, profile: Path, width: int = 1440, height: int = 1000) -> None:
        profile.mkdir(parents=True, exist_ok=True)
        (profile / "DevToolsActivePort").unlink(missing_ok=True)  # a previous browser's port
        self.log = (profile / "chromium.log").open("w")
        self.process = subprocess.Popen(
            [chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", f"--user-data-dir={profile}",
             f"--window-size={width},{height}", "--remote-debugging-port=0", "about:blank"],
            # its own process group: /usr/bin/chromium is a wrapper script, and the browser and its
            # helpers must all stop with the test
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        port = self._devtools_port(profile)
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        page = next(t for t in targets if t["type"] == "page")
        self.socket = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        self.ids = itertools.count(1)
        self.call("Page.enable")
        self.call("Runtime.enable")

    def _devtools_port(self, profile: Path) -> int:
        marker = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if marker.exists() and marker.read_text().strip():
                return int(marker.read_text().splitlines()[0])
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"Chromium did not start (see {self.log.name})")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        message_id = next(self.ids)
        self.socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=WAIT_SECONDS))
            if message.get("id") == message_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'")

    def wait_for(self, expression: str, what: str | None = None) -> Any:
        """Poll the page until the expression is truthy; its value. Fails, saying what, after WAIT_SECONDS."""
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            try:  # a DOM node does not cross the protocol as a value: it counts as found
                value = self.evaluate(f"(v => v && typeof v === 'object' && 'nodeType' in v ? true : v)({expression})")
            except AssertionError:  # the page is between two documents
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                self.screenshot("timed-out.png")
                raise AssertionError(f"the page never showed {what or expression} (at {self.evaluate('location.href')})")
            time.sleep(0.2)

    def type_into(self, selector: str, text: str) -> None:
        self.wait_for(f"document.querySelector({json.dumps(selector)})", selector)
        self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        self.call("Input.insertText", text=text)

    def click(self, selector: str) -> None:
        self.wait_for(f"document.querySelector({json.dumps(selector)})", selector)
        self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")

    def text(self, selector: str = "body") -> str:
        return " ".join((self.evaluate(f"document.querySelector({json.dumps(selector)})?.innerText ?? ''")).split())

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / name
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        return path

    def close(self) -> None:
        try:
            self.socket.close()
        finally:
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.process.wait(10)
            self.log.close()

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(self.process.pid, signum)  # the group this browser was started in, nothing else
