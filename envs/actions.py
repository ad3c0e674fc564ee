"""The action of the partitioning environments: one choice per toggleable layer.

A layer is either computed digitally, or on its analog tiles as they are, or on its analog
tiles just rewritten (fresh programming noise, drift age back to zero, at an energy cost).
Every module that reads or writes actions uses these names, never the bare numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

DIGITAL = 0
"""Run the layer on the digital unit (exact, about 1 pJ per MAC)."""
ANALOG = 1
"""Run the layer on its analog tiles with the weights programmed earlier (they keep drifting)."""
REPROGRAM = 2
"""Reprogram the layer's analog tiles at the start of the step, then run it analog."""

ACTION_NAMES: tuple[str, ...] = ("digital", "analog", "analog+reprogram")
"""Name of each code, indexed by the code."""


def n_choices(allow_reprogram: bool) -> int:
    """Choices per layer: 3 with the reprogram action, 2 without it."""
    return 3 if allow_reprogram else 2


def check_action(
    action: Any, n_layers: int, n_actions: int, expected: str | None = None
) -> np.ndarray:
    """``action`` as an int array of ``n_layers`` codes in ``0..n_actions-1``, or a one-line
    ValueError saying what an action is (``expected``: that sentence, for an environment whose
    action has more than one code per layer)."""
    expected = expected or (
        f"an action is {n_layers} integers (one per layer: "
        f"{', '.join(f'{i}={name}' for i, name in enumerate(ACTION_NAMES[:n_actions]))})"
    )
    try:
        array = np.asarray(action)
    except Exception:  # noqa: BLE001 - whatever it is, it is not an action
        raise ValueError(f"{expected}; got {action!r}") from None
    if array.shape != (n_layers,):
        raise ValueError(f"{expected}; got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or np.any(array != np.round(array)):
        raise ValueError(f"{expected}; got non-integer values {array.tolist()}")
    if array.min() < 0 or array.max() >= n_actions:
        raise ValueError(f"{expected}; got out-of-range values {array.tolist()}")
    return array.astype(int)


def placement_labels(analog: Sequence[bool], reprogrammed: Sequence[bool]) -> list[str]:
    """The name of what each layer did in a step (``info["placement"]``)."""
    return [
        ACTION_NAMES[REPROGRAM] if again else ACTION_NAMES[ANALOG if on else DIGITAL]
        for on, again in zip(analog, reprogrammed, strict=True)
    ]
