"""Mail the people who must act when the importer locks or a file is rejected.

Both are Airflow notifiers (the Task SDK's BaseNotifier), set as task failure callbacks in the
import DAG: `FileRejectedNotifier` on `file_rejected`, `ImporterLockedNotifier` on the two load
tasks. They send through the smtp provider's SmtpNotifier, over the Airflow connection
`smtp_default` (or COURSE_RECORD_SMTP_CONN_ID), to the addresses in the Airflow Variable
`course_record_notify_emails` (comma-separated). With no address configured, nothing is sent.

The messages quote file names, rule messages and lock reasons, which come from the files: they
are escaped into the HTML and never rendered as templates (SmtpNotifier renders its fields as
Jinja when called as a callback, which is why these notifiers call its `notify` directly).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseNotifier

from include.course_records import settings

log = logging.getLogger(__name__)

_ADDRESS_SEPARATORS = re.compile(r"[,;\s]+")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


@dataclass(frozen=True)
class Mail:
    subject: str
    html: str


def recipients() -> list[str]:
    """The addresses in the Variable `course_record_notify_emails`; none when it is unset or empty."""
    from airflow.sdk import Variable

    raw = Variable.get(settings.NOTIFY_VARIABLE, default=None) or ""
    return [address for address in _ADDRESS_SEPARATORS.split(raw) if address]


def send(mail: Mail, context: Any) -> bool:
    """Send to the configured recipients; False (and a log line) when there are none."""
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    to = recipients()
    if not to:
        log.info("no notification sent (%s): set the Airflow Variable %s to the addresses to tell",
                 mail.subject, settings.NOTIFY_VARIABLE)
        return False
    SmtpNotifier(to=to, subject=mail.subject, html_content=mail.html,
                 smtp_conn_id=settings.smtp_conn_id()).notify(context)
    log.info("notified %s: %s", ", ".join(to), mail.subject)
    return True


def run_url(run_id: str, dag_id: str = settings.IMPORT_DAG_ID) -> str:
    return f"{settings.airflow_url()}/dags/{dag_id}/runs/{quote(run_id, safe='')}"


def _subject(text: str) -> str:
    """One header line: no line breaks or control characters from a file name, not too long."""
    line = _UNPRINTABLE.sub(" ", text).strip()
    return line if len(line) <= 200 else line[:199] + "…"


def _render(template: str, **values: Any) -> str:
    from include.course_records.pages import render

    return render(template, **values)


def rejection_mail(ticket: dict[str, Any], outcome: dict[str, Any]) -> Mail:
    """What a rejected file's mail says: the file, why (the first errors), where to read more."""
    errors = int(outcome.get("errors") or 0)
    return Mail(
        subject=_subject(f"Course records: REJECTED {ticket['file']} ({errors} error{'s' if errors != 1 else ''})"),
        html=_render("mail_rejected.html", ticket=ticket, outcome=outcome, errors=errors,
                     batch_url=settings.ops_url("batches", ticket["batch"]), run_url=run_url(ticket["run_id"]),
                     rules_url=settings.ops_url("file-format")),
    )


def lock_mail(held: dict[str, Any], dag_id: str = settings.IMPORT_DAG_ID) -> Mail:
    """What the lock's mail says: what locked the importer and why, and how to unlock it."""
    batch = (held.get("diagnosis") or {}).get("batch")
    return Mail(
        subject=_subject(f"Course records: IMPORTER LOCKED by {held.get('file') or 'an admin'}"),
        html=_render("mail_locked.html", lock=held,
                     page_url=settings.ops_url(), batch_url=settings.ops_url("batches", batch) if batch else None,
                     run_url=run_url(held["run_id"], dag_id) if held.get("run_id") else None,
                     unlock_url=f"{settings.airflow_url()}/dags/{settings.UNLOCK_DAG_ID}"),
    )


class FileRejectedNotifier(BaseNotifier):
    """On the `file_rejected` task, which fails exactly when a file was rejected."""

    template_fields = ()  # nothing here is a template: the content quotes the file

    def notify(self, context: Any) -> None:
        ti = context["ti"]
        ticket = ti.xcom_pull(task_ids="resolve_request")
        outcome = ti.xcom_pull(task_ids="validate_file")
        if ticket and outcome:  # a load may have checked the file again and rejected it then
            from include.course_records import pipeline

            loader = pipeline.choose_path(ticket, outcome)
            if loader.startswith("load_"):
                outcome = pipeline.outcome_now(outcome, ti.xcom_pull(task_ids=loader))
        if ticket and outcome and outcome.get("status") == "rejected":
            send(rejection_mail(ticket, outcome), context)


class ImporterLockedNotifier(BaseNotifier):
    """On the load tasks (and the assignment of held records): tells when this run's failed load
    locked the importer (not when it found the importer already locked by someone else, who was
    told then)."""

    template_fields = ()

    def notify(self, context: Any) -> None:
        from include.course_records import lock

        held = lock.current()
        if held and held.get("run_id") == context["run_id"]:
            send(lock_mail(held, context["dag"].dag_id), context)
