"""The one exception type for mistakes a user can fix (bad file, bad value, missing extra)."""


class UserError(Exception):
    """A one-line, user-facing error: the CLI prints it without a traceback and exits non-zero.

    The message names the file, field or value at fault and what was expected.
    """
