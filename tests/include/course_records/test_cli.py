"""The command line as ops run it: `python -m include.course_records validate …`.

Each run is a real subprocess on the throwaway LMS database (AIRFLOW_CONN_LMS_DB, set by
conftest). A run that reaches Great Expectations costs ~7 s, so each one checks several things.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

DEMO = "demo/course/CARD-101/card-101-2026.csv"
HEADER = ("external_email,first_name,last_name,enrollment_start,complete,date_completed,credits,credit_type,"
          "participant_category\n")


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "include.course_records", *args],
        cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=180, check=False,
    )


def landing_file(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def rule_lines_of_rejects(path: Path) -> list[tuple[str, int]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return sorted((row["rule"], int(row["line"])) for row in csv.DictReader(handle))


def test_demo_file_is_accepted_with_no_file_or_row_issue(conn, tmp_path):
    done = run_cli("validate", DEMO, "--report-dir", str(tmp_path / "report"))

    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert (summary["status"], summary["importer"], summary["course"]) == ("accepted", "course", "CARD-101")
    assert [i for i in summary["issues"] if i["rule"][0] in "FR"] == []
    assert summary["rows"] == {"total": 4, "valid": 4, "rejected": 0, "skipped_identical": 0}
    assert (tmp_path / "report" / "data_docs" / "index.html").is_file()
    assert f"{DEMO}: accepted (course importer into CARD-101)" in done.stdout
    assert "Traceback" not in done.stderr


def test_three_errors_on_three_lines_exit_1_and_both_reports_hold_exactly_them(conn, tmp_path):
    file = landing_file(tmp_path, "course/CARD-101/three-errors.csv", HEADER
                        + "grace@example.org,Grace,Hopper,2026-05-04,0,,2.00,ama_pra_1,physician\n"  # R06
                        + "ann@example.org,Ann,Lee,2026-05-04,yes,2026-05-05,2.00,ama_pra_1,physician\n"  # R04
                        + "bo@example.org,Bo,Ek,2026-05-04,1,2026-05-05,2.00,ama_pra_1;ancc,physician\n"  # R08
                        + "cy@example.org,Cy,Ek,2026-05-04,1,2026-05-05,2.00,ama_pra_1,other\n")  # fine
    report = tmp_path / "report"

    done = run_cli("validate", str(file), "--report-dir", str(report))

    assert done.returncode == 1, done.stdout + done.stderr
    expected = [("R04", 3), ("R06", 2), ("R08", 4)]
    summary = json.loads((report / "summary.json").read_text())
    assert summary["status"] == "rejected"
    assert sorted((i["rule"], i["line"]) for i in summary["issues"]) == expected
    assert summary["rows"] == {"total": 4, "valid": 1, "rejected": 3, "skipped_identical": 0}
    assert rule_lines_of_rejects(report / "rejects.csv") == expected
    for rule, line in expected:
        assert f"line {line}, " in done.stdout and f"({rule})" in done.stdout


def test_warnings_only_exit_0_and_importer_and_course_come_from_the_path(conn, tmp_path):
    file = landing_file(tmp_path, "course/PHARM-301/warnings-only.csv", HEADER
                        + "grace@example.org, Grace,Hopper,2026-05-04,1,2026-05-05,3.00,ama_pra_1,\n")  # W05, W03
    report = tmp_path / "report"

    done = run_cli("validate", str(file), "--report-dir", str(report))

    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((report / "summary.json").read_text())
    assert (summary["status"], summary["importer"], summary["course"]) == ("accepted", "course", "PHARM-301")
    assert sorted({i["rule"] for i in summary["issues"]}) == ["W03", "W05"]
    assert {i["severity"] for i in summary["issues"]} == {"warning"}
    assert rule_lines_of_rejects(report / "rejects.csv") == []


def test_a_missing_file_is_exit_2_with_what_to_fix_and_no_traceback(tmp_path):
    missing = tmp_path / "course" / "CARD-101" / "not-there.csv"

    done = run_cli("validate", str(missing))

    assert done.returncode == 2
    assert f"error: cannot read {missing}: No such file or directory" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unreachable_database_is_exit_2_with_what_to_fix_and_no_traceback():
    done = run_cli("validate", DEMO, AIRFLOW_CONN_LMS_DB="postgresql://nobody@127.0.0.1:1/x")

    assert done.returncode == 2
    assert "error: cannot reach the LMS database" in done.stderr
    assert "check AIRFLOW_CONN_LMS_DB (a postgresql:// URI) and that PostgreSQL is running" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_course_that_contradicts_the_path_is_exit_2():
    done = run_cli("validate", DEMO, "--course", "NEURO-201")

    assert done.returncode == 2
    assert "--course NEURO-201 contradicts the path" in done.stderr
    assert "Traceback" not in done.stderr
