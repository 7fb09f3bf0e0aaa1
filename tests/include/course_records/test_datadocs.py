"""Data Docs: the site the data team reads, built from real validations on the real LMS database.

Pages are read as HTML here (BeautifulSoup); test_datadocs_browser.py opens them in Chromium.
"""

from __future__ import annotations

import json
import multiprocessing
import posixpath
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bs4 import BeautifulSoup

from include.course_records import datadocs, datadocs_audit, datadocs_text, settings
from include.course_records.check import REJECTED, CheckResult, check_file
from include.course_records.rulebook import PRECAUTIONS
from include.course_records.target import resolve_target
from tests.conftest import drop

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
HEADER = ("external_email,first_name,last_name,enrollment_start,complete,date_completed,credits,credit_type,"
          "participant_category\n")
GOOD_ROW = "ann@example.org,Ann,Lee,2026-05-04,1,2026-05-05,2.00,ama_pra_1,physician\n"
REJECTED_FILE = HEADER + GOOD_ROW + "grace@example.org,Grace,Hopper,2026-05-04,yes,2026-05-05,2.00,ama_pra_1,physician\n"  # R04
SCRIPT = "<script>document.title='pwned'</script>"
IMG = "<img src=x onerror=\"document.title='pwned'\">"
HOSTILE_NAME = "<img src=x onerror=alert(3)>.csv"
HOSTILE_FILE = (HEADER + GOOD_ROW
                + f'grace@example.org,Grace,Hopper,2026-05-04,{SCRIPT},2026-05-05,2.00,ama_pra_1,"{IMG.replace(chr(34), chr(34) * 2)}"\n')
TRAILING_SPACE_FILE = HEADER.replace("external_email,", "external_email ,") + GOOD_ROW  # F02


def checked(conn, name: str = "bad.csv", text: str = REJECTED_FILE, course: str = "CARD-101") -> CheckResult:
    return check_file(text.encode(), resolve_target(f"course/{course}/{name}"), conn, now=NOW)


def run_of(result: CheckResult, batch: str, when: datetime = NOW) -> dict:
    """The run as the import DAG leaves it in validation.json (a JSON round trip)."""
    run = datadocs.payload(result, batch=batch, file=result.target.path, run_time=when.isoformat())
    return json.loads(json.dumps(run))


def page(site: Path, relative: str) -> BeautifulSoup:
    return BeautifulSoup((site / relative).read_text(encoding="utf-8"), "html.parser")


def text_of(node) -> str:
    return " ".join(node.get_text(" ", strip=True).split())


def listed_batches(site: Path, relative: str) -> list[str]:
    """The batches a list page shows, in order (each links to its run page)."""
    return [re.search(r"runs/(.+)\.html$", a["href"]).group(1)
            for a in page(site, relative).select("table.runs a[href*='runs/']")]


def followed(from_page: str, href: str) -> str:
    """Where a relative link on a page leads, relative to the site root."""
    return posixpath.normpath(posixpath.join(posixpath.dirname(from_page), unquote(href)))


def expectation(rule: str, column: str) -> dict:
    """The suites' expectation for a rule and file column (their messages may be reworded: read them)."""
    for suite in settings.EXPECTATIONS_DIR.glob("*.json"):
        for candidate in json.loads(suite.read_text(encoding="utf-8"))["expectations"]:
            meta = candidate["meta"]
            if meta["rule"] == rule and column in (meta.get("column"), candidate["kwargs"].get("column")):
                return candidate
    raise AssertionError(f"no {rule} expectation on {column}")


def described(rule: str, column: str) -> str:
    found = expectation(rule, column)
    return datadocs_text.description(found["meta"], found["kwargs"])


def check_row(dom: BeautifulSoup, description: str):
    """The row of the checks table whose description is exactly this."""
    for row in dom.select("table.checks > tbody > tr"):
        if text_of(row.select_one(".description")) == description:
            return row
    raise AssertionError(f"no check {description!r} on the page")


# --- what the validation leaves ----------------------------------------------------------------

def test_payload_describes_every_expectation_from_its_meta_and_stays_valid_gx(conn):
    import great_expectations as gx

    run = run_of(checked(conn), "b1")

    assert (run["file"], run["status"], run["errors"], run["issues_total"]) == ("course/CARD-101/bad.csv", REJECTED, 1, 1)
    assert [v["suite"]["name"] for v in run["validations"]] == ["course_records.header", "course_records.rows+rows.course"]
    for validation in run["validations"]:
        described = validation["suite"]["expectations"] + [r["expectation_config"] for r in validation["result"]["results"]]
        for expectation in described:
            meta = expectation["meta"]
            assert expectation["description"].startswith(f"{meta['rule']} · ")
            assert meta["message"] in expectation["description"]
            assert expectation["notes"][-1] == f"Fix: {meta['fix']}"
            assert not re.search(r"(^|\W)_[a-z]", expectation["description"]), "no internal column is named"
        suite = gx.ExpectationSuite(**validation["suite"])
        assert len(suite.expectations) == len(validation["suite"]["expectations"])
        assert {e.description for e in suite.expectations} == {e["description"] for e in validation["suite"]["expectations"]}


def test_descriptions_speak_of_file_columns_and_precautions_in_words():
    partial = {"rule": "R07", "severity": "error", "message": "is partial credit, but this credit type is not variable",
               "fix": "award the full amount", "precaution": 8, "column": "credits"}
    kwargs = {"column_A": "_credits", "column_B": "_fixed_credits"}

    assert datadocs_text.description(partial, kwargs) == "R07 · credits: is partial credit, but this credit type is not variable"
    assert datadocs_text.notes(partial) == [f"Precaution 8: {PRECAUTIONS[8]}", "Fix: award the full amount"]
    invisible = {"rule": "R01", "severity": "error", "message": "contains a control character", "fix": "retype it"}
    assert datadocs_text.description(invisible, {"column": "_row_text"}) == "R01 · any value: contains a control character"
    header = {"rule": "F03", "severity": "error", "message": "is not a known column", "fix": "rename it"}
    assert datadocs_text.description(header, {"column": "canonical"}) == "F03 · header: is not a known column"
    missing = {"rule": "F07", "severity": "error", "message": "is not a course in the LMS", "fix": "create it",
               "column": "_course_key"}
    assert datadocs_text.description(missing, {"column": "_course_id"}) == "F07 · course: is not a course in the LMS"


def test_findings_stay_bounded_on_a_large_file_and_the_page_says_where_the_rest_are(conn, tmp_path):
    rows = "".join(f"u{i}@example.org,U,V,2026-05-04,maybe,2026-05-05,,,physician\n" for i in range(450))  # 450 × R04

    run = run_of(checked(conn, "many.csv", HEADER + rows), "b-many")
    datadocs.publish((tmp_path / "site").as_uri(), run)

    assert (run["issues_total"], len(run["issues"])) == (450, datadocs.SHOWN_ISSUES)
    dom = page(tmp_path / "site", "runs/b-many.html")
    assert len(dom.select("table.findings tbody tr")) == datadocs.SHOWN_ISSUES
    assert "The first 200 of 450 are listed here; rejects.csv in the run's report folder" in text_of(dom)
    where = check_row(dom, described("R04", "complete")).select("td")[3]
    assert text_of(where.select_one("p")) == f"450 row(s): {', '.join(f'line {n}' for n in range(2, 22))}, and 430 more"
    assert text_of(where.select_one("table.values")) == "Some of the values maybe", "GX counted a sample: no count shown"


# --- what the pages show -------------------------------------------------------------------------

def test_a_failed_check_is_marked_failed_with_its_rule_message_precaution_and_fix(conn, tmp_path):
    site = tmp_path / "site"
    no_credit_type = HEADER + "grace@example.org,Grace,Hopper,2026-05-04,0,,2.00,ama_pra_1,physician\n"  # R06
    datadocs.publish(site.as_uri(), run_of(checked(conn, "r06.csv", no_credit_type), "b-r06"))

    dom = page(site, "runs/b-r06.html")

    assert text_of(dom.select_one("h1")) == "Rejected course/CARD-101/r06.csv"
    facts = dict(zip([text_of(d) for d in dom.select("dl.facts dt")], [text_of(d) for d in dom.select("dl.facts dd")],
                     strict=True))
    assert facts["Data asset"] == "course/CARD-101/r06.csv"
    r06 = expectation("R06", "credits")["meta"]
    row = check_row(dom, f"R06 · credits: {r06['message']}")
    assert row["class"] == ["failed"] and text_of(row.select_one(".badge")) == "✘ Failed"
    assert [text_of(p) for p in row.select("td")[2].select("p")] == [f"Precaution 3: {PRECAUTIONS[3]}",
                                                                       f"Fix: {r06['fix']}"]
    assert text_of(row.select("td")[3]).startswith("1 row(s): line 2")
    [finding] = dom.select("table.findings tbody tr")
    assert [text_of(td) for td in finding.select("td")][:4] == ["2", "credits", "R06", "error"]
    assert r06["message"] in text_of(finding) and finding["class"] == ["failed"]
    passed = check_row(dom, described("R04", "complete"))
    assert passed["class"] == ["passed"] and text_of(passed.select_one(".badge")) == "✔ Passed"
    assert not dom.find(string=re.compile(r"\b_(credits|fixed_credits|row_text|line)\b")), "no internal column shown"


def test_a_header_with_a_trailing_space_shows_the_space(conn, tmp_path):
    site = tmp_path / "site"
    datadocs.publish(site.as_uri(), run_of(checked(conn, "space.csv", TRAILING_SPACE_FILE), "b-space"))

    dom = page(site, "runs/b-space.html")

    [finding] = dom.select("table.findings tbody tr")
    line, column, rule = finding.select("td")[:3]
    assert (line.get_text(), column.get_text(), rule.get_text()) == ("1", "external_email␣", "F02")
    assert column.select_one(".invisible")["title"] == "space"
    row = check_row(dom, described("F02", "name"))
    assert [td.get_text() for td in row.select("table.values td")] == ["external_email␣", "1"]


def test_invisible_characters_are_named_where_they_stand():
    from include.course_records.datadocs_render import visible, visible_text

    assert visible_text(" a\u00a0b\u200b  c\t") == "␣a⟨no-break space⟩b⟨zero width space⟩␣␣c⟨tab⟩"
    assert visible_text("x" * 130).endswith("x… (10 more characters)")
    assert str(visible("<b>&")) == '<span class="value">&lt;b&gt;&amp;</span>'


def test_file_values_are_inert_in_every_page(conn, tmp_path):
    site = tmp_path / "site"
    result = checked(conn, HOSTILE_NAME, HOSTILE_FILE)
    datadocs.publish(site.as_uri(), run_of(result, "b-hostile"))

    values = [SCRIPT, IMG, f"course/CARD-101/{HOSTILE_NAME}", HOSTILE_NAME]
    assert datadocs_audit.leaks(site.as_uri(), values) == []
    run_page = text_of(page(site, "runs/b-hostile.html"))
    assert f'line 3, complete: "{SCRIPT}" {expectation("R04", "complete")["meta"]["message"]}' in run_page
    assert f"Rejected course/CARD-101/{HOSTILE_NAME}" in run_page
    for listing in ("index.html", "days/2026/11/29.html"):
        assert f"course/CARD-101/{HOSTILE_NAME}" in text_of(page(site, listing))
    assert set(datadocs_audit.pages(site.as_uri())) == {"index.html", "months/2026/11.html", "days/2026/11/29.html",
                                                        "runs/b-hostile.html"}


def test_the_audit_finds_a_value_written_unescaped(conn, tmp_path):
    site = tmp_path / "site"
    datadocs.publish(site.as_uri(), run_of(checked(conn, "x.csv", HOSTILE_FILE), "b-x"))
    pages = datadocs_audit.pages(site.as_uri())
    broken = {name: html.replace("&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;", SCRIPT)
              for name, html in pages.items()}

    problems = datadocs_audit.page_leaks(broken, [SCRIPT])

    assert "runs/b-x.html: an element the site never writes: <script>" in problems
    assert f"runs/b-x.html: the value {SCRIPT!r} is written unescaped" in problems
    assert datadocs_audit.page_leaks({"p.html": '<a href="javascript:alert(1)">x</a>'}, []) == [
        "p.html: a link out of the site: 'javascript:alert(1)'"]
    assert datadocs_audit.page_leaks({"p.html": "<td>x</td>"}, ["<td>"]) == [], "the site's own tags are not a leak"
    assert datadocs_audit.page_leaks({"p.html": "<td>1 <3 x<</td>"}, []) == [
        "p.html: a raw '<3 x<</td>' in text", "p.html: a raw '<</td>' in text"]


def test_pages_load_nothing_from_elsewhere_and_every_link_leads_to_a_page(conn, tmp_path):
    site = tmp_path / "site"
    result = checked(conn)
    for batch, when in (("b-oct", NOW - timedelta(days=40)), ("b-nov-1", NOW - timedelta(days=1)), ("b-nov-2", NOW)):
        datadocs.publish(site.as_uri(), run_of(result, batch, when))

    pages = sorted(site.rglob("*.html"))
    assert {p.relative_to(site).as_posix() for p in pages} == {
        "index.html", "months/2026/10.html", "months/2026/11.html", "days/2026/10/20.html", "days/2026/11/28.html",
        "days/2026/11/29.html", "runs/b-oct.html", "runs/b-nov-1.html", "runs/b-nov-2.html"}
    for path in pages:
        dom = page(site, path.relative_to(site).as_posix())
        assert not dom.select("script, link, img, iframe, object, [src]"), path
        assert "default-src 'none'" in dom.select_one("meta[http-equiv=Content-Security-Policy]")["content"]
        for link in dom.select("a[href]"):
            href = link["href"]
            assert not urlsplit(href).scheme and not href.startswith("/"), (path, href)
            assert (path.parent / unquote(href)).resolve().is_file(), f"{path.name} links to a missing {href}"


def test_the_index_shows_the_newest_runs_and_reaches_every_older_one_by_month_and_day(conn, tmp_path, monkeypatch):
    monkeypatch.setattr(datadocs, "WINDOW", 3)
    site = tmp_path / "site"
    result = checked(conn)
    times = {f"b{i}": NOW - timedelta(days=25 * i, minutes=i) for i in range(5)}  # b0 newest … b4 in August
    for batch in ("b3", "b0", "b4", "b1", "b2"):  # published out of order, as parallel runs finish
        datadocs.publish(site.as_uri(), run_of(result, batch, times[batch]))

    assert listed_batches(site, "index.html") == ["b0", "b1", "b2"]
    index = page(site, "index.html")
    assert [text_of(a) for a in index.select("ul.calendar a")] == ["November 2026", "October 2026", "September 2026",
                                                                  "August 2026"]
    reached = set()
    for month in index.select("ul.calendar a"):
        month_page = followed("index.html", month["href"])
        for day in page(site, month_page).select("ul.calendar a"):
            reached.update(listed_batches(site, followed(month_page, day["href"])))
    assert reached == set(times)


def test_a_publish_reads_only_its_own_day_and_the_newest_days(conn, tmp_path, monkeypatch):
    """The cost of a publish does not depend on how many runs the site already holds."""
    monkeypatch.setattr(datadocs, "WINDOW", 2)
    monkeypatch.setattr(datadocs, "_DAYS_AT_ONCE", 2)
    site = tmp_path / "site"
    result = checked(conn)
    for day in range(1, 13):  # November 1st … 12th, two runs a day
        for n in range(2):
            datadocs.publish(site.as_uri(), run_of(result, f"b{day:02d}-{n}", datetime(2026, 11, day, 9, n, tzinfo=UTC)))
    touched: list[str] = []
    for method in ("read", "names", "read_many"):
        original = getattr(datadocs._Site, method)

        def recorded(self, relative, _original=original):
            touched.extend([relative] if isinstance(relative, str) else relative)
            return _original(self, relative)

        monkeypatch.setattr(datadocs._Site, method, recorded)

    datadocs.publish(site.as_uri(), run_of(result, "b13", datetime(2026, 11, 13, 9, tzinfo=UTC)))

    assert touched and all(re.match(r"(days|entries)/2026/11/1[23]|months|days/2026/11$", t) for t in touched), touched
    assert not [t for t in touched if t.startswith("entries/") and not t.startswith("entries/2026/11/13")]
    assert listed_batches(site, "index.html") == ["b13", "b12-1"]


def test_the_run_outcome_comes_from_the_runs_summary(conn, tmp_path):
    reports = tmp_path / "landing" / "reports" / "b-loaded"
    reports.mkdir(parents=True)
    good = checked(conn, "good.csv", HEADER + GOOD_ROW)
    (reports / datadocs.VALIDATION_FILE).write_text(json.dumps(run_of(good, "b-loaded")))
    (reports / "summary.json").write_text(json.dumps({"status": "loaded"}))
    from airflow.sdk import ObjectStoragePath

    site_url = (tmp_path / "site").as_uri()
    published = datadocs.publish_report(site_url, ObjectStoragePath(reports.as_uri()))

    assert published == f"{site_url}/runs/b-loaded.html"
    [row] = page(tmp_path / "site", "index.html").select("table.runs tbody tr")
    assert text_of(row.select_one(".badge")) == "Loaded" and row["class"] == ["passed"]
    assert datadocs.publish_report(site_url, ObjectStoragePath((tmp_path / "nothing").as_uri())) is None


def test_a_file_rejected_before_any_check_still_gets_its_page(conn, tmp_path):
    semicolons = "external_email;first_name\nann@example.org;Ann\n"  # F04: nothing more can be read
    datadocs.publish((tmp_path / "site").as_uri(), run_of(checked(conn, "semi.csv", semicolons), "b-semi"))

    dom = page(tmp_path / "site", "runs/b-semi.html")

    assert "F04" in [text_of(td) for td in dom.select("table.findings td")]
    assert "could not be read as course-record CSV, so no check ran" in text_of(dom)


def test_the_site_lives_beside_the_landing_root_unless_configured(monkeypatch, tmp_path):
    monkeypatch.delenv(settings.DATA_DOCS_ENV, raising=False)
    monkeypatch.setenv(settings.LANDING_ENV, "s3://landing_s3@course-records/landing")

    assert settings.data_docs_url() == "s3://landing_s3@course-records/landing/reports/data_docs"
    assert settings.data_docs_url("sftp://landing_sftp@sftp/landing/") == "sftp://landing_sftp@sftp/landing/reports/data_docs"
    monkeypatch.setenv(settings.DATA_DOCS_ENV, "s3://docs_s3@reports/data-docs")
    assert settings.data_docs_url("file:///srv/landing") == "s3://docs_s3@reports/data-docs"
    monkeypatch.setenv(settings.DATA_DOCS_ENV, str(tmp_path / "docs"))
    assert settings.data_docs_url() == (tmp_path / "docs").as_uri()


# --- several workers at once ---------------------------------------------------------------------

def test_a_publisher_that_lost_a_race_writes_its_lists_again(conn, tmp_path, monkeypatch):
    """Worker A reads the day's entries, worker B publishes completely, then A writes what it read."""
    url = (tmp_path / "site").as_uri()
    run = run_of(checked(conn), "template")
    first, second = dict(run, batch="b-first"), dict(run, batch="b-second")
    raced: list[bytes] = []
    write = datadocs._Site.write

    def write_after_another_publish(self, relative, data):
        if relative.startswith("days/") and relative.endswith(".json") and not raced:
            raced.append(data)
            datadocs.publish(url, second)
        write(self, relative, data)

    monkeypatch.setattr(datadocs._Site, "write", write_after_another_publish)
    datadocs.publish(url, first)

    assert set(json.loads(raced[0])) == {"b-first"}, "A's first write of the day lacked B's run: the race happened"
    assert sorted(listed_batches(tmp_path / "site", "days/2026/11/29.html")) == ["b-first", "b-second"]
    assert sorted(json.loads((tmp_path / "site/days/2026/11/29.json").read_text())) == ["b-first", "b-second"]
    assert sorted(listed_batches(tmp_path / "site", "index.html")) == ["b-first", "b-second"]


def publish_many(url: str, run: dict, batches: list[str], start) -> None:
    """One worker process: wait for the others, then publish its runs one after another."""
    start.wait()
    for batch in batches:
        datadocs.publish(url, dict(run, batch=batch))


def publish_concurrently(url: str, run: dict, workers: int, each: int) -> set[str]:
    context = multiprocessing.get_context("fork")
    start = context.Barrier(workers)
    batches = [[f"w{w}-{n:02d}" for n in range(each)] for w in range(workers)]
    processes = [context.Process(target=publish_many, args=(url, run, mine, start)) for mine in batches]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
    assert [p.exitcode for p in processes] == [0] * workers
    return {batch for mine in batches for batch in mine}


def test_workers_publishing_at_once_lose_no_run(conn, tmp_path):
    site = tmp_path / "site"
    run = run_of(checked(conn), "template")

    published = publish_concurrently(site.as_uri(), run, workers=4, each=6)

    assert set(listed_batches(site, "days/2026/11/29.html")) == published
    assert set(listed_batches(site, "index.html")) == published
    assert {p.stem for p in (site / "runs").glob("*.html")} == published
    assert not list(site.rglob("*.tmp"))


# --- from the import DAG -------------------------------------------------------------------------

def test_an_import_run_publishes_its_page_beside_the_landing_root(dagbag, conn, landing, no_lock):
    drop(landing, "course/CARD-101/bad.csv", REJECTED_FILE)

    dagbag.get_dag("course_record_import").test(run_conf={
        "file": "course/CARD-101/bad.csv", "importer": None, "course": None, "dry_run": False, "load_valid_rows": False})

    [summary_path] = (landing / "reports").glob("*/summary.json")
    batch = summary_path.parent.name
    site = landing / "reports" / "data_docs"
    assert listed_batches(site, "index.html") == [batch]
    [row] = page(site, "index.html").select("table.runs tbody tr")
    assert text_of(row.select_one(".badge")) == "Rejected"
    run_page = page(site, f"runs/{batch}.html")
    assert text_of(run_page.select_one("h1")) == "Rejected course/CARD-101/bad.csv"
    assert check_row(run_page, described("R04", "complete"))["class"] == ["failed"]
    validation = json.loads((summary_path.parent / datadocs.VALIDATION_FILE).read_text())
    assert (validation["batch"], validation["file"]) == (batch, "course/CARD-101/bad.csv")


def test_a_run_published_again_shows_its_new_outcome_everywhere(conn, tmp_path):
    site = tmp_path / "site"
    run = run_of(checked(conn, "good.csv", HEADER + GOOD_ROW), "b-again")
    datadocs.publish(site.as_uri(), run)

    datadocs.publish(site.as_uri(), dict(run, status="loaded"))

    for listing in ("index.html", "days/2026/11/29.html"):
        assert [text_of(b) for b in page(site, listing).select("table.runs .badge")] == ["Loaded"], listing
    assert text_of(page(site, "runs/b-again.html").select_one("h1 .badge")) == "Loaded"
