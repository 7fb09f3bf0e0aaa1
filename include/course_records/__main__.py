"""`python -m include.course_records …`: see cli.py."""

import logging
import os
import sys

from include.course_records.cli import main

status = main()
# Everything is written and closed: skip the interpreter's teardown of GX, pandas and pyarrow
# (~0.5–1 s of a cold `validate`, freeing memory the process is about to give back anyway).
logging.shutdown()
sys.stdout.flush()
sys.stderr.flush()
os._exit(status)
