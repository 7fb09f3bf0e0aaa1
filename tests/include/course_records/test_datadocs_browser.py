"""Data Docs as a person sees them: headless Chromium, offline, with a screenshot of each page.

Chromium (Debian package `chromium`; CI's .ci/run installs it) opens the published pages from
disk with every host name unresolvable, and its network log shows what the pages asked for: a
page that needed the internet would show up there and look broken here. The DOM it builds, not
the HTML written, is what the assertions read. Screenshots go to test-artifacts/datadocs/ (or
$COURSE_RECORDS_TEST_ARTIFACTS/datadocs/) for a person to look at after the run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from include.course_records import datadocs
from tests.conftest import REPO
from tests.include.course_records.test_datadocs import (
    HOSTILE_FILE,
    HOSTILE_NAME,
    IMG,
    REJECTED_FILE,
    SCRIPT,
    TRAILING_SPACE_FILE,
    check_row,
    checked,
    described,
    expectation,
    run_of,
    text_of,
)

pytestmark = pytest.mark.browser

ARTEFACTS = Path(os.environ.get("COURSE_RECORDS_TEST_ARTIFACTS") or REPO / "test-artifacts") / "datadocs"


def chromium_binary() -> str:
    """Chromium's path; a missing browser fails the test (CI installs it), it never skips it."""
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if not found:
        pytest.fail("headless Chromium is needed for the Data Docs browser tests: install the Debian package "
                    "(apt-get update && apt-get install -y chromium); CI's .ci/run does", pytrace=False)
    return found


class Seen:
    """One page as Chromium showed it: the DOM after loading, what it fetched, a screenshot."""

    def __init__(self, page: Path, profile: Path, screenshot: str) -> None:
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        self.screenshot = ARTEFACTS / f"{screenshot}.png"
        net_log = profile.with_name(profile.name + "-net.json")
        done = subprocess.run(
            [chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}", f"--log-net-log={net_log}",
             "--window-size=1280,1600", "--hide-scrollbars", f"--screenshot={self.screenshot}", "--dump-dom",
             page.as_uri()],
            capture_output=True, text=True, timeout=120, check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert "</html>" in done.stdout, done.stderr[-3000:]
        assert self.screenshot.stat().st_size > 0
        self.dom = BeautifulSoup(done.stdout, "html.parser")
        self.fetched = _fetched_by_pages(json.loads(net_log.read_text()))


def _fetched_by_pages(net_log: dict) -> set[str]:
    """The URLs that pages opened from disk asked for (the browser's own update and sign-in
    requests are not theirs: their network isolation key is not a file:// one)."""
    kinds = {number: name for name, number in net_log["constants"]["logEventTypes"].items()}
    return {event["params"]["url"] for event in net_log["events"]
            if kinds.get(event["type"]) == "URL_REQUEST_START_JOB"
            and str(event.get("params", {}).get("network_isolation_key", "")).startswith("file://")}


@pytest.fixture
def site(conn, tmp_path) -> Path:
    """A published site with a rejected run, a run with hostile values, a header with a trailing space."""
    root = tmp_path / "site"
    for batch, name, text in (("b-rejected", "bad.csv", REJECTED_FILE), ("b-hostile", HOSTILE_NAME, HOSTILE_FILE),
                              ("b-space", "space.csv", TRAILING_SPACE_FILE)):
        datadocs.publish(root.as_uri(), run_of(checked(conn, name, text), batch))
    return root


def test_browser_index_lists_the_rejected_run_offline_and_leads_to_its_page(site, tmp_path):
    index = Seen(site / "index.html", tmp_path / "profile", "index")

    assert index.fetched == set(), "the index loads nothing: styles are in the page, and it has no script"
    rows = [row for row in index.dom.select("table.runs tbody tr") if "b-rejected" in text_of(row)]
    assert len(rows) == 1, "the index lists the rejected run"
    [row] = rows
    assert text_of(row.select_one(".badge")) == "Rejected" and "failed" in row["class"]
    assert [text_of(td) for td in row.select("td")][2:] == ["course-level · CARD-101", "Rejected", "2", "1", "1", "0"]
    link = row.select_one("a")
    assert text_of(link) == "course/CARD-101/bad.csv"

    run = Seen((site / link["href"]).resolve(), tmp_path / "profile", "run-rejected")

    assert run.fetched == set()
    assert text_of(run.dom.select_one("h1")) == "Rejected course/CARD-101/bad.csv"


def test_browser_shows_the_failed_check_with_its_rule_message_and_fix(site, tmp_path):
    seen = Seen(site / "runs" / "b-rejected.html", tmp_path / "profile", "run-failed-check")

    r04 = expectation("R04", "complete")["meta"]
    row = check_row(seen.dom, described("R04", "complete"))
    assert text_of(row.select_one(".badge")) == "✘ Failed" and row["class"] == ["failed"]
    assert text_of(row).startswith(f"✘ Failed R04 · complete: {r04['message']}")
    assert f"Fix: {r04['fix']}" in text_of(row)
    assert text_of(row.select("td")[3]) == "1 row(s): line 3 Value Rows yes 1"
    [finding] = seen.dom.select("table.findings tbody tr")
    assert [text_of(td) for td in finding.select("td")][:4] == ["3", "complete", "R04", "error"]
    assert r04["message"] in text_of(finding)
    passed = [r for r in seen.dom.select("table.checks > tbody > tr") if "passed" in r["class"]]
    assert passed and all(text_of(r.select_one(".badge")) == "✔ Passed" for r in passed)


def test_browser_shows_hostile_values_as_text_and_runs_none_of_them(site, tmp_path):
    run = Seen(site / "runs" / "b-hostile.html", tmp_path / "profile", "run-hostile")
    index = Seen(site / "index.html", tmp_path / "profile", "index-hostile")

    for seen in (run, index):
        assert not seen.dom.select("script, img, iframe, object"), f"{seen.screenshot.name}: a value became an element"
        assert "pwned" not in text_of(seen.dom.select_one("title")), f"{seen.screenshot.name}: a file value ran"
        assert f"course/CARD-101/{HOSTILE_NAME}" in text_of(seen.dom.select_one("body")), "the file name, as text"
    assert SCRIPT in text_of(run.dom) and IMG in text_of(run.dom)


def test_browser_shows_the_trailing_space_of_a_header(site, tmp_path):
    seen = Seen(site / "runs" / "b-space.html", tmp_path / "profile", "run-header-space")

    [finding] = seen.dom.select("table.findings tbody tr")
    assert finding.select("td")[1].get_text() == "external_email␣"
    assert finding.select_one(".invisible")["title"] == "space"


def test_browser_network_log_would_catch_a_page_that_needs_the_internet(tmp_path):
    """The offline assertions above can fail: a page asking a CDN for its styles shows up."""
    page = tmp_path / "cdn.html"
    page.write_text('<!DOCTYPE html><html><head><link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/x.css">'
                    "</head><body>styled from elsewhere</body></html>")

    assert Seen(page, tmp_path / "profile", "control-cdn").fetched == {"https://cdn.jsdelivr.net/npm/x.css"}
