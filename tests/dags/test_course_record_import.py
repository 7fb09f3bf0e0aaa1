"""The import DAG end to end with dag.test() on the real LMS database."""

from __future__ import annotations

import csv
import json

from tests.conftest import IMPORT_DEFAULTS, REPO, count, drop, rows_of

DEMO = (REPO / "demo/course/CARD-101/card-101-2026.csv").read_text()


def run_import(dagbag, **conf):
    """One import run; every param is given, since dag.test() lets a run's conf leak into the next."""
    dag = dagbag.get_dag("course_record_import")
    return dag.test(run_conf={**IMPORT_DEFAULTS, **conf})


def summaries(landing):
    return [json.loads(p.read_text()) for p in sorted((landing / "reports").glob("*/summary.json"))]


def task_states(run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def test_demo_file_loads_three_enrollments_two_learners_four_credit_records(dagbag, conn, landing, no_lock):
    drop(landing, "course/CARD-101/card-101-2026.csv", DEMO)
    before = {t: count(conn, t) for t in ("lms.learner", "lms.enrollment", "lms.credit_record")}

    run = run_import(dagbag, file="course/CARD-101/card-101-2026.csv")

    assert run.state == "success"
    assert task_states(run)["file_rejected"] == "skipped"
    assert count(conn, "lms.learner") - before["lms.learner"] == 2
    assert count(conn, "lms.enrollment") - before["lms.enrollment"] == 3
    assert count(conn, "lms.credit_record") - before["lms.credit_record"] == 4
    katherine = rows_of(conn, """
        SELECT t.machine_name, r.credits::text, r.import_source, e.participant_category, e.complete
        FROM lms.credit_record r JOIN lms.credit_type t ON t.id = r.credit_type_id
        JOIN lms.enrollment e ON e.id = r.enrollment_id JOIN lms.learner l ON l.id = e.learner_id
        WHERE l.email = 'katherine@example.org' ORDER BY 1""")
    assert katherine == [("ama_pra_1", "2.00", "course_import", "physician", True),
                         ("ancc", "1.50", "course_import", "physician", True)]
    [summary] = summaries(landing)
    assert summary["status"] == "loaded"
    assert summary["created"] == {"learners": 2, "courses": 0, "enrollments": 3, "credit_records": 4, "held_records": 0}
    assert summary["rows"] == {"total": 4, "valid": 4, "rejected": 0, "skipped_identical": 0}
    assert not (landing / "course/CARD-101/card-101-2026.csv").exists()
    archived = list((landing / "archive").rglob("*-card-101-2026.csv"))
    assert len(archived) == 1 and archived[0].read_text() == DEMO
    [(status, sha, batches)] = rows_of(conn, "SELECT status, sha256, count(*) OVER () FROM course_import.ledger")
    assert (status, sha, batches) == ("loaded", summary["sha256"], 1)
    batch = archived[0].name.rsplit("-card-101-2026.csv", 1)[0]
    assert rows_of(conn, "SELECT count(*) FROM lms.enrollment WHERE import_batch = %s", (batch,)) == [(3,)]


GLOBAL_DEMO = (REPO / "demo/global/legacy-history.csv").read_text()
HEADER = "external_email,first_name,last_name,enrollment_start,complete,date_completed,credits,credit_type,participant_category\n"


def test_global_demo_creates_one_shell_two_enrollments_one_learner(dagbag, conn, landing, no_lock):
    drop(landing, "global/legacy-history.csv", GLOBAL_DEMO)

    run = run_import(dagbag, file="global/legacy-history.csv")

    assert run.state == "success"
    [summary] = summaries(landing)
    assert summary["status"] == "loaded"
    assert summary["created"] == {"learners": 1, "courses": 1, "enrollments": 2, "credit_records": 2, "held_records": 0}
    assert {i["rule"] for i in summary["issues"]} == {"W01", "W02"}
    assert rows_of(conn, "SELECT external_course_id, title, is_imported_shell, certificate_enabled, import_source"
                         " FROM lms.course WHERE is_imported_shell") == [
        ("LEGACY-2019-ECG", "ECG Interpretation (2019 archive)", True, False, "legacy_global_import")]
    assert rows_of(conn, "SELECT count(*) FROM lms.course_object o JOIN lms.course c ON c.id = o.course_id"
                         " WHERE c.is_imported_shell") == [(0,)]
    assert rows_of(conn, "SELECT DISTINCT import_source FROM lms.enrollment WHERE import_batch IS NOT NULL") == [
        ("legacy_global_import",)]


def test_same_bytes_again_are_a_duplicate_and_load_nothing(dagbag, conn, landing, no_lock):
    drop(landing, "course/CARD-101/card-101-2026.csv", DEMO)
    assert run_import(dagbag, file="course/CARD-101/card-101-2026.csv").state == "success"
    enrollments = count(conn, "lms.enrollment")
    drop(landing, "course/CARD-101/renamed-copy.csv", DEMO)  # same bytes, another name

    run = run_import(dagbag, file="course/CARD-101/renamed-copy.csv")

    assert run.state == "success"
    assert count(conn, "lms.enrollment") == enrollments
    second = next(s for s in summaries(landing) if s["file"].endswith("renamed-copy.csv"))
    assert second["status"] == "duplicate_file"
    assert [i["rule"] for i in second["issues"]] == ["F06"]
    assert second["rows"] == {"total": 4, "valid": 4, "rejected": 0, "skipped_identical": 4}
    assert list((landing / "archive").rglob("*-renamed-copy.csv"))
    assert not (landing / "course/CARD-101/renamed-copy.csv").exists()
    assert rows_of(conn, "SELECT status, count(*) FROM course_import.ledger GROUP BY 1 ORDER BY 1") == [
        ("duplicate_file", 1), ("loaded", 1)]


def test_rows_identical_to_the_lms_are_skipped_and_counted(dagbag, conn, landing, no_lock):
    drop(landing, "course/CARD-101/mixed.csv", HEADER
         + "ada@example.org,Ada,Lovelace,2026-03-01,1,2026-03-02,2.00,ama_pra_1,physician\n"
         + "grace@example.org,Grace,Hopper,2026-05-04,1,2026-05-05,2.00,ama_pra_1,physician\n")

    run_import(dagbag, file="course/CARD-101/mixed.csv")

    [summary] = summaries(landing)
    assert summary["status"] == "loaded"
    assert summary["rows"] == {"total": 2, "valid": 2, "rejected": 0, "skipped_identical": 1}
    assert summary["created"] == {"learners": 0, "courses": 0, "enrollments": 1, "credit_records": 1, "held_records": 0}
    assert count(conn, "lms.credit_record") == 2


def test_rejected_file_is_quarantined_and_writes_nothing(dagbag, conn, landing, no_lock):
    before = {t: count(conn, t) for t in ("lms.learner", "lms.enrollment", "lms.credit_record", "lms.course")}
    bad = HEADER + "new@example.org,Ann,Lee,2026-05-04,1,2026-05-05,2.00,ama_pra_1,physician\n" \
                 + "grace@example.org,Grace,Hopper,2026-05-04,0,,2.00,ama_pra_1,physician\n"
    drop(landing, "course/CARD-101/bad.csv", bad)

    run = run_import(dagbag, file="course/CARD-101/bad.csv")

    # the run list shows it apart from a load: failed, at the task that names the outcome
    assert run.state == "failed"
    states = task_states(run)
    assert (states["quarantine_file"], states["file_rejected"]) == ("success", "failed")
    assert (states["load_course_level"], states["archive_file"]) == ("skipped", "skipped")
    assert states["publish_data_docs"] == "success"
    assert {t: count(conn, t) for t in before} == before
    [summary] = summaries(landing)
    assert summary["status"] == "rejected"
    assert [(i["rule"], i["line"]) for i in summary["issues"] if i["severity"] == "error"] == [("R06", 3)]
    assert summary["rules"] == "http://localhost:8080/course-records/file-format"
    quarantined = list((landing / "quarantine").glob("*-bad.csv"))
    assert len(quarantined) == 1 and quarantined[0].read_text() == bad
    batch = quarantined[0].name.removesuffix("-bad.csv")
    rejects = list(csv.DictReader((landing / "reports" / batch / "rejects.csv").open()))
    assert [(r["line"], r["rule"], r["external_email"]) for r in rejects] == [("3", "R06", "grace@example.org")]
    assert rows_of(conn, "SELECT tablename FROM pg_tables WHERE tablename LIKE 'stage_%'") == []


def test_load_valid_rows_loads_only_the_good_enrollment(dagbag, conn, landing, no_lock):
    drop(landing, "course/CARD-101/half.csv", HEADER
         + "ann@example.org,Ann,Lee,2026-05-04,1,2026-05-05,2.00,ama_pra_1,physician\n"
         + "bo@example.org,Bo,Ek,2026-05-04,0,,2.00,ama_pra_1,other\n")

    run_import(dagbag, file="course/CARD-101/half.csv", load_valid_rows=True)

    [summary] = summaries(landing)
    assert summary["status"] == "loaded"
    assert summary["rows"]["rejected"] == 1 and summary["rows"]["valid"] == 1
    assert summary["created"]["enrollments"] == 1
    emails = [r[0] for r in rows_of(conn, "SELECT l.email FROM lms.enrollment e JOIN lms.learner l ON l.id = e.learner_id"
                                          " WHERE e.import_batch IS NOT NULL")]
    assert emails == ["ann@example.org"]


def test_dry_run_validates_and_moves_nothing(dagbag, conn, landing, no_lock):
    drop(landing, "course/CARD-101/card-101-2026.csv", DEMO)

    run_import(dagbag, file="course/CARD-101/card-101-2026.csv", dry_run=True)

    [summary] = summaries(landing)
    assert summary["status"] == "accepted"
    assert (landing / "course/CARD-101/card-101-2026.csv").exists()
    assert count(conn, "lms.enrollment") == 2  # the demo's own


def test_hostile_values_are_stored_as_plain_text(dagbag, conn, landing, no_lock):
    drop(landing, "course/CARD-101/hostile.csv", HEADER
         + "\"o'neil@example.org\",\"Robert'); DROP TABLE lms.learner;--\",\"<script>alert(1)</script>\","
           "2026-05-04,1,2026-05-05,2.00,ama_pra_1,physician\n"
         + "eve@example.org,\"=HYPERLINK(\"\"http://x\"\")\",\"@SUM(A1)\",2026-05-04,1,2026-05-05,2.00,ama_pra_1,other\n")

    run_import(dagbag, file="course/CARD-101/hostile.csv")

    names = rows_of(conn, "SELECT first_name, last_name FROM lms.learner WHERE import_batch IS NOT NULL ORDER BY email")
    assert names == [('=HYPERLINK("http://x")', "@SUM(A1)"),
                     ("Robert'); DROP TABLE lms.learner;--", "<script>alert(1)</script>")]


def test_contradicting_importer_stops_with_a_clear_message(dagbag, conn, landing, no_lock):
    drop(landing, "global/legacy-history.csv", GLOBAL_DEMO)

    run = run_import(dagbag, file="global/legacy-history.csv", importer="course")

    assert run.state == "failed"
    assert (landing / "global/legacy-history.csv").exists()
    assert count(conn, "course_import.ledger") == 0


def test_a_path_outside_the_layout_is_refused(dagbag, conn, landing, no_lock):
    drop(landing, "course/CARD-101/ok.csv", DEMO)

    run = run_import(dagbag, file="course/CARD-101/../../../etc/passwd")

    assert run.state == "failed"
    assert count(conn, "course_import.ledger") == 0


def test_a_cr_only_file_loads_line_by_line(dagbag, conn, landing, no_lock):
    """Old "CSV (Macintosh)" exports end lines with CR alone."""
    drop(landing, "course/CARD-101/mac.csv", DEMO.replace("\n", "\r"))

    run_import(dagbag, file="course/CARD-101/mac.csv")

    [summary] = summaries(landing)
    assert summary["status"] == "loaded"
    assert summary["created"]["enrollments"] == 3


def test_a_cr_splitting_a_value_rejects_the_file_and_loads_no_fragment(dagbag, conn, landing, no_lock):
    enrollments = count(conn, "lms.enrollment")
    drop(landing, "course/CARD-101/split.csv", HEADER
         + "ann@example.org,Ann,Lee,2026-05-04,1,2026-05-05,2.00,ama_pra_1,physician\n"
         + "bo@example.org,Bo\rbo@example.org,Ek,2026-05-04,1,2026-05-05,2.00,ama_pra_1,other\n")

    run_import(dagbag, file="course/CARD-101/split.csv", load_valid_rows=True)

    [summary] = summaries(landing)
    assert summary["status"] == "rejected"
    assert [(i["rule"], i["line"]) for i in summary["issues"]] == [("F04", 3)]
    assert summary["rows"]["total"] == 2
    assert count(conn, "lms.enrollment") == enrollments
    assert list((landing / "quarantine").glob("*-split.csv"))


def test_two_new_learners_sharing_a_new_user_id_are_rejected_not_a_lock(dagbag, conn, landing, no_lock):
    from airflow.models.variable import Variable

    drop(landing, "course/CARD-101/twins.csv",
         "external_user_id,external_email,first_name,last_name,enrollment_start,complete,date_completed,credits,credit_type\n"
         "N77,ann@example.org,Ann,Lee,2026-05-04,1,2026-05-05,2.00,ama_pra_1\n"
         "N77,bo@example.org,Bo,Ek,2026-05-04,1,2026-05-05,2.00,ama_pra_1\n")

    run_import(dagbag, file="course/CARD-101/twins.csv")

    [summary] = summaries(landing)
    assert summary["status"] == "rejected"
    assert {(i["rule"], i["line"]) for i in summary["issues"] if i["rule"] == "R02"} == {("R02", 2), ("R02", 3)}
    assert Variable.get("course_record_import_lock", default_var=None) is None
