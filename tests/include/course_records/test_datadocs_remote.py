"""The Data Docs site on SFTP and S3 (loopback servers these tests start), as a cluster writes it.

No worker shares a disk with another: each publishes through the landing store's connection,
and several publish at once. What landed is read back with clients independent of the code
under test (the server's own disk for SFTP, boto3 for S3).
"""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from bs4 import BeautifulSoup

from include.course_records import datadocs, datadocs_audit, settings
from tests.include.course_records.test_datadocs import HOSTILE_FILE, HOSTILE_NAME, IMG, SCRIPT, checked, run_of
from tests.include.course_records.test_landing_remote import (  # noqa: F401 - fixtures used by name
    RemoteLanding,
    S3Landing,
    SftpLanding,
    s3_server,
    sftp_server,
)

pytestmark = pytest.mark.remote
SITE = "reports/data_docs/"


@pytest.fixture(params=["sftp", "s3"])
def remote(request, monkeypatch) -> RemoteLanding:
    """An empty landing root on the SFTP or S3 server; the site goes beside it, as by default."""
    name = f"landing-{uuid.uuid4().hex[:8]}"
    if request.param == "sftp":
        server = request.getfixturevalue("sftp_server")
        landing: RemoteLanding = SftpLanding(server, server.home / name)
    else:
        landing = S3Landing(request.getfixturevalue("s3_server"), name)
    monkeypatch.setenv(settings.LANDING_ENV, landing.url)
    monkeypatch.delenv(settings.DATA_DOCS_ENV, raising=False)
    return landing


def site_pages(remote: RemoteLanding) -> dict[str, str]:
    return {path.removeprefix(SITE): content.decode("utf-8")
            for path, content in remote.files().items() if path.startswith(SITE) and path.endswith(".html")}


def listed(html: str) -> list[str]:
    return [re.search(r"runs/(.+)\.html$", a["href"]).group(1)
            for a in BeautifulSoup(html, "html.parser").select("table.runs a[href*='runs/']")]


def test_the_site_is_published_into_the_remote_landing_store(remote, conn):
    url = settings.data_docs_url()
    assert url == f"{remote.url}/reports/data_docs"

    published = datadocs.publish(url, run_of(checked(conn, HOSTILE_NAME, HOSTILE_FILE), "b-remote"))

    assert published == f"{url}/runs/b-remote.html"
    pages = site_pages(remote)
    assert set(pages) == {"index.html", "months/2026/11.html", "days/2026/11/29.html", "runs/b-remote.html"}
    assert listed(pages["index.html"]) == ["b-remote"]
    assert f"{SITE}entries/2026/11/29/b-remote.json" in remote.files()
    assert datadocs_audit.leaks(url, [SCRIPT, IMG, HOSTILE_NAME]) == []
    assert datadocs_audit.page_leaks(pages, [SCRIPT, IMG, HOSTILE_NAME]) == []


def test_workers_publishing_at_once_to_s3_lose_no_run(request, conn, monkeypatch):
    remote = S3Landing(request.getfixturevalue("s3_server"), f"landing-{uuid.uuid4().hex[:8]}")
    url = f"{remote.url}/reports/data_docs"
    run = run_of(checked(conn), "template")
    batches = [f"w{worker}-{n}" for worker in range(4) for n in range(4)]

    with ThreadPoolExecutor(max_workers=4) as workers:
        list(workers.map(lambda batch: datadocs.publish(url, dict(run, batch=batch)), batches))

    pages = site_pages(remote)
    assert sorted(listed(pages["days/2026/11/29.html"])) == sorted(batches)
    assert sorted(listed(pages["index.html"])) == sorted(batches)
    assert {name for name in pages if name.startswith("runs/")} == {f"runs/{b}.html" for b in batches}
