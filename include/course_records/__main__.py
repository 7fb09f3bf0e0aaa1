"""`python -m include.course_records …`: see cli.py."""

import sys

from include.course_records.cli import main

sys.exit(main())
