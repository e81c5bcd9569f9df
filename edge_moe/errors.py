"""The one exception type for mistakes a user can fix (bad file, bad value, missing extra).

A torch-free leaf module: the runtime may import it.
"""
from __future__ import annotations

import os
import sys
from typing import Callable, Optional


class UserError(Exception):
    """A one-line, user-facing error: the CLI prints it without a traceback and exits non-zero.

    The message names the file, field or value at fault and what was expected.
    """


def first_line(error: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (its type name when empty), for one-line errors."""
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:limit]


def run_main(main: Callable[[], Optional[int]], prog: str) -> int:
    """Runs a program's ``main``: a UserError becomes one line on stderr and exit code 2, Ctrl-C 130, a closed
    stdout (``| head``) 141 without a traceback."""
    try:
        code = int(main() or 0)
        sys.stdout.flush()  # a pipe closed early fails here, inside the handler below
        return code
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes at exit
        return 141
    except UserError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
