"""Command line: set-up, preflight checks and reports. Loads happen only in the DAG.

    python -m include.course_records init-db [--demo]
    python -m include.course_records validate FILE [--importer course|global] [--course ID] [--report-dir DIR]
    python -m include.course_records pars-report --year YYYY [--out FILE]
    python -m include.course_records revert-batch BATCH --reason TEXT [--dry-run]

Exit status: 0 accepted (warnings allowed) or done, 1 rejected or refused, 2 usage or environment error.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from include.course_records.errors import UsageError

EXIT_OK, EXIT_REJECTED, EXIT_USAGE = 0, 1, 2
LOG_FORMAT = "%(levelname)s %(message)s"
SHOWN_ISSUES = 30


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors are exit 2 with the usage line
        self.print_usage(sys.stderr)
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m include.course_records", description=__doc__.split("\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)
    init = verbs.add_parser("init-db", help="create or upgrade the LMS schema (idempotent)")
    init.add_argument("--demo", action="store_true", help="also load the demo catalogue")
    check = verbs.add_parser("validate", help="check a file exactly as the import DAG would; writes nothing to the LMS")
    check.add_argument("file", type=Path)
    check.add_argument("--importer", choices=("course", "global"))
    check.add_argument("--course", help="target course (course-level importer)")
    check.add_argument("--report-dir", type=Path, help="write summary.json, rejects.csv and Data Docs here")
    check.add_argument("--load-valid-rows", action="store_true",
                       help="judge the file as a load_valid_rows run would (bad enrollments rejected, the rest accepted)")
    check.add_argument("--missing-learners", choices=("create", "hold"),
                       help="what becomes of rows whose learner is not in the LMS (default: "
                            "AIRFLOW_VAR_COURSE_RECORD_MISSING_LEARNERS, else create)")
    check.add_argument("--assign-later", action="store_true",
                       help="judge the file as a run with assign_immediately off would (every record held)")
    pars = verbs.add_parser("pars-report", help="write the year's ACCME PARS files: activities (XML batch upload), "
                            "learner completions, pre-submission check, reconciliation")
    pars.add_argument("--year", type=int, required=True)
    pars.add_argument("--out", type=Path, help="the PARS activity XML to write; the other files go beside it "
                      "as <name>.<kind> (default: the PARS activity XML on stdout, nothing else)")
    revert = verbs.add_parser("revert-batch", help="undo one loaded batch: delete what it created that nothing else uses")
    revert.add_argument("batch", help="the batch id (the run's report folder reports/<batch>/ is named after it)")
    revert.add_argument("--reason", required=True, help="why (recorded in the ledger)")
    revert.add_argument("--dry-run", action="store_true", help="list what would be deleted and kept; change nothing")
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    for noisy in ("great_expectations", "py.warnings"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    try:
        args = build_parser().parse_args(argv)
        if args.verb == "init-db":
            return init_db(args.demo)
        if args.verb == "validate":
            return validate_file(args)
        if args.verb == "revert-batch":
            return revert_batch(args.batch, args.reason, dry_run=args.dry_run)
        return pars_report(args.year, args.out)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug, not the user's doing: one line, and how to see more
        if os.environ.get("COURSE_RECORDS_DEBUG"):
            raise
        print(f"error: unexpected {exc.__class__.__name__}: {exc} — this is a bug in the pipeline; "
              "rerun with COURSE_RECORDS_DEBUG=1 for the traceback and report it", file=sys.stderr)
        return EXIT_USAGE


def init_db(demo: bool) -> int:
    from include.course_records import db

    conn = db.connect()
    applied = db.migrate(conn)
    print(f"LMS schema: {len(applied)} migration(s) applied" + (f" ({', '.join(applied)})" if applied else ", already up to date"))
    if demo:
        db.load_demo_catalogue(conn)
        print("demo catalogue: present (CARD-101, NEURO-201, PHARM-301; ada, grace, alan)")
    return EXIT_OK


def infer_target(file: Path, importer: str | None, course: str | None):
    """Importer and course from a landing-style path (…/course/<id>/x.csv, …/global/x.csv) or the flags."""
    from include.course_records.target import Target

    parts = file.resolve().parts
    implied: tuple[str, str | None] | None = None
    if len(parts) >= 3 and parts[-3] == "course":
        implied = ("course", parts[-2])
    elif len(parts) >= 2 and parts[-2] == "global":
        implied = ("global", None)
    if implied and importer and importer != implied[0]:
        raise UsageError(f"--importer {importer} contradicts the path {file}, which is for the {implied[0]} importer")
    if implied and course and implied[1] and course != implied[1]:
        raise UsageError(f"--course {course} contradicts the path {file} (course {implied[1]})")
    chosen_importer = importer or (implied[0] if implied else None)
    if chosen_importer is None:
        raise UsageError("cannot tell the importer from the path: give --importer course --course ID, or --importer global")
    chosen_course = course or (implied[1] if implied else None)
    if chosen_importer == "course" and not chosen_course:
        raise UsageError("the course-level importer needs the target course: give --course ID")
    if chosen_importer == "global" and course:
        raise UsageError("--course is only for the course-level importer")
    return Target(path=str(file), importer=chosen_importer, course=chosen_course if chosen_importer == "course" else None)


def validate_file(args: argparse.Namespace) -> int:
    target = infer_target(args.file, args.importer, args.course)
    try:
        with open(args.file, "rb") as stream:  # read as a stream by the check: a large file is never held whole
            stream.read(1)
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror}") from None

    from include.course_records import datadocs, db, report
    from include.course_records.check import ACCEPTED, DUPLICATE, check_file

    conn = db.connect()
    from include.course_records import settings

    result = check_file(args.file, target, conn, load_valid_rows=args.load_valid_rows,
                        missing_learners=settings.missing_learners(args.missing_learners),
                        assign_immediately=not args.assign_later)
    document = report.summary(result, file=str(args.file))
    if args.report_dir:
        try:
            args.report_dir.mkdir(parents=True, exist_ok=True)
            (args.report_dir / "summary.json").write_bytes(report.summary_json(document))
            (args.report_dir / "rejects.csv").write_bytes(report.rejects_csv(result))
            run = datadocs.payload(result, batch=f"validate-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}",
                                   file=str(args.file), run_time=datetime.now(UTC).isoformat())
            datadocs.publish((args.report_dir / "data_docs").resolve().as_uri(), run)
        except OSError as exc:
            raise UsageError(f"cannot write the report to {args.report_dir}: {exc.strerror}") from None
    _print_summary(document, args.report_dir)
    return EXIT_OK if result.status in (ACCEPTED, DUPLICATE) else EXIT_REJECTED


def _print_summary(document: dict, report_dir: Path | None) -> None:
    rows = document["rows"]
    course = f" into {document['course']}" if document["course"] else ""
    print(f"{document['file']}: {document['status']} ({document['importer']} importer{course})")
    print(f"rows: {rows['total']} total, {rows['valid']} valid, {rows['rejected']} rejected, "
          f"{rows['skipped_identical']} identical to the LMS (skipped)")
    issues = document["issues"]
    for issue in issues[:SHOWN_ISSUES]:
        print(f"  {issue['severity']:7} {issue['message']}")
    if len(issues) > SHOWN_ISSUES:
        print(f"  … and {len(issues) - SHOWN_ISSUES} more" + (" (see rejects.csv)" if report_dir else " (use --report-dir)"))
    if report_dir:
        print(f"report: {report_dir / 'summary.json'}, {report_dir / 'rejects.csv'}, {report_dir / 'data_docs' / 'index.html'}")


def pars_report(year: int, out: Path | None) -> int:
    """Exit 1 when an activity fails the pre-submission check (it is left out of the upload file)."""
    from include.course_records import db, pars

    conn = db.connect()
    try:
        report = pars.build_report(conn, year)
    finally:
        conn.close()
    written = {system: len(report.written(system)) for system in pars.SYSTEMS}
    if out:
        try:
            paths = pars.write_local(report, out, now=datetime.now(UTC))
        except OSError as exc:
            raise UsageError(f"cannot write the PARS files beside {out}: {exc.strerror}") from None
        print(f"{year} ({report.time_zone}): {written[pars.PARS]} activities for PARS → {paths[pars.ACTIVITIES_XML]}, "
              f"{written[pars.JA_PARS]} for JA-PARS → {paths[pars.JA_ACTIVITIES_XML]}")
        ready = sum(1 for line in report.learners if not line.missing)
        print(f"learner completions: {ready} ready → {paths[pars.LEARNERS_CSV]}, "
              f"{len(report.learners) - ready} lacking data → {paths[pars.LEARNERS_MISSING_CSV]}")
        print(f"reconciliation → {paths[pars.RECONCILIATION_CSV]}; suspected duplicate learners: "
              f"{len(report.duplicates)} → {paths[pars.DUPLICATES_CSV]}")
    else:
        sys.stdout.buffer.write(pars.activity_file(report, pars.PARS))
        sys.stdout.flush()
        if written[pars.JA_PARS] or report.learners:
            print("note: JA-PARS activities and learner completions are written only with --out", file=sys.stderr)
    for line in report.problem_lines():
        print(f"not written: {line}", file=sys.stderr)
    if report.failed:
        print(f"{len(report.failed)} activit{'y' if len(report.failed) == 1 else 'ies'} failed the pre-submission "
              "check and are not in the upload file", file=sys.stderr)
    return EXIT_OK if not report.failed else EXIT_REJECTED


def revert_batch(batch: str, reason: str, *, dry_run: bool) -> int:
    if not reason.strip():
        raise UsageError("--reason must say why the batch is reverted (it is recorded in the ledger)")
    from include.course_records import db, revert

    conn = db.connect()
    try:
        result = revert.revert_batch(conn, batch, actor=_actor(), reason=reason, dry_run=dry_run,
                                     lock_holder=_import_lock)
    except revert.RevertRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    finally:
        conn.close()
    print("\n".join(revert.describe(result)))
    return EXIT_OK


def _actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        user = "unknown user"
    return f"{user} (command line)"


def _import_lock() -> dict | None:
    """The import lock as Airflow holds it, read from outside a task.

    Outside a task the Task SDK's Variable sees only the environment, and Airflow's own look-up
    takes an unreachable metadata database for "no such Variable". This asks each secrets
    backend Airflow is configured with (environment, metadata database, any other) and fails
    rather than take the importer for free.
    """
    from include.course_records import settings

    raw = None
    logging.getLogger("airflow").setLevel(logging.WARNING)  # its chatter while importing is not the user's business
    try:
        from airflow.configuration import ensure_secrets_loaded

        # importing Airflow configured logging to stdout, which is for the output: back to stderr, quiet
        logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr, force=True)
        logging.getLogger("airflow").setLevel(logging.WARNING)
        for backend in ensure_secrets_loaded():
            raw = backend.get_variable(key=settings.LOCK_VARIABLE)
            if raw is not None:
                break
    except Exception as exc:  # noqa: BLE001 - whatever stops the look-up, the lock is unknown
        detail = (str(exc).strip().splitlines() or [""])[0]
        raise UsageError(f"cannot read the import lock (Airflow Variable {settings.LOCK_VARIABLE}): "
                         f"{exc.__class__.__name__}: {detail} — run this where Airflow is configured "
                         "(source scripts/env.sh; in Docker Compose, the airflow-cli service); nothing was reverted"
                         ) from None
    from include.course_records.lock import parse

    return parse(raw)
