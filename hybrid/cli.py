"""How a command line ends: one line on standard error and an exit code, never a traceback.

Library code raises ``ValueError`` or, for missing data, ``DatasetNotFoundError``, with one line
that names the fix; every command line (``train_agent.py``, ``evaluate.py``, the benchmarks and
``python -m hybrid.networks`` / ``hybrid.pretrain``) runs its work through :func:`run_main`,
which turns those into an exit code. A bug (any other exception) still shows its traceback. It
lives in ``hybrid``, the lowest layer, so the simulation's own command lines use it too;
``agents.cli`` adds the option checks of the training and evaluation command lines.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from hybrid.data import DatasetNotFoundError

EXIT_USAGE = 2
"""Exit code of a configuration error (the code tyro exits with on a bad option)."""
EXIT_INTERRUPTED = 130
"""Exit code after Ctrl-C (128 + SIGINT)."""
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, DatasetNotFoundError)
"""What bad input raises: reported in one line, not as a traceback."""


def one_line(error: BaseException) -> str:
    """The error's message on one line."""
    return " ".join(str(error).split()) or type(error).__name__


def run_main(work: Callable[[], Any], interrupted: str = "interrupted") -> int:
    """Run ``work``; 0 when it returns, ``EXIT_USAGE`` with ``error: <message>`` on standard
    error for bad input, ``EXIT_INTERRUPTED`` with ``interrupted`` after Ctrl-C."""
    try:
        work()
    except USER_ERRORS as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0
