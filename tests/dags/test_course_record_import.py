"""The import DAG end to end with dag.test() on the real LMS database."""

from __future__ import annotations

import json

from tests.conftest import REPO, count, drop, rows_of

DEMO = (REPO / "demo/course/CARD-101/card-101-2026.csv").read_text()


def run_import(dagbag, **conf):
    dag = dagbag.get_dag("course_record_import")
    return dag.test(run_conf=conf)


def summaries(landing):
    return [json.loads(p.read_text()) for p in sorted((landing / "reports").glob("*/summary.json"))]


def test_demo_file_loads_three_enrollments_two_learners_four_credit_records(dagbag, conn, landing, no_lock):
    drop(landing, "course/CARD-101/card-101-2026.csv", DEMO)
    before = {t: count(conn, t) for t in ("lms.learner", "lms.enrollment", "lms.credit_record")}

    run = run_import(dagbag, file="course/CARD-101/card-101-2026.csv")

    assert run.state == "success"
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
    assert summary["created"] == {"learners": 2, "courses": 0, "enrollments": 3, "credit_records": 4}
    assert summary["rows"] == {"total": 4, "valid": 4, "rejected": 0, "skipped_identical": 0}
    assert not (landing / "course/CARD-101/card-101-2026.csv").exists()
    archived = list((landing / "archive").rglob("*-card-101-2026.csv"))
    assert len(archived) == 1 and archived[0].read_text() == DEMO
    [(status, sha, batches)] = rows_of(conn, "SELECT status, sha256, count(*) OVER () FROM course_import.ledger")
    assert (status, sha, batches) == ("loaded", summary["sha256"], 1)
    batch = archived[0].name.rsplit("-card-101-2026.csv", 1)[0]
    assert rows_of(conn, "SELECT count(*) FROM lms.enrollment WHERE import_batch = %s", (batch,)) == [(3,)]
