"""A PARS test catalogue, built on the demo catalogue in the test database, and helpers to shape it.

The provider is in Chicago. Beside the demo's three 2026 activities it holds, for 2025 and 2026:

    SUMMIT-25   2501  C    Dec 2025, Chicago, direct, MOC (ABIM) + CME Finder, commercial support;
                           completions on 6 Dec, on New Year's Eve 23:30 Chicago (1 Jan UTC) and on
                           3 Jan 2026; a global import, a record without start, one without
                           category, one incomplete, and Dana Scully under two e-mail addresses
    GR-2025     2502  RSS  Jul 2025 – Jun 2026, Boston, joint: three session courses (GR-2025 is
                           the first), one learner at every session, one at two, one late record
    ECG-EM      2401  IEM  Mar 2024 – Feb 2027, CME Finder: completions in 2024, 2025 and 2026
                           (the last at 23:00 Chicago on 31 Dec, 1 Jan UTC)
    IPE-TEAM    2503  C    Feb 2026, Denver, Joint Accreditation (JA-PARS)
    TOX-26      2504  C    May 2026: no city, country "US", designates more than it offers, joint
                           without joint providers, commercial support unanswered
    JCLUB       —     —    no PARS fields at all, one record that counts in 2026
    LEGACY-ECG-2019        an imported shell with a course-level record and a global one in 2026
"""

from __future__ import annotations

from typing import Any

from include.course_records import db

TIME_ZONE = "America/Chicago"

_COURSE_COLUMNS = (
    "external_course_id", "title", "pars_provider_activity_id", "pars_activity_type", "pars_activity_date",
    "pars_activity_end_date", "pars_description", "pars_city", "pars_state", "pars_country", "pars_providership",
    "pars_hours_of_instruction", "pars_ama_credits_designated", "pars_commercial_support",
    "pars_designed_to_change_competence", "pars_designed_to_change_performance",
    "pars_designed_to_change_patient_outcomes", "pars_evaluated_competence", "pars_evaluated_performance",
    "pars_evaluated_patient_outcomes", "pars_competencies", "pars_joint_providers", "pars_moc_boards",
    "pars_cme_finder", "pars_joint_accreditation",
)

# Answers that close an activity, shared by the well-described ones.
CLOSED = {
    "pars_commercial_support": False,
    "pars_designed_to_change_competence": True, "pars_designed_to_change_performance": True,
    "pars_designed_to_change_patient_outcomes": False, "pars_evaluated_competence": True,
    "pars_evaluated_performance": False, "pars_evaluated_patient_outcomes": False,
    "pars_cme_finder": False, "pars_competencies": ["abms_medical_knowledge"],
}


def add_course(conn, external_course_id: str, title: str, *, offers: dict[str, float] | None = None,
               series_of: str | None = None, shell: bool = False, **pars: Any) -> None:
    """A course with its PARS fields (lms.course column names) and the credit types it offers (name → max)."""
    values = {"external_course_id": external_course_id, "title": title, **pars}
    unknown = set(values) - set(_COURSE_COLUMNS)
    assert not unknown, unknown
    columns = list(values)
    with conn.cursor() as cur:
        cur.execute(f"INSERT INTO lms.course ({', '.join(columns)}, is_imported_shell, certificate_enabled)"
                    f" VALUES ({', '.join(['%s'] * len(columns))}, %s, %s)",
                    [*values.values(), shell, not shell])
        if series_of:
            cur.execute("UPDATE lms.course SET pars_series_course_id = (SELECT id FROM lms.course"
                        " WHERE external_course_id = %s) WHERE external_course_id = %s", (series_of, external_course_id))
        for credit_type, maximum in (offers or {}).items():
            cur.execute("INSERT INTO lms.course_credit_type (course_id, credit_type_id, max_credits)"
                        " SELECT c.id, t.id, %s FROM lms.course c, lms.credit_type t"
                        " WHERE c.external_course_id = %s AND t.machine_name = %s", (maximum, external_course_id, credit_type))
    conn.commit()


def set_course(conn, external_course_id: str, **columns: Any) -> None:
    """Change columns of a course (lms.course column names)."""
    with conn.cursor() as cur:
        for column, value in columns.items():
            cur.execute(f"UPDATE lms.course SET {column} = %s WHERE external_course_id = %s", (value, external_course_id))
            assert cur.rowcount == 1, external_course_id
    conn.commit()


def add_supporter(conn, external_course_id: str, supporter: str, amount: float | None, in_kind: bool = False) -> None:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO lms.course_commercial_supporter (course_id, supporter, monetary_amount, in_kind)"
                    " SELECT id, %s, %s, %s FROM lms.course WHERE external_course_id = %s",
                    (supporter, amount, in_kind, external_course_id))
    conn.commit()


def enroll(conn, course: str, email: str, *, first: str = "Test", last: str = "Learner",
           start: str | None = "2025-01-01 09:00-06", completed: str | None = None,
           category: str | None = "physician", source: str | None = "course_import",
           credits: dict[str, float] | None = None, birth: tuple[int, int] | None = None,
           board_ids: dict[str, str] | None = None) -> None:
    """An enrollment as the LMS holds it (a new learner when the e-mail is new); `source` None is a native record."""
    with conn.cursor() as cur:
        cur.execute("INSERT INTO lms.learner (email, first_name, last_name, birth_month, birth_day)"
                    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (email, first, last, *(birth or (None, None))))
        for board, board_id in (board_ids or {}).items():
            cur.execute("INSERT INTO lms.learner_board_id (learner_id, board, board_id)"
                        " SELECT id, %s, %s FROM lms.learner WHERE lower(email) = lower(%s)", (board, board_id, email))
        cur.execute("""
            INSERT INTO lms.enrollment (learner_id, course_id, enrollment_start, complete, date_completed,
                                        participant_category, import_source)
            SELECT l.id, c.id, %(start)s, %(completed)s IS NOT NULL, %(completed)s, %(category)s, %(source)s
            FROM lms.learner l, lms.course c
            WHERE lower(l.email) = lower(%(email)s) AND c.external_course_id = %(course)s
            RETURNING id""", {"email": email, "course": course, "start": start, "completed": completed,
                              "category": category, "source": source})
        [(enrollment_id,)] = cur.fetchall()
        for credit_type, amount in (credits or {}).items():
            cur.execute("INSERT INTO lms.credit_record (enrollment_id, credit_type_id, credits)"
                        " SELECT %s, id, %s FROM lms.credit_type WHERE machine_name = %s",
                        (enrollment_id, amount, credit_type))
    conn.commit()


def set_time_zone(conn, time_zone: str) -> None:
    with conn.cursor() as cur:
        cur.execute("UPDATE lms.pars_provider SET time_zone = %s", (time_zone,))
    conn.commit()


def build(conn) -> None:
    """The catalogue of the module docstring, on top of the demo catalogue."""
    set_time_zone(conn, TIME_ZONE)
    _summit(conn)
    _grand_rounds(conn)
    _enduring(conn)
    _joint_accreditation(conn)
    _broken(conn)
    add_course(conn, "LEGACY-ECG-2019", "ECG Interpretation (2019 archive)", shell=True)
    enroll(conn, "LEGACY-ECG-2019", "quinn@example.org", first="Quinn", completed="2026-02-01 10:00-06")
    enroll(conn, "LEGACY-ECG-2019", "rita@example.org", first="Rita", completed="2026-02-01 10:00-06",
           source="legacy_global_import")


def _summit(conn) -> None:
    add_course(conn, "SUMMIT-25", "Winter Cardiology Summit", offers={"ama_pra_1": 6.5, "abim_moc": 6.5}, **{
        **CLOSED, "pars_provider_activity_id": "2501", "pars_activity_type": "C",
        "pars_activity_date": "2025-12-05", "pars_activity_end_date": "2025-12-06",
        "pars_description": "Two days on heart failure, devices and \"real-world\" <evidence> & practice.",
        "pars_city": "Chicago", "pars_state": "IL", "pars_country": "USA", "pars_providership": "Direct",
        "pars_hours_of_instruction": 6.5, "pars_ama_credits_designated": 6.5, "pars_commercial_support": True,
        "pars_competencies": ["abms_patient_care", "iom_quality_improvement", "other"],
        "pars_moc_boards": ["ABIM"], "pars_cme_finder": True})
    add_supporter(conn, "SUMMIT-25", "Acme Devices", 5000.50)
    add_supporter(conn, "SUMMIT-25", "Lakeshore Hospital Foundation", None, in_kind=True)
    moc = {"ama_pra_1": 6.5, "abim_moc": 6.5}
    enroll(conn, "SUMMIT-25", "dana@example.org", first="Dana", last="Scully", start="2025-11-20 08:00-06",
           completed="2025-12-06 10:00-06", credits=moc, birth=(4, 15), board_ids={"ABIM": "123456"})
    enroll(conn, "SUMMIT-25", "dana.scully@example.net", first=" dana", last="SCULLY ", start="2025-11-20 08:00-06",
           completed="2025-12-06 11:00-06", credits={"ama_pra_1": 6.5}, birth=(4, 15))
    enroll(conn, "SUMMIT-25", "eve@example.org", first="Eve", last="Polastri", start="2025-11-21 08:00-06",
           completed="2025-12-31 23:30-06", credits=moc, birth=(2, 29))
    enroll(conn, "SUMMIT-25", "frank@example.org", first="Frank", last="Underwood", start="2025-11-21 08:00-06",
           completed="2026-01-03 09:00-06", category="other", credits={"ama_pra_1": 6.5})
    enroll(conn, "SUMMIT-25", "gina@example.org", first="Gina", start="2025-11-21 08:00-06",
           completed="2025-12-06 10:00-06", source="legacy_global_import")
    enroll(conn, "SUMMIT-25", "hal@example.org", first="Hal", start=None, completed="2025-12-06 10:00-06")
    enroll(conn, "SUMMIT-25", "ivan@example.org", first="Ivan", start="2025-11-21 08:00-06",
           completed="2025-12-06 10:00-06", category=None)
    enroll(conn, "SUMMIT-25", "judy@example.org", first="Judy", start="2025-11-21 08:00-06", category=None)


def _grand_rounds(conn) -> None:
    series = {**CLOSED, "pars_provider_activity_id": "2502", "pars_activity_type": "RSS",
              "pars_activity_date": "2025-07-01", "pars_activity_end_date": "2026-06-30",
              "pars_description": "Weekly internal medicine grand rounds.", "pars_city": "Boston", "pars_state": "MA",
              "pars_country": "USA", "pars_providership": "Joint", "pars_joint_providers": ["Harbor Teaching Hospital"],
              "pars_hours_of_instruction": 3, "pars_ama_credits_designated": 3}
    add_course(conn, "GR-2025", "Medicine Grand Rounds 2025-26", offers={"ama_pra_1": 1}, **series)
    add_course(conn, "GR-2025-12", "Grand Rounds: December session", offers={"ama_pra_1": 1}, series_of="GR-2025")
    add_course(conn, "GR-2026-03", "Grand Rounds: March session", offers={"ama_pra_1": 1}, series_of="GR-2025")
    for session, day in (("GR-2025", "2025-09-10"), ("GR-2025-12", "2025-12-10"), ("GR-2026-03", "2026-03-11")):
        enroll(conn, session, "kim@example.org", first="Kim", last="Wexler", start=f"{day} 07:00-05",
               completed=f"{day} 08:00-05")
    for session, day in (("GR-2025", "2025-09-10"), ("GR-2026-03", "2026-03-11")):
        enroll(conn, session, "lee@example.org", first="Lee", last="Adama", start=f"{day} 07:00-05",
               completed=f"{day} 08:00-05", category="other")
    # recorded after the series' last day: outside its 12 months
    enroll(conn, "GR-2026-03", "mo@example.org", first="Mo", last="Farah", start="2026-03-11 07:00-05",
           completed="2026-07-15 08:00-05")


def _enduring(conn) -> None:
    add_course(conn, "ECG-EM", "ECG Interpretation Online", offers={"ama_pra_1": 2}, **{
        **CLOSED, "pars_provider_activity_id": "2401", "pars_activity_type": "IEM",
        "pars_activity_date": "2024-03-01", "pars_activity_end_date": "2027-02-28",
        "pars_description": "Self-paced ECG reading with cases.", "pars_providership": "Direct",
        "pars_hours_of_instruction": 2, "pars_ama_credits_designated": 2, "pars_cme_finder": True})
    for email, first, completed, category in (
            ("nia@example.org", "Nia", "2024-05-01 10:00-05", "physician"),
            ("omar@example.org", "Omar", "2025-02-10 10:00-06", "physician"),
            ("pat@example.org", "Pat", "2025-08-20 10:00-05", "other"),
            ("quentin@example.org", "Quentin", "2026-03-01 10:00-06", "physician"),
            ("ruth@example.org", "Ruth", "2026-12-31 23:00-06", "physician")):
        enroll(conn, "ECG-EM", email, first=first, last="Reader", start="2024-03-01 09:00-06", completed=completed,
               category=category, credits={"ama_pra_1": 2}, birth=(1, 31) if first != "Ruth" else None)


def _joint_accreditation(conn) -> None:
    add_course(conn, "IPE-TEAM", "Team-based Sepsis Care", offers={"ama_pra_1": 4, "ancc": 4}, **{
        **CLOSED, "pars_provider_activity_id": "2503", "pars_activity_type": "C",
        "pars_activity_date": "2026-02-10", "pars_activity_end_date": "2026-02-10",
        "pars_description": "Physicians, nurses and pharmacists train sepsis response together.",
        "pars_city": "Denver", "pars_state": "CO", "pars_country": "USA", "pars_providership": "Direct",
        "pars_hours_of_instruction": 4, "pars_ama_credits_designated": 4, "pars_joint_accreditation": True,
        "pars_competencies": ["iec_teams_teamwork", "iec_communication"]})
    for email, first, category in (("sam@example.org", "Sam", "physician"), ("tara@example.org", "Tara", "physician"),
                                   ("uma@example.org", "Uma", "other")):
        enroll(conn, "IPE-TEAM", email, first=first, last="Team", start="2026-02-01 09:00-07",
               completed="2026-02-10 17:00-07", category=category)


def _broken(conn) -> None:
    add_course(conn, "TOX-26", "Toxicology Update", offers={"ama_pra_1": 2}, **{
        **CLOSED, "pars_provider_activity_id": "2504", "pars_activity_type": "C",
        "pars_activity_date": "2026-05-01", "pars_activity_end_date": "2026-05-01",
        "pars_description": "Poisonings seen in the emergency department.", "pars_country": "US",
        "pars_providership": "Joint", "pars_hours_of_instruction": 5, "pars_ama_credits_designated": 5,
        "pars_commercial_support": None})
    enroll(conn, "TOX-26", "victor@example.org", first="Victor", last="Tox", start="2026-04-20 09:00-05",
           completed="2026-05-01 17:00-05")
    add_course(conn, "JCLUB", "Journal Club")
    enroll(conn, "JCLUB", "wendy@example.org", first="Wendy", last="Club", start="2026-06-01 09:00-05",
           completed="2026-06-02 09:00-05", source=None)


def restore_time_zone() -> None:
    """Back to the migration's default, for the tests that come after (the provider row outlives a test)."""
    conn = db.connect()
    try:
        set_time_zone(conn, "UTC")
    finally:
        conn.close()
