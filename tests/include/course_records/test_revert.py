"""Reverting a loaded batch, on the real LMS database: what goes, what stays and why, and the ledger.

Batches are loaded through the import DAG's own task functions (validate, load, archive), in
this process; the command line runs as ops run it, in a subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from include.course_records import pars, pipeline, revert
from include.course_records.errors import UsageError
from tests.conftest import REPO, drop, rows_of
from tests.include.course_records.test_pars import uploaded

DEMO = (REPO / "demo/course/CARD-101/card-101-2026.csv").read_text()
GLOBAL_DEMO = (REPO / "demo/global/legacy-history.csv").read_text()
GLOBAL_HEADER = "external_course_id,title,external_email,first_name,last_name,enrollment_start,complete,date_completed,credits,credit_type\n"
LMS = ("lms.learner", "lms.course", "lms.course_object", "lms.course_credit_type", "lms.enrollment", "lms.credit_record")


def load(landing, relative: str, text: str) -> str:
    """Load a file exactly as the import DAG's tasks do; returns its batch id."""
    drop(landing, relative, text)
    ticket = pipeline.resolve_request({"file": relative}, f"manual__{relative}", None)
    outcome = pipeline.validate(ticket)
    assert outcome["status"] == "accepted", outcome
    pipeline.archive_file(ticket, outcome, pipeline.load(ticket, outcome))
    return ticket["batch"]


def lms_state(conn) -> dict[str, list[tuple]]:
    """Every row of every LMS table, in id order: equal states are equal LMSs."""
    return {table: rows_of(conn, f"SELECT * FROM {table} ORDER BY 1, 2") for table in LMS}


def ledger(conn, batch: str) -> dict:
    [row] = rows_of(conn, "SELECT status, reverted_by, revert_reason, reverted_at IS NOT NULL, revert_counts, revert_kept"
                          " FROM course_import.ledger WHERE batch_id = %s", (batch,))
    return dict(zip(("status", "reverted_by", "reason", "reverted_at_set", "counts", "kept"), row, strict=True))


def pars_counts(conn, course: str = "CARD-101", year: int = 2026) -> tuple[int, int, int]:
    """(physicians, other learners, not counted as global imports) of a course in the year's PARS report;
    the activity file to upload says the same."""
    report = pars.build_report(conn, year)
    [found] = [r for r in report.activities if r.activity.external_course_id == course]
    exported = uploaded(report)[found.activity.provider_activity_id]
    assert (exported["physicians"], exported["other"]) == (str(found.counts.physicians),
                                                           str(found.counts.other_learners))
    return found.counts.physicians, found.counts.other_learners, found.counts.global_import


def revert_now(conn, batch: str, **options) -> revert.Revert:
    return revert.revert_batch(conn, batch, actor=options.pop("actor", "ops@test"),
                               reason=options.pop("reason", "wrong file"), lock_holder=lambda: None, **options)


def test_a_course_level_batch_is_undone_exactly_and_pars_no_longer_counts_it(conn, landing, no_lock):
    before = lms_state(conn)
    assert pars_counts(conn, "CARD-101") == (1, 0, 0)  # the demo's Ada
    batch = load(landing, "course/CARD-101/card-101-2026.csv", DEMO)
    assert pars_counts(conn, "CARD-101") == (3, 1, 0)

    done = revert_now(conn, batch, actor="dana (command line)", reason="wrong course folder")

    assert lms_state(conn) == before
    assert pars_counts(conn, "CARD-101") == (1, 0, 0)
    assert done.counts(deleted=True) == {"held_records": 0, "credit_records": 4, "enrollments": 3, "learners": 2, "courses": 0}
    assert done.kept == []
    assert ledger(conn, batch) == {
        "status": "reverted", "reverted_by": "dana (command line)", "reason": "wrong course folder",
        "reverted_at_set": True, "kept": [],
        "counts": {"deleted": {"held_records": 0, "credit_records": 4, "enrollments": 3, "learners": 2, "courses": 0},
                   "kept": {"held_records": 0, "credit_records": 0, "enrollments": 0, "learners": 0, "courses": 0}}}
    assert list((landing / "archive").rglob("*-card-101-2026.csv")), "the archived file is never deleted"


def test_a_global_batch_takes_its_shell_and_new_learner_but_never_what_it_did_not_create(conn, landing, no_lock):
    before = lms_state(conn)
    batch = load(landing, "global/legacy-history.csv", GLOBAL_DEMO)
    assert pars_counts(conn, "CARD-101") == (1, 0, 1)  # Alan's legacy completion is shown as not counted

    done = revert_now(conn, batch)

    assert lms_state(conn) == before  # Alan, CARD-101 and the demo's records untouched
    assert pars_counts(conn, "CARD-101") == (1, 0, 0)
    assert done.counts(deleted=True) == {"held_records": 0, "credit_records": 2, "enrollments": 2, "learners": 1, "courses": 1}
    assert [(i.kind, i.label) for i in done.items if i.kind in ("learners", "courses")] == [
        ("learners", "barbara@example.org"), ("courses", 'LEGACY-2019-ECG "ECG Interpretation (2019 archive)"')]


def test_a_learner_and_a_shell_a_later_batch_used_stay_and_the_revert_says_why(conn, landing, no_lock):
    first = load(landing, "global/first.csv", GLOBAL_HEADER
                 + "LEG-1,Old course,nova@example.org,Nova,Star,2020-01-01,1,2020-01-02,1.00,ama_pra_1\n"
                 + "LEG-2,Other old course,nova@example.org,Nova,Star,2020-02-01,0,,,\n")
    later = load(landing, "global/later.csv", GLOBAL_HEADER
                 + "NEURO-201,Stroke Care Essentials,nova@example.org,Nova,Star,2021-01-01,0,,,\n"
                 + "LEG-1,Old course,grace@example.org,Grace,Hopper,2021-01-01,0,,,\n")
    later_rows = rows_of(conn, "SELECT * FROM lms.enrollment WHERE import_batch = %s ORDER BY id", (later,))

    done = revert_now(conn, first)

    kept = {(i.kind, i.label): i.kept_because for i in done.kept}
    assert kept == {("learners", "nova@example.org"): f"enrolled in NEURO-201 by batch {later}",
                    ("courses", 'LEG-1 "Old course"'): f"1 enrollment(s) by batch {later}"}
    assert done.counts(deleted=True) == {"held_records": 0, "credit_records": 1, "enrollments": 2, "learners": 0, "courses": 1}
    assert rows_of(conn, "SELECT external_course_id FROM lms.course WHERE import_batch = %s", (first,)) == [("LEG-1",)]
    assert rows_of(conn, "SELECT count(*) FROM lms.enrollment WHERE import_batch = %s", (first,)) == [(0,)]
    assert rows_of(conn, "SELECT * FROM lms.enrollment WHERE import_batch = %s ORDER BY id", (later,)) == later_rows
    record = ledger(conn, first)
    assert record["counts"]["kept"] == {"held_records": 0, "credit_records": 0, "enrollments": 0, "learners": 1, "courses": 1}
    assert sorted((k["kind"], k["kept_because"]) for k in record["kept"]) == [
        ("courses", f"1 enrollment(s) by batch {later}"), ("learners", f"enrolled in NEURO-201 by batch {later}")]


def test_what_was_changed_by_hand_keeps_the_rows_it_uses(conn, landing, no_lock):
    batch = load(landing, "global/two-shells.csv", GLOBAL_HEADER
                 + "LEG-A,Course given objects,ann@example.org,Ann,Lee,2020-01-01,1,2020-01-02,1.00,ama_pra_1\n"
                 + "LEG-B,Course given credit,bo@example.org,Bo,Ek,2020-01-01,1,2020-01-02,1.00,ama_pra_1\n"
                 + "LEG-C,Course made real,cy@example.org,Cy,Ek,2020-01-01,0,,,\n")
    with conn.cursor() as cur:  # what an LMS admin might have done since, outside the importer
        cur.execute("INSERT INTO lms.course_object (course_id, title) SELECT id, 'Handout' FROM lms.course"
                    " WHERE external_course_id = 'LEG-A'")
        cur.execute("""INSERT INTO lms.credit_record (enrollment_id, credit_type_id, credits)
                       SELECT e.id, t.id, 1.00 FROM lms.enrollment e JOIN lms.learner l ON l.id = e.learner_id,
                       lms.credit_type t WHERE l.email = 'bo@example.org' AND t.machine_name = 'participation'""")
        cur.execute("UPDATE lms.course SET is_imported_shell = false WHERE external_course_id = 'LEG-C'")
        cur.execute("INSERT INTO lms.enrollment (learner_id, course_id) SELECT l.id, c.id FROM lms.learner l, lms.course c"
                    " WHERE l.email = 'ann@example.org' AND c.external_course_id = 'PHARM-301'")
    conn.commit()

    done = revert_now(conn, batch)

    assert {(i.kind, i.label): i.kept_because for i in done.kept} == {
        ("enrollments", "bo@example.org in LEG-B"):
            "it holds credit records from outside this batch: participation (outside the importer)",
        ("learners", "ann@example.org"): "enrolled in PHARM-301 outside the importer",
        ("learners", "bo@example.org"): "enrolled in LEG-B by this batch (that enrollment stays)",
        ("courses", 'LEG-A "Course given objects"'): "1 course object(s)",
        ("courses", 'LEG-B "Course given credit"'): "1 enrollment(s) by this batch (they stay)",
        ("courses", 'LEG-C "Course made real"'): "it is a real course now, no longer an imported shell",
    }
    assert done.counts(deleted=True) == {"held_records": 0, "credit_records": 2, "enrollments": 2, "learners": 1, "courses": 0}
    assert rows_of(conn, "SELECT count(*) FROM lms.credit_record WHERE import_batch = %s", (batch,)) == [(0,)]
    assert rows_of(conn, "SELECT t.machine_name FROM lms.credit_record r JOIN lms.credit_type t ON t.id = r.credit_type_id"
                         " JOIN lms.enrollment e ON e.id = r.enrollment_id JOIN lms.learner l ON l.id = e.learner_id"
                         " WHERE l.email = 'bo@example.org'") == [("participation",)]


def test_records_still_held_for_learners_without_an_account_go_and_assigned_ones_stay(conn, landing, no_lock):
    batch = load(landing, "course/CARD-101/card-101-2026.csv", DEMO)
    with conn.cursor() as cur:  # what a hold-mode load of the batch leaves in the holding table
        cur.execute("""INSERT INTO course_import.held_record (import_batch, line, importer, course_key, external_user_id,
                                                              email, email_key, complete, status, assigned_batch)
                       VALUES (%(b)s, 10, 'course', 'CARD-101', NULL, 'Wait@Example.org', 'wait@example.org', false, 'held', NULL),
                              (%(b)s, 7, 'course', 'CARD-101', 'U7001', NULL, NULL, false, 'held', NULL),
                              (%(b)s, 8, 'course', 'CARD-101', 'U8001', NULL, NULL, false, 'assigned', 'B-LATER'),
                              ('OTHER', 7, 'course', 'CARD-101', 'U7001', NULL, NULL, false, 'held', NULL)""",
                    {"b": batch})
    conn.commit()

    done = revert_now(conn, batch)

    assert [(i.label, i.kept_because) for i in done.items if i.kind == "held_records"] == [
        ("line 7: U7001 in CARD-101", None),
        ("line 8: U8001 in CARD-101", "already assigned by batch B-LATER: revert that batch to undo it"),
        ("line 10: Wait@Example.org in CARD-101", None)]
    assert rows_of(conn, "SELECT import_batch, line, status FROM course_import.held_record ORDER BY 1, 2") == [
        (batch, 8, "assigned"), ("OTHER", 7, "held")]
    assert ledger(conn, batch)["counts"]["deleted"]["held_records"] == 2


def test_a_learner_known_only_by_their_sso_id_is_listed_by_it(conn, landing, no_lock):
    batch = load(landing, "course/CARD-101/ids.csv", "external_user_id,first_name,last_name,enrollment_start,complete\n"
                                                     "U9001,Nova,Star,2026-06-01,0\n")

    dry = revert_now(conn, batch, dry_run=True)

    assert revert.describe(dry)[1:] == ["  delete enrollment U9001 in CARD-101", "  delete learner U9001"]


def test_a_dry_run_lists_exactly_what_the_revert_then_does_and_changes_nothing(conn, landing, no_lock):
    batch = load(landing, "global/legacy-history.csv", GLOBAL_DEMO)
    later = load(landing, "course/PHARM-301/later.csv",  # Barbara, created by the global batch, is used by a later one
         "external_email,first_name,last_name,enrollment_start,complete\nbarbara@example.org,Barbara,Liskov,2026-06-01,0\n")
    loaded = lms_state(conn)

    dry = revert_now(conn, batch, dry_run=True)

    assert lms_state(conn) == loaded
    assert ledger(conn, batch)["status"] == "loaded"
    lines = revert.describe(dry)
    assert lines[0].startswith(f"dry run — nothing was changed. Reverting batch {batch} (global/legacy-history.csv, "
                               "global importer")
    assert lines[0].endswith("would delete 2 credit records, 2 enrollments and 1 course shell; it would keep 1 learner, "
                             "still used outside the batch:")
    assert lines[1:] == [
        "  delete credit record alan@example.org in CARD-101: ama_pra_1 2.00",
        "  delete credit record barbara@example.org in LEGACY-2019-ECG: ama_pra_1 1.00",
        "  delete enrollment alan@example.org in CARD-101",
        "  delete enrollment barbara@example.org in LEGACY-2019-ECG",
        f"  keep   learner barbara@example.org — enrolled in PHARM-301 by batch {later}",
        '  delete course shell LEGACY-2019-ECG "ECG Interpretation (2019 archive)"',
    ]

    done = revert_now(conn, batch)

    assert done.items == dry.items


def test_refused_while_locked_or_not_loaded_and_nothing_changes(conn, landing, no_lock):
    batch = load(landing, "course/CARD-101/card-101-2026.csv", DEMO)
    loaded = lms_state(conn)
    held = {"file": "course/CARD-101/other.csv", "run_id": "manual__1", "reason": "loading other.csv failed",
            "time": "2026-11-29T08:00:00+00:00"}

    with pytest.raises(revert.RevertRefused, match=r"importer is locked .* by course/CARD-101/other.csv .*"
                                                   r"loading other.csv failed — nothing was reverted"):
        revert.revert_batch(conn, batch, actor="ops", reason="wrong file", lock_holder=lambda: held)
    assert lms_state(conn) == loaded
    assert ledger(conn, batch)["status"] == "loaded"

    looked = revert.revert_batch(conn, batch, actor="ops", reason="look", dry_run=True, lock_holder=lambda: held)
    assert "the revert itself is refused until it is unlocked" in revert.describe(looked)[-1]
    assert lms_state(conn) == loaded

    with pytest.raises(UsageError, match="a reason is required"):
        revert_now(conn, batch, reason=" \n ")
    with pytest.raises(revert.RevertRefused, match="there is no batch 'nope' in the ledger"):
        revert_now(conn, "nope")
    revert_now(conn, batch, actor="dana", reason="wrong file")
    with pytest.raises(revert.RevertRefused, match=rf"batch {batch} .* was already reverted at .* by dana: wrong file"):
        revert_now(conn, batch)


def test_a_batch_that_loaded_nothing_is_refused(conn, landing, no_lock):
    drop(landing, "course/CARD-101/bad.csv", "external_email,complete\ngrace@example.org,yes\n")
    ticket = pipeline.resolve_request({"file": "course/CARD-101/bad.csv"}, "manual__bad", None)
    assert pipeline.validate(ticket)["status"] == "rejected"

    with pytest.raises(revert.RevertRefused, match=rf"batch {ticket['batch']} \(course/CARD-101/bad.csv\) is rejected, "
                                                   "not loaded: it put nothing in the LMS"):
        revert_now(conn, ticket["batch"])


def test_a_row_of_an_unknown_table_that_refers_to_the_batch_stops_the_whole_revert(conn, landing, no_lock):
    batch = load(landing, "course/CARD-101/card-101-2026.csv", DEMO)
    with conn.cursor() as cur:  # say a certificate table the revert does not know about
        cur.execute("CREATE TABLE lms.test_certificate (enrollment_id bigint REFERENCES lms.enrollment (id))")
        cur.execute("INSERT INTO lms.test_certificate SELECT id FROM lms.enrollment WHERE import_batch = %s LIMIT 1",
                    (batch,))
    conn.commit()
    loaded = lms_state(conn)
    try:
        with pytest.raises(revert.RevertRefused, match=r"enrollments cannot go, something else in the LMS refers to "
                                                       r"them \(Key \(id\)=\(\d+\) is still referenced from table "
                                                       r"\"test_certificate\".\); nothing was reverted"):
            revert_now(conn, batch)
        assert lms_state(conn) == loaded
        assert ledger(conn, batch)["status"] == "loaded"
    finally:
        with conn.cursor() as cur:
            cur.execute("DROP TABLE lms.test_certificate")
        conn.commit()


# --- the command line -----------------------------------------------------------------------

def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "include.course_records", *args], cwd=REPO,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=180, check=False)


def airflow_cli(*args: str) -> None:
    """`airflow …` as an admin types it: the Variable goes into Airflow's metadata database, whatever
    this test process did before (after a dag.test(), Airflow's models route Variables elsewhere)."""
    subprocess.run([str(REPO / ".venv/bin/airflow"), *args], cwd=REPO, check=True, capture_output=True, timeout=180)


def test_cli_dry_run_then_revert_then_refusal(conn, landing, no_lock):
    batch = load(landing, "course/CARD-101/card-101-2026.csv", DEMO)
    loaded = lms_state(conn)

    dry = run_cli("revert-batch", batch, "--reason", "wrong folder", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[0].startswith(f"dry run — nothing was changed. Reverting batch {batch}")
    assert "  delete credit record katherine@example.org in CARD-101: ancc 1.50" in dry.stdout.splitlines()
    assert lms_state(conn) == loaded

    done = run_cli("revert-batch", batch, "--reason", "wrong folder")
    assert done.returncode == 0, done.stderr
    assert f"reverted batch {batch}" in done.stdout
    assert "deleted 4 credit records, 3 enrollments and 2 learners; nothing stayed." in done.stdout
    record = ledger(conn, batch)
    assert (record["status"], record["reason"]) == ("reverted", "wrong folder")
    assert record["reverted_by"].endswith("(command line)")

    again = run_cli("revert-batch", batch, "--reason", "wrong folder")
    assert again.returncode == 1
    assert again.stderr.startswith(f"refused: batch {batch} (course/CARD-101/card-101-2026.csv) was already reverted")
    assert "Traceback" not in again.stderr


def test_cli_refuses_while_the_importer_is_locked_in_airflow(conn, landing, no_lock):
    batch = load(landing, "course/CARD-101/card-101-2026.csv", DEMO)
    loaded = lms_state(conn)
    airflow_cli("variables", "set", "course_record_import_lock",
                json.dumps({"reason": "checking a suspicious file", "time": "2026-11-29T08:00:00+00:00"}))
    try:
        done = run_cli("revert-batch", batch, "--reason", "wrong folder")
    finally:
        airflow_cli("variables", "delete", "course_record_import_lock")

    assert done.returncode == 1, done.stdout + done.stderr
    assert "refused: the importer is locked since 2026-11-29T08:00:00+00:00 by an admin: checking a suspicious file" \
        in done.stderr
    assert lms_state(conn) == loaded
    assert ledger(conn, batch)["status"] == "loaded"


@pytest.mark.parametrize(("args", "env", "message"), [
    (("revert-batch", "B1", "--reason", "  "), {}, "error: --reason must say why"),
    (("revert-batch", "B1"), {}, "error: the following arguments are required: --reason"),
    (("revert-batch", "B1", "--reason", "x"), {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "sqlite:////nonexistent/airflow.db"},
     "error: cannot read the import lock (Airflow Variable course_record_import_lock): OperationalError"),
], ids=["blank-reason", "no-reason", "no-airflow-database"])
def test_cli_usage_and_environment_errors_are_exit_2_without_a_traceback(conn, no_lock, args, env, message):
    done = run_cli(*args, **env)

    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_revert_killed_mid_transaction_leaves_the_batch_whole(conn, landing, no_lock, tmp_path):
    from include.course_records import db

    batch = load(landing, "global/legacy-history.csv", GLOBAL_DEMO)
    loaded = lms_state(conn)
    blocker = db.connect()  # holds the batch's learner, so the revert stops inside its transaction, at that row
    with blocker.cursor() as cur:
        cur.execute("SELECT 1 FROM lms.learner WHERE email = 'barbara@example.org' FOR UPDATE")
    log = (tmp_path / "revert.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "include.course_records", "revert-batch", batch,
                                "--reason", "killed"], cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        backend, deadline = None, time.time() + 120
        while backend is None and time.time() < deadline:  # records and enrollments already deleted by then
            found = rows_of(conn, "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                                  " AND query LIKE '%%WITH batch_learner AS%%'"
                                  " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")
            backend = found[0][0] if found else None
            assert process.poll() is None, (tmp_path / "revert.log").read_text()[-3000:]
            time.sleep(0.1)
        assert backend, "the revert never reached the learners"
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
        blocker.rollback()  # the revert's statement goes on, finds its client gone, and rolls back
        blocker.close()
    while backend and rows_of(conn, "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (backend,)) \
            and time.time() < deadline:
        time.sleep(0.2)

    assert lms_state(conn) == loaded
    assert ledger(conn, batch)["status"] == "loaded"

    assert revert_now(conn, batch).counts(deleted=True) == {"held_records": 0, "credit_records": 2, "enrollments": 2,
                                                            "learners": 1, "courses": 1}
