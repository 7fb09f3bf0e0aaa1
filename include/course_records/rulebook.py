"""The rule list people read: every rule id, what it checks, its precaution, its messages and fixes.

The ids, severities and one-line summaries live here (they are the product's contract); the
messages and fixes live in the expectation suites (`expectations/*.json`), or, for what is read
before any suite can run (bytes, delimiter, quoting, the ledger), in the reader and the check.
`docs/file-format.md` carries the generated list between two markers; a test keeps it equal:

    python -m include.course_records.rulebook --write docs/file-format.md
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from include.course_records import settings
from include.course_records.record_format import COLUMNS


@dataclass(frozen=True)
class Rule:
    severity: str  # error, warning, info
    level: str  # file or row
    summary: str
    precaution: int | None = None


RULES: dict[str, Rule] = {
    "F01": Rule("error", "file", "the file is not valid UTF-8 (the first bad line is named)"),
    "F02": Rule("error", "file", "a header name has leading, trailing or double spaces, a space other than U+0020, "
                                 "or an invisible character (control, zero-width, non-breaking space, U+FFFD, a BOM "
                                 "inside the header); the header is shown quoted", 6),
    "F03": Rule("error", "file", "a required column is missing, a column is unknown, or a column appears twice"),
    "F04": Rule("error", "file", "not readable as comma CSV: wrong delimiter (`;`, tab), a quote left open or placed "
                                 "inside a value, a line with more or fewer values than the header, a carriage "
                                 "return without a line feed outside quotes in a file with LF line ends"),
    "F05": Rule("error", "file", "no data rows"),
    "F06": Rule("info", "file", "the same bytes (sha256) were already loaded: skipped, nothing done, not an error"),
    "F07": Rule("error", "file", "course-level import whose target course does not exist in the LMS, or is an "
                                 "imported course shell (create the real course first)", 1),
    "R01": Rule("error", "row", "a control, zero-width, non-breaking-space or replacement (U+FFFD) character in a "
                                "value", 6),
    "R02": Rule("error", "row", "the learner is not named (no external_user_id and no external_email), the email is "
                                "not a plain address, or the id and email pair differently than the LMS or the rest "
                                "of the file has them"),
    "R03": Rule("error", "row", "global: no external_course_id, or no title for a course to be created as a shell; "
                                "course-level: external_course_id differs from the target; any course id longer than "
                                "128 characters"),
    "R04": Rule("error", "row", "complete or attended not 0, 1 or blank; participant_category not physician, other "
                                "or blank"),
    "R05": Rule("error", "row", "a date not YYYY-MM-DD (with an optional time and zone) or not a real, plausible "
                                "date; date_completed missing with complete=1 (unless the record is held), present "
                                "with complete=0, in the future, or before enrollment_start; enrollment_end before "
                                "enrollment_start"),
    "R06": Rule("error", "row", "credits on a record that is not complete", 3),
    "R07": Rule("error", "row", "credits not a decimal(6,2) ≥ 0; credits without credit_type or credit_type without "
                                "credits; unknown credit type; credit type not offered by the course; more than the "
                                "course's maximum; partial credit on a credit type that is not variable", 8),
    "R08": Rule("error", "row", "more than one credit type in one row, e.g. `ama_pra_1;ancc`", 4),
    "R09": Rule("error", "row", "two rows for the same learner, course and credit type", 4),
    "R10": Rule("error", "row", "rows of one learner and course disagree on the enrollment columns"),
    "R11": Rule("error", "row", "learner not in the LMS and the course has no required course object", 2),
    "R12": Rule("error", "row", "learner not in the LMS, to be created from the row, and first_name or last_name "
                                "blank"),
    "R13": Rule("error", "row", "the learner already has an enrollment in the course that differs from the row", 7),
    "R14": Rule("error", "row", "the learner's enrollment matches, but its credit record of that type is missing or "
                                "differs (a row identical to what the LMS holds is skipped, not an error)", 7),
    "W01": Rule("warning", "row", "global import will create a course shell, which has no certificate", 1),
    "W02": Rule("warning", "row", "global import of a record completed inside the open PARS reporting year: it will "
                                  "not count in PARS", 5),
    "W03": Rule("warning", "row", "participant_category or enrollment_start not given: the record will not count in "
                                  "PARS", 5),
    "W04": Rule("warning", "file", "the `external_mail` alias was used for external_email"),
    "W05": Rule("warning", "row", "leading or trailing spaces in a value (trimmed)"),
}

PRECAUTIONS = {
    1: "Imported course shells have no certificates: if a certificate is needed, the course must exist first and "
       "its records are imported with the course-level importer.",
    2: "Records for learners not yet in the LMS need a course with at least one required course object; otherwise "
       "nothing stops a learner from being completed on enrollment with whatever credit is available.",
    3: "Never put credits on a record that is not complete: the imported credit record is the one that remains.",
    4: "One record per row: a learner with several credit types gets one row per credit type.",
    5: "The global importer is for legacy data only and never counts in PARS; course-level imports do.",
    6: "An import can hang on a file discrepancy (special characters, extra spaces in headers); the importer is "
       "then locked until an admin reviews the file and unlocks it.",
    7: "The importer cannot update enrollments or credit records already assigned to a learner.",
    8: "Partial credit is only allowed where the credit type is marked variable for the course.",
}

# What the reader and the check say for the rules no suite can check (before the rows exist).
READ_MESSAGES: dict[str, list[tuple[str, str]]] = {
    "F01": [("byte 0x… is not valid UTF-8",
             "save the file as UTF-8 (in Excel: 'CSV UTF-8 (Comma delimited)') and drop it again")],
    "F04": [("the columns are separated by semicolons (or tabs), not commas", "export the sheet as comma-separated CSV"),
            ("a quote (\") opened here is never closed", "close or remove the quote"),
            ("a quote (\") sits inside a value instead of around it",
             "put the whole value in quotes and double every quote inside it (\"\")"),
            ("\"…\" has N values where the header has M columns",
             "every line needs one value per column (leave a value empty, don't drop it); quote values that contain "
             "commas"),
            ("a carriage return (CR) without a line feed splits this line",
             "save the file again as CSV with Windows (CRLF) or Unix (LF) line ends")],
    "F05": [("the file is empty", "it needs a header line and at least one data row")],
    "F06": [("the same bytes were already loaded by batch …", "nothing to do; the file is archived")],
}

BEGIN, END = "<!-- rules: generated by include/course_records/rulebook.py -->", "<!-- rules: end -->"


def suite_expectations() -> list[dict]:
    out = []
    for path in sorted(settings.EXPECTATIONS_DIR.glob("*.json")):
        out.extend(json.loads(path.read_text(encoding="utf-8"))["expectations"])
    return out


def rules_markdown() -> str:
    """The generated section of docs/file-format.md."""
    by_rule: dict[str, list[tuple[str, str, str | None]]] = {rule: [] for rule in RULES}
    for expectation in suite_expectations():
        meta = expectation["meta"]
        column = meta.get("column") or expectation["kwargs"].get("column")
        shown = column if column in COLUMNS else None
        entry = (meta["message"], meta["fix"], shown)
        if entry not in by_rule[meta["rule"]]:
            by_rule[meta["rule"]].append(entry)
    for rule, messages in READ_MESSAGES.items():
        by_rule[rule].extend((message, fix, None) for message, fix in messages)
    lines = [BEGIN, "", "| rule | severity | level | what it checks | precaution |", "|---|---|---|---|---|"]
    for rule_id, rule in RULES.items():
        precaution = str(rule.precaution) if rule.precaution else ""
        lines.append(f"| {rule_id} | {rule.severity} | {rule.level} | {rule.summary} | {precaution} |")
    lines.append("")
    for rule_id, rule in RULES.items():
        lines.append(f"#### {rule_id} ({rule.severity})")
        lines.append("")
        if rule.precaution:
            lines.append(f"Precaution {rule.precaution}: {PRECAUTIONS[rule.precaution]}")
            lines.append("")
        for message, fix, column in by_rule[rule_id]:
            where = f"`{column}` " if column else ""
            lines.append(f"- {where}{_escape(message)} — **fix:** {_escape(fix)}")
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;")


def generated_section(document: str) -> str | None:
    match = re.search(re.escape(BEGIN) + r".*?" + re.escape(END), document, flags=re.S)
    return match.group(0) if match else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="write the generated rule list into a markdown document")
    parser.add_argument("--write", type=Path, required=True, help="the document with the rule markers")
    args = parser.parse_args(argv)
    document = args.write.read_text(encoding="utf-8")
    if generated_section(document) is None:
        print(f"{args.write} has no rule markers ({BEGIN} … {END})", file=sys.stderr)
        return 2
    args.write.write_text(document.replace(generated_section(document), rules_markdown()), encoding="utf-8")
    print(f"rules written into {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
