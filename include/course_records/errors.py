"""Errors a user can act on. The CLI and the DAG print their message, never a traceback."""


class UsageError(Exception):
    """Bad arguments or environment: exit status 2, the message says what to fix."""


class ImportLocked(Exception):
    """The importer is locked; nothing may load until an admin unlocks it."""


class StaleValidation(Exception):
    """The LMS changed between validation and load; the file must be validated again."""


class CheckGap(Exception):
    """The database refused a row that passed every check: a bug in the checks, not in the file."""
