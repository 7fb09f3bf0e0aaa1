"""Print what the newest import run of a landing file did, from its summary.json and the LMS.

Usage: show_run.py LANDING_PATH [--log AIRFLOW_LOG]
"""

import argparse
import json
import sys
from pathlib import Path

from include.course_records import db, settings

parser = argparse.ArgumentParser()
parser.add_argument("file")
parser.add_argument("--log", type=Path)
args = parser.parse_args()

landing = Path(settings.landing_url().removeprefix("file://"))
runs = []
for path in (landing / "reports").glob("*/summary.json"):
    document = json.loads(path.read_text())
    if document.get("file") == args.file:
        runs.append((path.parent.name, path, document))
if not runs:
    print(f"no report for {args.file}: the run failed before validation" + (f"; see {args.log}" if args.log else ""))
    sys.exit(1)
batch, path, summary = max(runs)
rows, created = summary["rows"], summary["created"]
print(f"status: {summary['status']}   (batch {batch}; report {path})")
print(f"rows: {rows['total']} total, {rows['valid']} valid, {rows['rejected']} rejected, "
      f"{rows['skipped_identical']} identical to the LMS")
print(f"created: {created['learners']} learners, {created['courses']} course shells, "
      f"{created['enrollments']} enrollments, {created['credit_records']} credit records")
for issue in summary["issues"]:
    print(f"  {issue['severity']}: {issue['message']}")
if summary["status"] == "duplicate_file":
    print("  (the same bytes were loaded before: nothing loaded again, the file was archived)")
conn = db.connect()
with conn.cursor() as cur:
    cur.execute("SELECT (SELECT count(*) FROM lms.learner), (SELECT count(*) FROM lms.enrollment),"
                " (SELECT count(*) FROM lms.credit_record), (SELECT count(*) FROM lms.course WHERE is_imported_shell)")
    learners, enrollments, credits, shells = cur.fetchone()
print(f"LMS now holds: {learners} learners, {enrollments} enrollments, {credits} credit records, {shells} course shells")
sys.exit(0 if summary["status"] in ("loaded", "duplicate_file", "accepted") else 1)
