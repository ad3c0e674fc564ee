"""Time units of a deployment, and the one way the toolkit writes a duration for people.

Drift ages and deployment times are seconds everywhere (``age_s``, ``time_s``, ``horizon_s``).
"""

from __future__ import annotations

SECONDS_PER_MINUTE = 60.0
SECONDS_PER_HOUR = 3_600.0
SECONDS_PER_DAY = 86_400.0
SECONDS_PER_YEAR = 3.15e7
"""A year rounded to three digits (365 days are 3.1536e7 s). Every timeline and result of this
project was measured with this value; changing it moves the default timeline's step times."""

_LABEL_UNITS = (
    ("y", SECONDS_PER_YEAR),
    ("d", SECONDS_PER_DAY),
    ("h", SECONDS_PER_HOUR),
    ("min", SECONDS_PER_MINUTE),
)


def time_label(seconds: float) -> str:
    """A short label for a duration, in its largest whole unit: ``1s``, ``9min``, ``3h``, ``16d``,
    ``1y`` (two significant digits).

    >>> [time_label(t) for t in (1.0, 540.0, 3.15e7)]
    ['1s', '9min', '1y']
    """
    for unit, size in _LABEL_UNITS:
        if seconds >= size * 0.999:
            return f"{seconds / size:.2g}{unit}".replace("e+0", "e")
    return f"{seconds:.2g}s"
