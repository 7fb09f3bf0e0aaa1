"""The LMS schema migrations and the demo catalogue, on the real PostgreSQL."""

from __future__ import annotations

import contextlib
import io
import threading
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import psycopg2
import pytest

from include.course_records import cli, db
from tests.conftest import SERVER, rows_of


@pytest.fixture
def empty_database():
    """A database of its own with nothing in it, not even the schema; dropped afterwards."""
    name = f"course_records_empty_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(SERVER)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    uri = SERVER.rsplit("/", 1)[0] + "/" + name
    yield uri
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


def test_migrate_applies_every_migration_once_then_nothing(empty_database):
    conn = psycopg2.connect(empty_database)
    every = [name for _, name in db.migrations()]

    first = db.migrate(conn)
    second = db.migrate(conn)

    assert every and first == every
    assert second == []
    assert rows_of(conn, "SELECT version, name FROM course_import.schema_migration ORDER BY version") == \
        db.migrations()
    tables = {t for (t,) in rows_of(conn, "SELECT table_schema || '.' || table_name FROM information_schema.tables"
                                          " WHERE table_schema IN ('lms', 'course_import')")}
    assert {"lms.course", "lms.learner", "lms.enrollment", "lms.credit_record", "lms.credit_type",
            "lms.course_credit_type", "lms.course_object", "course_import.ledger"} <= tables
    conn.close()


def test_migrations_are_numbered_and_in_order():
    versions = [version for version, _ in db.migrations()]

    assert versions == sorted(set(versions))
    assert versions[0] == 1


def test_two_runners_migrating_at_once_apply_each_migration_once(empty_database):
    conns = [psycopg2.connect(empty_database), psycopg2.connect(empty_database)]
    applied: list[list[str]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run(conn):
        start.wait()
        try:
            applied.append(db.migrate(conn))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in conns]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(applied, key=len) == [[], [name for _, name in db.migrations()]]
    for conn in conns:
        conn.close()


def lms_contents(conn) -> dict[str, list[tuple]]:
    """Every row of every table of the lms schema (and the migration record), in a stable order."""
    tables = [t for (t,) in rows_of(conn, "SELECT table_schema || '.' || table_name FROM information_schema.tables"
                                          " WHERE table_schema = 'lms' AND table_type = 'BASE TABLE'")]
    tables.append("course_import.schema_migration")
    contents = {}
    for table in sorted(tables):
        [(n_columns,)] = rows_of(conn, "SELECT count(*) FROM information_schema.columns"
                                       " WHERE table_schema || '.' || table_name = %s", (table,))
        order = ", ".join(str(i) for i in range(1, n_columns + 1))
        contents[table] = rows_of(conn, f"SELECT * FROM {table} ORDER BY {order}")
    return contents


def init_db_demo() -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["init-db", "--demo"]) == cli.EXIT_OK
    return out.getvalue()


def test_init_db_demo_twice_leaves_the_same_state(conn):
    with db.transaction(conn) as cur:
        cur.execute("TRUNCATE lms.credit_record, lms.enrollment, lms.course_credit_type, lms.course_object,"
                    " lms.course, lms.learner, lms.credit_type RESTART IDENTITY CASCADE")
    init_db_demo()
    before = lms_contents(conn)

    said = init_db_demo()

    assert lms_contents(conn) == before
    assert "0 migration(s) applied, already up to date" in said
    assert sum(len(rows) for rows in before.values()) > 0
    assert len(before["lms.learner"]) == 3


def test_demo_catalogue_credit_types(conn):
    assert rows_of(conn, "SELECT machine_name, label FROM lms.credit_type ORDER BY machine_name") == sorted([
        ("ama_pra_1", "AMA PRA Category 1 Credit"), ("ancc", "ANCC contact hours"), ("acpe", "ACPE"),
        ("aapa_1", "AAPA Category 1"), ("abim_moc", "ABIM MOC points"), ("participation", "participation")])


def test_demo_catalogue_courses_and_their_pars_activity(conn):
    courses = rows_of(conn, """
        SELECT external_course_id, title, certificate_enabled, is_imported_shell,
               pars_provider_activity_id, pars_activity_type, pars_city, pars_state, pars_country,
               pars_hours_of_instruction, pars_ama_credits_designated, pars_providership
        FROM lms.course ORDER BY external_course_id""")

    assert courses == [
        ("CARD-101", "Cardiology Update", True, False, "101", "C", "Chicago", "IL", "USA",
         Decimal("2.0"), Decimal("2.00"), "Direct"),
        ("NEURO-201", "Stroke Care Essentials", True, False, "201", "IEM", None, None, None,
         Decimal("1.5"), Decimal("1.50"), "Direct"),
        ("PHARM-301", "Opioid Prescribing", True, False, "301", "IEM", None, None, None,
         Decimal("3.0"), Decimal("3.00"), "Joint"),
    ]


def test_demo_catalogue_required_course_objects(conn):
    objects = rows_of(conn, """
        SELECT c.external_course_id, lower(o.title), o.required
        FROM lms.course_object o JOIN lms.course c ON c.id = o.course_id ORDER BY 1""")

    assert [(course, required) for course, _, required in objects] == [
        ("CARD-101", True), ("NEURO-201", False), ("PHARM-301", True)]
    assert "post-test" in objects[0][1] and "video" in objects[1][1] and "post-test" in objects[2][1]


def test_demo_catalogue_credit_types_offered(conn):
    offers = rows_of(conn, """
        SELECT c.external_course_id, t.machine_name, o.max_credits, o.is_variable
        FROM lms.course_credit_type o JOIN lms.course c ON c.id = o.course_id
        JOIN lms.credit_type t ON t.id = o.credit_type_id ORDER BY 1, 2""")

    assert offers == [
        ("CARD-101", "ama_pra_1", Decimal("2.00"), False),
        ("CARD-101", "ancc", Decimal("2.00"), True),
        ("CARD-101", "participation", Decimal("2.00"), True),
        ("NEURO-201", "ama_pra_1", Decimal("1.50"), False),
        ("PHARM-301", "abim_moc", Decimal("3.00"), False),
        ("PHARM-301", "acpe", Decimal("3.00"), False),
        ("PHARM-301", "ama_pra_1", Decimal("3.00"), True),
    ]


def test_demo_catalogue_learners(conn):
    assert rows_of(conn, "SELECT email, external_user_id, first_name, last_name FROM lms.learner ORDER BY email") == [
        ("ada@example.org", "U1001", "Ada", "Lovelace"),
        ("alan@example.org", "U1003", "Alan", "Turing"),
        ("grace@example.org", "U1002", "Grace", "Hopper"),
    ]


def test_demo_catalogue_enrollments_of_ada_and_alan_only(conn):
    enrollments = rows_of(conn, """
        SELECT l.email, c.external_course_id, e.enrollment_start, e.enrollment_end, e.complete, e.date_completed,
               e.attended, e.participant_category, e.import_batch, e.import_source
        FROM lms.enrollment e JOIN lms.learner l ON l.id = e.learner_id JOIN lms.course c ON c.id = e.course_id
        ORDER BY 1""")

    assert enrollments == [
        ("ada@example.org", "CARD-101", datetime(2026, 3, 1, tzinfo=UTC), None, True,
         datetime(2026, 3, 2, tzinfo=UTC), None, "physician", None, None),
        ("alan@example.org", "NEURO-201", datetime(2026, 4, 1, tzinfo=UTC), None, False,
         None, None, None, None, None),
    ]


def test_demo_catalogue_credit_record_of_ada_only(conn):
    records = rows_of(conn, """
        SELECT l.email, c.external_course_id, t.machine_name, r.credits, r.credit_expiration,
               r.import_batch, r.import_source
        FROM lms.credit_record r JOIN lms.enrollment e ON e.id = r.enrollment_id
        JOIN lms.learner l ON l.id = e.learner_id JOIN lms.course c ON c.id = e.course_id
        JOIN lms.credit_type t ON t.id = r.credit_type_id""")

    assert records == [("ada@example.org", "CARD-101", "ama_pra_1", Decimal("2.00"), None, None, None)]


def test_demo_catalogue_has_no_shells_and_no_ledger(conn):
    assert rows_of(conn, "SELECT count(*) FROM lms.course WHERE is_imported_shell") == [(0,)]
    assert rows_of(conn, "SELECT count(*) FROM course_import.ledger") == [(0,)]
