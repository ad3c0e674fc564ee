"""How the command lines end: one line on standard error and an exit code, never a traceback.

Every command line declares its options as a dataclass parsed by tyro. Library code raises
``ValueError`` (``RunFolderError`` is one) or, for missing data, ``DatasetNotFoundError``, with
one line that names the fix; ``train_agent.py``, ``evaluate.py`` and the benchmarks run their
work through :func:`run_main` (``hybrid.cli``'s, re-exported here), which turns those into an
exit code. A bug (any other exception) still shows its traceback.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path
from typing import Any

from hybrid.cli import (  # noqa: F401 - the exit machinery, re-exported for every script
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    USER_ERRORS,
    one_line,
    run_main,
)


def require(ok: bool, option: str, value: Any, what: str) -> None:
    """A one-line ValueError ``--option must be <what>, got <value>`` unless ``ok``."""
    if not ok:
        raise ValueError(f"--{option.replace('_', '-')} must be {what}, got {value!r}")


def require_int(option: str, value: Any, low: int) -> None:
    """``value`` is an integer >= ``low``."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= low
    require(ok, option, value, f"an integer >= {low}")


def require_number(
    option: str, value: Any, low: float, high: float = math.inf, low_open: bool = False
) -> None:
    """``value`` is a finite number in ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    ok = (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value > low if low_open else value >= low)
        and value <= high
    )
    bounds = f"> {low:g}" if low_open else f">= {low:g}"
    if high < math.inf:
        bounds = f"in {'(' if low_open else '['}{low:g}, {high:g}]"
    require(ok, option, value, f"a finite number {bounds}")


def check_output_dir(path: Path, option: str = "out") -> None:
    """A one-line ValueError unless ``path`` is, or can be created as, a writable folder."""
    flag = f"--{option.replace('_', '-')}"
    existing = Path(path).absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(
            f"{flag} {path}: {existing} is a file, not a folder, so the folder cannot be "
            f"created; choose another {flag}"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {path}: {existing} is not writable; choose another {flag}")
