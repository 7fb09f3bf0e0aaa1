"""Learners without an account: SSO-only files, held records, and their assignment run (dag.test())."""

from __future__ import annotations

import json

import pytest

from tests.conftest import IMPORT_DEFAULTS, count, drop, rows_of

HEADER = "external_email,first_name,last_name,enrollment_start,complete,date_completed,credits,credit_type,participant_category\n"


def run_import(dagbag, **conf):
    return dagbag.get_dag("course_record_import").test(run_conf={**IMPORT_DEFAULTS, **conf})


def run_assignment(dagbag):
    return dagbag.get_dag("course_record_assign_held").test()


def summary_of(landing, name: str) -> dict:
    [found] = [json.loads(p.read_text()) for p in (landing / "reports").glob("*/summary.json")
               if json.loads(p.read_text())["file"].endswith(name)]
    return found


def held(conn) -> list[tuple]:
    return rows_of(conn, "SELECT line, email_key, status FROM course_import.held_record ORDER BY line")


def add_learner(conn, email: str | None, user_id: str | None = None, names=("New", "Person")) -> int:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO lms.learner (external_user_id, email, first_name, last_name) VALUES (%s, %s, %s, %s)"
                    " RETURNING id", (user_id, email, *names))
        learner = cur.fetchone()[0]
    conn.commit()
    return learner


def test_an_sso_file_without_emails_loads_onto_existing_learners(dagbag, conn, landing, no_lock):
    drop(landing, "course/CARD-101/sso.csv",
         "external_user_id,enrollment_start,complete,date_completed,credits,credit_type,participant_category\n"
         "U1002,2026-05-04,1,2026-05-05,2.00,ama_pra_1,physician\n"
         "U1003,2026-05-04,1,2026-05-05,1.50,ancc,other\n")
    learners = count(conn, "lms.learner")

    run_import(dagbag, file="course/CARD-101/sso.csv")

    summary = summary_of(landing, "sso.csv")
    assert summary["status"] == "loaded", summary["issues"]
    assert summary["created"]["learners"] == 0 and summary["created"]["enrollments"] == 2
    assert count(conn, "lms.learner") == learners
    assert rows_of(conn, "SELECT l.external_user_id FROM lms.enrollment e JOIN lms.learner l ON l.id = e.learner_id"
                         " JOIN lms.course c ON c.id = e.course_id WHERE c.external_course_id = 'CARD-101'"
                         " AND e.import_batch IS NOT NULL ORDER BY 1") == [("U1002",), ("U1003",)]


def test_a_new_sso_learner_is_created_without_an_email_in_create_mode(dagbag, conn, landing, no_lock):
    drop(landing, "course/CARD-101/sso-new.csv",
         "external_user_id,first_name,last_name,enrollment_start,complete,date_completed,credits,credit_type\n"
         "U2001,Kim,Park,2026-05-04,1,2026-05-05,2.00,ama_pra_1\n"
         "U2001,Kim,Park,2026-05-04,1,2026-05-05,1.00,ancc\n")

    run_import(dagbag, file="course/CARD-101/sso-new.csv")

    assert summary_of(landing, "sso-new.csv")["created"]["learners"] == 1
    assert rows_of(conn, "SELECT email, first_name FROM lms.learner WHERE external_user_id = 'U2001'") == [(None, "Kim")]
    assert rows_of(conn, "SELECT count(*) FROM lms.credit_record r JOIN lms.enrollment e ON e.id = r.enrollment_id"
                         " JOIN lms.learner l ON l.id = e.learner_id WHERE l.external_user_id = 'U2001'") == [(2,)]


def test_hold_mode_holds_new_learners_and_creates_nobody_then_assigns_exactly_once(dagbag, conn, landing, no_lock):
    drop(landing, "course/CARD-101/partner.csv", HEADER
         + "kim@example.org,Kim,Park,2026-05-04,1,2026-05-05,2.00,ama_pra_1,physician\n"
         + "kim@example.org,Kim,Park,2026-05-04,1,2026-05-05,1.00,ancc,physician\n"
         + "lee@example.org,Lee,Chan,2026-05-04,0,,,,other\n"
         + "grace@example.org,Grace,Hopper,2026-05-04,1,2026-05-05,2.00,ama_pra_1,physician\n")
    learners, enrollments = count(conn, "lms.learner"), count(conn, "lms.enrollment")

    run_import(dagbag, file="course/CARD-101/partner.csv", missing_learners="hold")

    summary = summary_of(landing, "partner.csv")
    assert summary["status"] == "loaded"
    assert summary["created"] == {"learners": 0, "courses": 0, "enrollments": 1, "credit_records": 1,
                                  "held_records": 3}
    assert count(conn, "lms.learner") == learners  # nobody invented
    assert count(conn, "lms.enrollment") == enrollments + 1  # Grace's, who exists
    assert held(conn) == [(2, "kim@example.org", "held"), (3, "kim@example.org", "held"),
                          (4, "lee@example.org", "held")]

    run_assignment(dagbag)  # nobody has signed up yet: nothing moves
    assert [status for *_, status in held(conn)] == ["held"] * 3

    kim = add_learner(conn, "Kim@Example.org")  # signs up, with another case
    run_assignment(dagbag)

    assert held(conn) == [(2, "kim@example.org", "assigned"), (3, "kim@example.org", "assigned"),
                          (4, "lee@example.org", "held")]
    assert rows_of(conn, "SELECT t.machine_name, r.credits::text, e.import_source FROM lms.credit_record r"
                         " JOIN lms.enrollment e ON e.id = r.enrollment_id JOIN lms.credit_type t ON t.id = r.credit_type_id"
                         " WHERE e.learner_id = %s ORDER BY 1", (kim,)) == [
        ("ama_pra_1", "2.00", "course_import"), ("ancc", "1.00", "course_import")]
    [(assigned_from, status, enrolled)] = rows_of(
        conn, "SELECT assigned_from, status, created_enrollments FROM course_import.ledger WHERE assigned_from IS NOT NULL")
    [(origin,)] = rows_of(conn, "SELECT batch_id FROM course_import.ledger WHERE file_path = 'course/CARD-101/partner.csv'")
    assert (assigned_from, status, enrolled) == (origin, "loaded", 1)

    run_assignment(dagbag)  # exactly once
    assert rows_of(conn, "SELECT count(*) FROM lms.enrollment WHERE learner_id = %s", (kim,)) == [(1,)]
    assert rows_of(conn, "SELECT count(*) FROM course_import.ledger WHERE assigned_from IS NOT NULL") == [(1,)]


def test_a_held_completion_without_a_date_gets_the_assignment_date(dagbag, conn, landing, no_lock):
    row = "kim@example.org,Kim,Park,2026-05-04,1,,2.00,ama_pra_1,physician\n"
    drop(landing, "course/CARD-101/undated.csv", HEADER + row)

    run_import(dagbag, file="course/CARD-101/undated.csv", missing_learners="hold")
    assert summary_of(landing, "undated.csv")["status"] == "loaded"
    add_learner(conn, "kim@example.org")
    run_assignment(dagbag)

    [(completed, resolution)] = rows_of(conn, """
        SELECT e.date_completed::date = h.assigned_at::date, h.resolution FROM course_import.held_record h
        JOIN lms.learner l ON lower(l.email) = h.email_key JOIN lms.enrollment e ON e.learner_id = l.id""")
    assert completed is True
    assert "completed at the assignment" in resolution


def test_in_create_mode_a_completion_without_a_date_is_still_r05(dagbag, conn, landing, no_lock):
    drop(landing, "course/CARD-101/undated.csv", HEADER + "kim@example.org,Kim,Park,2026-05-04,1,,2.00,ama_pra_1,physician\n")

    run_import(dagbag, file="course/CARD-101/undated.csv")

    summary = summary_of(landing, "undated.csv")
    assert summary["status"] == "rejected"
    assert [(i["rule"], i["line"]) for i in summary["issues"] if i["severity"] == "error"] == [("R05", 2)]


def test_held_rows_are_still_checked_by_r11(dagbag, conn, landing, no_lock):
    drop(landing, "course/NEURO-201/new.csv", HEADER + "kim@example.org,Kim,Park,2026-05-04,0,,,,physician\n")

    run_import(dagbag, file="course/NEURO-201/new.csv", missing_learners="hold")

    summary = summary_of(landing, "new.csv")
    assert summary["status"] == "rejected"
    assert {i["rule"] for i in summary["issues"]} >= {"R11"}
    assert held(conn) == []


def test_assign_immediately_off_holds_known_learners_until_the_assignment_run(dagbag, conn, landing, no_lock):
    drop(landing, "course/CARD-101/later.csv", HEADER + "grace@example.org,Grace,Hopper,2026-05-04,1,2026-05-05,2.00,ama_pra_1,physician\n")
    enrollments = count(conn, "lms.enrollment")

    run_import(dagbag, file="course/CARD-101/later.csv", assign_immediately=False)

    assert summary_of(landing, "later.csv")["created"]["held_records"] == 1
    assert count(conn, "lms.enrollment") == enrollments
    run_assignment(dagbag)
    assert count(conn, "lms.enrollment") == enrollments + 1
    assert [status for *_, status in held(conn)] == ["assigned"]


def test_a_held_record_the_lms_now_contradicts_is_refused_with_the_reason(dagbag, conn, landing, no_lock):
    drop(landing, "course/CARD-101/held.csv", HEADER + "kim@example.org,Kim,Park,2026-05-04,1,2026-05-05,2.00,ama_pra_1,physician\n")
    run_import(dagbag, file="course/CARD-101/held.csv", missing_learners="hold")
    kim = add_learner(conn, "kim@example.org")
    with conn.cursor() as cur:  # meanwhile, Kim enrolled by hand, with another start date
        cur.execute("INSERT INTO lms.enrollment (learner_id, course_id, enrollment_start)"
                    " SELECT %s, id, '2026-06-01' FROM lms.course WHERE external_course_id = 'CARD-101'", (kim,))
    conn.commit()

    run_assignment(dagbag)

    [(status, resolution)] = rows_of(conn, "SELECT status, resolution FROM course_import.held_record")
    assert status == "refused"
    assert "(R13)" in resolution and "enrollment_start 2026-06-01" in resolution
    assert rows_of(conn, "SELECT count(*) FROM lms.enrollment WHERE learner_id = %s", (kim,)) == [(1,)]


@pytest.mark.parametrize("mode", ["create", "hold"])
def test_the_variable_sets_the_mode_and_the_param_overrides_it(dagbag, conn, landing, no_lock, monkeypatch, mode):
    monkeypatch.setenv("AIRFLOW_VAR_COURSE_RECORD_MISSING_LEARNERS", mode)
    drop(landing, "course/CARD-101/one.csv", HEADER + "kim@example.org,Kim,Park,2026-05-04,1,2026-05-05,2.00,ama_pra_1,physician\n")
    drop(landing, "course/CARD-101/two.csv", HEADER + "lee@example.org,Lee,Chan,2026-05-04,1,2026-05-05,2.00,ama_pra_1,physician\n")
    other = "hold" if mode == "create" else "create"

    run_import(dagbag, file="course/CARD-101/one.csv")
    run_import(dagbag, file="course/CARD-101/two.csv", missing_learners=other)

    held_by = {"create": 0, "hold": 1}
    assert summary_of(landing, "one.csv")["created"]["held_records"] == held_by[mode]
    assert summary_of(landing, "two.csv")["created"]["held_records"] == held_by[other]


def test_reverting_an_assignment_removes_its_records_and_refuses_them_for_good(dagbag, conn, landing, no_lock):
    from include.course_records import revert

    drop(landing, "course/CARD-101/held.csv", HEADER + "kim@example.org,Kim,Park,2026-05-04,1,2026-05-05,2.00,ama_pra_1,physician\n")
    run_import(dagbag, file="course/CARD-101/held.csv", missing_learners="hold")
    kim = add_learner(conn, "kim@example.org")
    run_assignment(dagbag)
    [(assignment,)] = rows_of(conn, "SELECT batch_id FROM course_import.ledger WHERE assigned_from IS NOT NULL")

    result = revert.revert_batch(conn, assignment, actor="test", reason="wrong partner file", lock_holder=lambda: None)

    assert result.counts(deleted=True)["enrollments"] == 1
    assert rows_of(conn, "SELECT count(*) FROM lms.enrollment WHERE learner_id = %s", (kim,)) == [(0,)]
    [(status, resolution)] = rows_of(conn, "SELECT status, resolution FROM course_import.held_record")
    assert status == "refused" and "was reverted" in resolution
    run_assignment(dagbag)
    assert rows_of(conn, "SELECT count(*) FROM lms.enrollment WHERE learner_id = %s", (kim,)) == [(0,)]
