"""Seeded, valid course-record files of any size, for the benchmark.

A global (legacy) file: ~30 % as many learners as rows, ~2,000 courses that the LMS does not
know (imported shells), one enrollment per row, completions in past years (no W02 flood).
"""

from __future__ import annotations

import random
from pathlib import Path

HEADER = ("external_course_id,title,external_user_id,external_email,first_name,last_name,"
          "enrollment_start,complete,date_completed,credits,credit_type,participant_category\n")
CREDIT_TYPES = ("ama_pra_1", "ancc", "acpe", "aapa_1", "abim_moc", "participation")
SHELLS = 2000


def write_global_file(path: Path, rows: int, seed: int = 7) -> Path:
    """Every row a distinct learner and course (so a distinct enrollment); all rules pass."""
    rng = random.Random(seed)  # noqa: S311 - seeded test data, not secrets
    learners = max(1, int(rows * 0.3))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        lines = []
        for r in range(rows):
            learner, turn = r % learners, r // learners
            course = (turn * 997 + learner) % SHELLS  # distinct for a learner's successive rows
            year = 2019 + (learner + course) % 6
            month, day = 1 + course % 12, 1 + learner % 27
            lines.append(
                f"LEG-{course:05d},Legacy course {course},U{learner:07d},learner{learner}@example.org,"
                f"First{learner},Last{learner},{year}-{month:02d}-{day:02d},1,{year}-{month:02d}-{day + 1:02d},"
                f"{rng.choice(('1.00', '1.50', '2.00'))},{CREDIT_TYPES[(learner + turn) % 6]},"
                f"{'physician' if learner % 3 else 'other'}\n")
            if len(lines) == 50_000:
                out.writelines(lines)
                lines.clear()
        out.writelines(lines)
    return path
