"""Notifications: mail through a real SMTP server on loopback (aiosmtpd), from real import runs."""

from __future__ import annotations

import email
import json
import socket
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller

from include.course_records import notify
from tests.conftest import REPO, drop

HEADER = "external_email,first_name,last_name,enrollment_start,complete,date_completed,credits,credit_type,participant_category\n"
BAD = HEADER + "grace@example.org,Grace,Hopper,2026-05-04,0,,2.00,ama_pra_1,physician\n"  # R06 on line 2
DEMO = (REPO / "demo/course/CARD-101/card-101-2026.csv").read_text()


class Inbox:
    """What the SMTP server received: (envelope recipients, parsed message)."""

    def __init__(self) -> None:
        self.mails: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):  # the handler API aiosmtpd calls
        self.mails.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content, policy=default_policy)))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def inbox(monkeypatch):
    """A real SMTP server on loopback, and the smtp_default connection pointing at it."""
    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=_free_port())
    controller.start()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": controller.port,
        "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "airflow@lms.example.org",
                  "retry_limit": 0, "timeout": 10}}))
    yield box
    controller.stop()


@pytest.fixture
def recipients(monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_COURSE_RECORD_NOTIFY_EMAILS", "ops@lms.example.org, data-team@lms.example.org")
    return ["ops@lms.example.org", "data-team@lms.example.org"]


def run_import(dagbag, **conf):
    return dagbag.get_dag("course_record_import").test(
        run_conf={"importer": None, "course": None, "dry_run": False, "load_valid_rows": False, **conf})


def html_of(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def batch_of(landing) -> str:
    [report] = list((landing / "reports").glob("*/summary.json"))
    return report.parent.name


def test_a_rejected_file_is_mailed_with_its_reason_and_a_link(dagbag, conn, landing, no_lock, inbox, recipients):
    drop(landing, "course/CARD-101/may.csv", BAD)

    assert run_import(dagbag, file="course/CARD-101/may.csv").state == "failed"

    [(to, mail)] = inbox.mails
    assert sorted(to) == sorted(recipients)
    assert mail["From"] == "airflow@lms.example.org"
    assert mail["Subject"] == "Course records: REJECTED course/CARD-101/may.csv (1 error)"
    body = html_of(mail)
    assert "course/CARD-101/may.csv" in body and "rejected" in body
    assert 'line 2, credits: "2.00" on a record that is not complete (complete=0)' in body.replace("&#34;", '"')
    assert "(R06)" in body
    batch_url = f"http://localhost:8080/course-records/batches/{batch_of(landing)}"
    assert f'href="{batch_url}"' in body
    assert 'href="http://localhost:8080/course-records/file-format"' in body


def test_a_load_that_locks_the_importer_is_mailed_with_the_cause(dagbag, conn, landing, no_lock, inbox, recipients):
    drop(landing, "course/CARD-101/card-101-2026.csv", DEMO)
    with conn.cursor() as cur:
        cur.execute("""CREATE FUNCTION lms.test_fault() RETURNS trigger LANGUAGE plpgsql AS
                       $$ BEGIN RAISE EXCEPTION 'credit_record storage is failing (injected fault)'; END $$;
                       CREATE TRIGGER test_fault BEFORE INSERT ON lms.credit_record
                       FOR EACH ROW EXECUTE FUNCTION lms.test_fault()""")
    conn.commit()
    try:
        assert run_import(dagbag, file="course/CARD-101/card-101-2026.csv").state == "failed"
    finally:
        with conn.cursor() as cur:
            cur.execute("DROP TRIGGER test_fault ON lms.credit_record; DROP FUNCTION lms.test_fault()")
        conn.commit()

    [(to, mail)] = inbox.mails
    assert sorted(to) == sorted(recipients)
    assert mail["Subject"] == "Course records: IMPORTER LOCKED by course/CARD-101/card-101-2026.csv"
    body = html_of(mail)
    assert "course/CARD-101/card-101-2026.csv" in body and "locked" in body
    assert "credit_record storage is failing (injected fault)" in body
    assert 'href="http://localhost:8080/course-records"' in body  # the lock and the waiting files
    assert 'href="http://localhost:8080/dags/course_record_unlock"' in body
    assert f'href="http://localhost:8080/course-records/batches/{batch_of(landing)}"' in body


def test_a_run_stopped_by_an_existing_lock_sends_nothing(dagbag, conn, landing, no_lock, inbox, recipients):
    from airflow.models.variable import Variable

    Variable.set("course_record_import_lock", json.dumps({"reason": "maintenance", "time": "2026-11-29T08:00:00+00:00"}))
    drop(landing, "course/CARD-101/card-101-2026.csv", DEMO)

    assert run_import(dagbag, file="course/CARD-101/card-101-2026.csv").state == "failed"

    assert inbox.mails == []  # whoever set the lock knows; each waiting file is not news


def test_without_recipients_nothing_is_sent(dagbag, conn, landing, no_lock, inbox, monkeypatch):
    monkeypatch.delenv("AIRFLOW_VAR_COURSE_RECORD_NOTIFY_EMAILS", raising=False)
    drop(landing, "course/CARD-101/may.csv", BAD)

    assert run_import(dagbag, file="course/CARD-101/may.csv").state == "failed"

    assert inbox.mails == []


def test_hostile_file_names_and_values_stay_text_in_the_mail(dagbag, conn, landing, no_lock, inbox, recipients):
    name = "course/CARD-101/<img src=x onerror=alert(1)>{{ 7 * 7 }}.csv"
    drop(landing, name, HEADER + "ann@example.org,Ann,Lee,2026-05-04,1,2026-05-05,<b>2</b>,ama_pra_1,physician\n")

    assert run_import(dagbag, file=name).state == "failed"

    [(_, mail)] = inbox.mails
    body = html_of(mail)
    assert "<img" not in body and "<b>" not in body
    # the name as text, the braces as typed: escaped, and never rendered as a template
    assert "course/CARD-101/&lt;img src=x onerror=alert(1)&gt;{{ 7 * 7 }}.csv" in body
    assert "&lt;b&gt;2&lt;/b&gt;" in body  # the credits value, quoted by the R07 message
    assert "{{ 7 * 7 }}" in mail["Subject"] and "\n" not in mail["Subject"]


def test_subject_lines_never_carry_line_breaks():
    mail = notify.rejection_mail(
        {"file": "global/a\r\nBcc: everyone@example.org.csv", "batch": "b", "run_id": "r"},
        {"errors": 2, "first_errors": [], "rows": {"total": 2, "rejected": 2}})
    assert "\r" not in mail.subject and "\n" not in mail.subject
    assert mail.subject == "Course records: REJECTED global/a Bcc: everyone@example.org.csv (2 errors)"
