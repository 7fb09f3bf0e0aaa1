"""The operator page plugin, through Airflow's own API app (its auth, its plugin loading).

A browser in tests/plugins/test_operator_page_browser.py does the same against a running
`airflow api-server`; these tests cover what a person should never see (other users' access,
unescaped values, files outside the site) without starting one.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from include.course_records import landing as landing_store
from include.course_records import ledger, operations, triggers
from tests.conftest import REPO, drop

PLUGIN_FILE = REPO / "plugins" / "course_record_operations.py"
HOSTILE = "<script>alert('x')</script>"
HOSTILE_NAME = "<img src=x onerror=alert(1)>.csv"  # a file name has no "/"
BATCH = "20261129T101500Z-a1b2c3"


@pytest.fixture(scope="module")
def api(airflow_db):
    """Airflow's API app as `airflow api-server` builds it, with this repository's plugins."""
    from airflow.api_fastapi.app import create_app, purge_cached_app

    app = create_app(apps="core")
    yield app
    purge_cached_app()


def token_for(username: str, role: str | None) -> str:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=username, role=role))


@pytest.fixture
def anonymous(api):
    return TestClient(api, follow_redirects=False)


@pytest.fixture
def signed_in(api):
    client = TestClient(api, follow_redirects=False)
    client.cookies.set("_token", token_for("ops", "viewer"))
    return client


@pytest.fixture
def lock_set(no_lock):
    from airflow.models.variable import Variable

    value = {"file": f"course/CARD-101/{HOSTILE_NAME}", "run_id": f"scan__20261129T101500__{BATCH}",
             "reason": f"loading failed: OperationalError: {HOSTILE}", "time": "2026-11-29T10:15:00+00:00",
             "diagnosis": {"batch": BATCH, "file_discrepancies": [f'line 1, header " {HOSTILE}" has spaces (F02)']}}
    Variable.set("course_record_import_lock", json.dumps(value))
    return value


@pytest.fixture
def batch(conn, landing):
    """One rejected batch as the pipeline leaves it: a ledger entry and its report folder."""
    root = landing_store.landing_root()
    reports = landing_store.report_dir(root, BATCH)
    path = f"course/CARD-101/{HOSTILE_NAME}"
    ledger.open_run(conn, batch=BATCH, file_path=path, sha256="ab" * 32, importer="course", course="CARD-101",
                    run_id="manual__20261129T101500__x", dry_run=False, load_valid_rows=False,
                    report_uri=landing_store.url_of(reports))
    ledger.record_check(conn, BATCH, "rejected", {"total": 2, "valid": 1, "rejected": 1, "skipped_identical": 0})
    ledger.finish(conn, BATCH, archived_uri=landing_store.url_of(root / "quarantine" / f"{BATCH}-x.csv"))
    issue = {"line": 3, "column": "credits", "rule": "R06", "severity": "error",
             "message": f'line 3, credits: "{HOSTILE}" on a record that is not complete (complete=0) — remove the credits (R06)'}
    summary = {"file": path, "sha256": "ab" * 32, "importer": "course", "course": "CARD-101", "status": "rejected",
               "rows": {"total": 2, "valid": 1, "rejected": 1, "skipped_identical": 0}, "issues": [issue],
               "created": {"learners": 0, "courses": 0, "enrollments": 0, "credit_records": 0}}
    landing_store.write_report_file(reports, "summary.json", json.dumps(summary).encode())
    landing_store.write_report_file(reports, "rejects.csv", b"line,column,rule\r\n3,credits,R06\r\n")
    site = landing / "reports" / "data_docs"  # where the runs publish the site by default
    drop(site, "index.html", "<html><body>Data Docs index</body></html>")
    drop(site, f"runs/{BATCH}.html", "<html><body>R06 credits on a record that is not complete</body></html>")
    return summary


def text(response) -> str:
    return " ".join(BeautifulSoup(response.text, "html.parser").get_text(" ", strip=True).split())


# --- the plugin as Airflow loads it ----------------------------------------------------------

def test_plugin_loads_with_its_app_middleware_and_navigation_entries():
    from airflow import plugins_manager
    from airflow.api_fastapi.core_api.datamodels.plugins import PluginResponse

    assert not [source for source in plugins_manager.get_import_errors() if PLUGIN_FILE.name in source]
    [info] = [p for p in plugins_manager.get_plugin_info() if p["name"] == "course_record_operations"]
    response = PluginResponse.model_validate(info)  # what GET /api/v2/plugins checks before the UI sees it

    assert [(a.url_prefix, a.name) for a in response.fastapi_apps] == [("/course-records", "Course record imports")]
    assert [m.name for m in response.fastapi_root_middlewares] == ["Course record trigger requests"]
    [view] = response.external_views
    assert (view.name, view.href, view.url_route, view.destination, view.nav_top_level) == (
        "Course imports", "course-records/", "course-imports", "nav", True)


# --- sign-in and permissions -----------------------------------------------------------------

@pytest.mark.parametrize("path", ["/course-records/", f"/course-records/batches/{BATCH}",
                                  f"/course-records/batches/{BATCH}/summary.json",
                                  f"/course-records/batches/{BATCH}/rejects.csv",
                                  "/course-records/data-docs/index.html", "/course-records/file-format",
                                  "/course-records/assets/ops.js"])
def test_nothing_is_served_to_the_unsigned_in(anonymous, batch, lock_set, path):
    response = anonymous.get(path)

    assert response.status_code == 303
    assert response.headers["location"] == f"/api/v2/auth/login?next={path}"
    assert HOSTILE not in response.text and "R06" not in response.text


def test_a_forged_session_is_refused(anonymous, batch, lock_set):
    anonymous.cookies.set("_token", "not-a-token")

    response = anonymous.get("/course-records/")

    assert response.status_code in (401, 403)
    assert "locked" not in response.text


def test_a_user_without_the_right_to_read_import_runs_is_refused(anonymous, batch, lock_set):
    anonymous.cookies.set("_token", token_for("visitor", None))

    response = anonymous.get(f"/course-records/batches/{BATCH}/summary.json")

    assert response.status_code == 403
    assert "R06" not in response.text


def test_a_bearer_token_works_as_for_the_rest_api(anonymous, batch, lock_set):
    response = anonymous.get(f"/course-records/batches/{BATCH}/summary.json",
                             headers={"Authorization": f"Bearer {token_for('ops', 'viewer')}"})

    assert response.status_code == 200
    assert response.json()["issues"][0]["rule"] == "R06"


# --- what a signed-in operator sees ------------------------------------------------------------

def test_the_page_shows_the_lock_the_waiting_files_and_the_batches_as_text(signed_in, batch, lock_set, landing):
    drop(landing, f"course/CARD-101/{HOSTILE_NAME}", "external_email\n")

    response = signed_in.get("/course-records/")

    assert response.status_code == 200
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    page = BeautifulSoup(response.text, "html.parser")
    assert [s.get("src") for s in page.find_all("script")] == ["./assets/ops.js"]  # nothing from a value ran
    lock = " ".join(page.select_one("#lock").get_text(" ", strip=True).split())
    assert "The importer is locked" in lock
    assert f"loading failed: OperationalError: {HOSTILE}" in lock
    assert f"the import of course/CARD-101/{HOSTILE_NAME}" in lock
    assert "2026-11-29 10:15:00 UTC" in lock
    assert f'line 1, header " {HOSTILE}" has spaces (F02)' in lock
    unlock = page.select_one("#lock a.button")
    assert unlock["href"] == "./../dags/course_record_unlock" and "data-airflow" in unlock.attrs
    [waiting] = page.select("#waiting tbody tr")
    cells = [td.get_text(" ", strip=True) for td in waiting.find_all("td")]
    assert (cells[0], cells[1], cells[3]) == (f"course/CARD-101/{HOSTILE_NAME}", "15 B", "not scanned yet")
    assert page.find("img") is None
    [row] = page.select("#batches tbody tr")
    cells = [td.get_text(" ", strip=True) for td in row.find_all("td")]
    assert cells[1] == f"course/CARD-101/{HOSTILE_NAME}"
    assert cells[3] == "rejected"
    assert cells[4].split() == ["2", "(1", "/", "1", "/", "0)"]
    assert row.find("a", string=BATCH)["href"] == f"./batches/{BATCH}"


def test_the_page_counts_held_records_per_batch_with_the_oldest(signed_in, conn):
    with conn.cursor() as cur:
        cur.execute("""
            INSERT INTO course_import.held_record (import_batch, line, importer, course_key, email, email_key, complete,
                                                   status, held_at)
            VALUES ('B-OLD', 2, 'course', 'CARD-101', 'a@example.org', 'a@example.org', false, 'held', '2026-10-01T08:00Z'),
                   ('B-OLD', 3, 'course', 'CARD-101', 'b@example.org', 'b@example.org', false, 'held', '2026-10-01T08:00Z'),
                   ('B-NEW', 2, 'course', 'CARD-101', 'c@example.org', 'c@example.org', false, 'held', '2026-11-20T08:00Z'),
                   ('B-NEW', 3, 'course', 'CARD-101', 'd@example.org', 'd@example.org', false, 'refused', '2026-11-20T08:00Z')""")
    conn.commit()

    page = BeautifulSoup(signed_in.get("/course-records/").text, "html.parser")

    held = page.select_one("#held")
    assert held.h2.get_text(strip=True) == "Held records (3)"
    assert "1 were refused" in held.get_text(" ", strip=True)
    rows = [[td.get_text(" ", strip=True) for td in tr.find_all("td")] for tr in held.select("tbody tr")]
    assert [(r[0], r[1]) for r in rows] == [("B-OLD", "2"), ("B-NEW", "1")]
    assert rows[0][2].startswith("2026-10-01")


def test_the_batch_page_lists_every_issue_with_its_rule_and_the_reports(signed_in, batch):
    response = signed_in.get(f"/course-records/batches/{BATCH}")

    assert response.status_code == 200
    page = BeautifulSoup(response.text, "html.parser")
    [issue] = page.select("#issues tbody tr")
    cells = [td.get_text(" ", strip=True) for td in issue.find_all("td")]
    assert cells[:4] == ["3", "credits", "R06", "error"]
    assert cells[4] == batch["issues"][0]["message"]
    assert issue.find("a", string="R06")["href"] == "../file-format#R06"
    links = {a.get_text(" ", strip=True): a["href"] for a in page.select("#reports a")}
    assert links["summary.json"] == f"{BATCH}/summary.json"
    assert links["rejects.csv"] == f"{BATCH}/rejects.csv"
    assert links["Data Docs: every check of this run"] == f"../data-docs/runs/{BATCH}.html"
    assert links["File format and rules"] == "../file-format"
    assert page.find_all("script") == page.select('script[src="../assets/ops.js"]')


def test_report_files_are_served_as_data_from_the_landing_store(signed_in, batch):
    summary = signed_in.get(f"/course-records/batches/{BATCH}/summary.json")
    rejects = signed_in.get(f"/course-records/batches/{BATCH}/rejects.csv")

    assert summary.status_code == 200 and summary.json() == batch
    assert summary.headers["content-type"] == "application/json"
    assert summary.headers["content-security-policy"].startswith("sandbox")
    assert summary.headers["x-content-type-options"] == "nosniff"
    assert rejects.content == b"line,column,rule\r\n3,credits,R06\r\n"
    assert rejects.headers["content-disposition"] == f'attachment; filename="{BATCH}-rejects.csv"'
    assert signed_in.get(f"/course-records/batches/{BATCH}/airflow.cfg").status_code == 404
    assert signed_in.get("/course-records/batches/..%2F..%2Fetc/summary.json").status_code == 404


def test_the_data_docs_site_is_served_and_nothing_outside_it(signed_in, batch, landing):
    drop(landing, "reports/secret.txt", "not part of the site")

    index = signed_in.get("/course-records/data-docs/")
    page = signed_in.get(f"/course-records/data-docs/runs/{BATCH}.html")

    assert index.status_code == 200 and "Data Docs index" in index.text
    assert index.headers["content-type"] == "text/html; charset=utf-8"
    assert page.status_code == 200 and "R06" in page.text
    assert signed_in.get("/course-records/data-docs").headers["location"] == "data-docs/"
    for escape in ("../secret.txt", "..%2Fsecret.txt", "%2e%2e/secret.txt", "runs/../../secret.txt"):
        response = signed_in.get(f"/course-records/data-docs/{escape}")
        assert response.status_code == 404, escape
        assert "not part of the site" not in response.text


def test_the_data_docs_site_follows_course_record_data_docs_url(signed_in, batch, tmp_path, monkeypatch):
    drop(tmp_path / "elsewhere", "index.html", "<p>published elsewhere</p>")
    monkeypatch.setenv("COURSE_RECORD_DATA_DOCS_URL", (tmp_path / "elsewhere").as_uri())

    assert "published elsewhere" in signed_in.get("/course-records/data-docs/").text


def test_the_file_format_rules_are_rendered_with_anchors_and_escaped(signed_in, tmp_path, monkeypatch):
    doc = tmp_path / "file-format.md"
    doc.write_text("# The file\n\n## R06 — credits on a record that is not complete\n\nNever "
                   f"{HOSTILE} here.\n\n| rule | fix |\n|---|---|\n| `R07` | <b>fix</b> |\n\n[bad](javascript:alert(1))\n")
    monkeypatch.setattr(operations, "FILE_FORMAT_DOC", doc)

    response = signed_in.get("/course-records/file-format")

    assert response.status_code == 200
    page = BeautifulSoup(response.text, "html.parser")
    assert page.select_one("h2#R06").get_text() == "R06 — credits on a record that is not complete"
    assert page.select_one("tr#R07") is not None
    assert f"Never {HOSTILE} here." in text(response)
    assert page.find("b") is None and not page.select('a[href^="javascript"]')
    assert [s.get("src") for s in page.find_all("script")] == ["./assets/ops.js"]


def test_every_rule_of_the_real_rules_document_has_one_anchor(signed_in):
    page = BeautifulSoup(signed_in.get("/course-records/file-format").text, "html.parser")

    ids = [element["id"] for element in page.select("article [id]")]
    assert len(ids) == len(set(ids))
    table_rules = {row.find("td").get_text(strip=True) for row in page.select("article table tbody tr")}
    rules = {rule for rule in table_rules if re.fullmatch(r"[FRW]\d\d", rule)}
    assert {"F01", "R06", "W05"} <= rules
    for rule in rules:
        assert page.select_one(f"article #{rule}") is not None, rule
    heading = page.select_one("article #R06")
    assert heading.name == "h4" and "credits" in heading.find_next_sibling().get_text()
    assert "<!--" not in page.select_one("article").get_text()  # the document's editing markers


def test_a_missing_batch_or_page_is_a_plain_not_found(signed_in, conn):
    response = signed_in.get("/course-records/batches/20990101T000000Z-000000")

    assert response.status_code == 404
    assert "no batch '20990101T000000Z-000000'" in text(response)


# --- run ids that name the file ------------------------------------------------------------------

def test_a_manual_import_run_is_named_after_its_file(api, dags_in_db):
    client = TestClient(api, headers={"Authorization": f"Bearer {token_for('ops', 'admin')}"})

    named = client.post("/api/v2/dags/course_record_import/dagRuns",
                        json={"logical_date": None, "conf": {"file": "course/CARD-101/may 2026 (v2).csv"}})
    chosen = client.post("/api/v2/dags/course_record_import/dagRuns",
                         json={"logical_date": None, "dag_run_id": "my-own-id", "conf": {"file": "global/a.csv"}})

    assert named.status_code == 200, named.text
    assert re.fullmatch(r"manual__\d{8}T\d{6}__course_CARD-101_may_2026_v2_.csv", named.json()["dag_run_id"])
    assert named.json()["run_type"] == "manual"
    assert named.json()["conf"]["file"] == "course/CARD-101/may 2026 (v2).csv"
    assert chosen.json()["dag_run_id"] == "my-own-id"


def test_the_forms_refuse_what_would_fail(api, dags_in_db):
    client = TestClient(api, headers={"Authorization": f"Bearer {token_for('ops', 'admin')}"})

    def unlock(conf):
        return client.post("/api/v2/dags/course_record_unlock/dagRuns", json={"logical_date": None, "conf": conf})

    def unlock_runs() -> set[str]:
        return {r["dag_run_id"] for r in client.get("/api/v2/dags/course_record_unlock/dagRuns?limit=1000").json()["dag_runs"]}

    before = unlock_runs()
    unticked = unlock({"reason": "fixed the file", "confirm": False})
    untouched = unlock({"reason": "fixed the file"})
    blank = unlock({"reason": "  \n ", "confirm": True})
    no_file = client.post("/api/v2/dags/course_record_import/dagRuns", json={"logical_date": None, "conf": {}})
    ticked = unlock({"reason": "fixed the file\nand re-dropped it", "confirm": True})

    assert (unticked.status_code, unticked.json()) == (400, {"detail": triggers.UNCONFIRMED})
    assert (untouched.status_code, untouched.json()) == (400, {"detail": triggers.UNCONFIRMED})
    assert (blank.status_code, blank.json()) == (400, {"detail": triggers.NO_REASON})
    assert no_file.status_code == 400 and "file" in no_file.text
    assert ticked.status_code == 200, ticked.text
    assert ticked.json()["conf"] == {"reason": "fixed the file\nand re-dropped it", "confirm": True}
    assert unlock_runs() - before == {ticked.json()["dag_run_id"]}  # the refused ones never started


@pytest.mark.parametrize(("body", "named"), [
    ({"conf": {"file": "global/legacy.csv"}}, True),
    ({"conf": {"file": "course/CARD-101/../../etc/passwd"}}, False),  # refused by the run, with its message
    ({"conf": {"file": 7}}, False),
    ({"conf": {}}, False),
    ({"dag_run_id": "chosen", "conf": {"file": "global/legacy.csv"}}, False),
    ([], False),
])
def test_name_manual_run_only_names_runs_of_a_landing_file(body, named):
    raw = json.dumps(body).encode()

    result = triggers.name_manual_run(raw, now=datetime(2026, 11, 29, 10, 15, tzinfo=UTC))

    if named:
        assert json.loads(result)["dag_run_id"] == "manual__20261129T101500__global_legacy.csv"
    else:
        assert result == raw
    assert triggers.name_manual_run(b"{not json") == b"{not json"


@pytest.mark.parametrize(("conf", "refusal"), [
    ({"reason": "fixed", "confirm": True}, None),
    ({"reason": "fixed", "confirm": False}, triggers.UNCONFIRMED),
    ({"reason": "fixed", "confirm": "true"}, triggers.UNCONFIRMED),  # ticked means the JSON true
    ({"reason": "fixed"}, triggers.UNCONFIRMED),
    ({"reason": " ", "confirm": True}, triggers.NO_REASON),
    ({"reason": None, "confirm": True}, triggers.NO_REASON),
    ({}, triggers.UNCONFIRMED),
])
def test_unlock_refusal(conf, refusal):
    assert triggers.unlock_refusal(json.dumps({"logical_date": None, "conf": conf}).encode()) == refusal
