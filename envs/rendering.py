"""The ``rgb_array`` picture both environments render: which layer ran where, step by step.

One row per layer and one column per step, coloured by the layer's placement (the colours of
``agents.plots``), grey for the steps to come; below them one row per task, from red (quality 0)
to green (quality 1), where each environment says what quality means for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from envs.actions import ANALOG, DIGITAL, REPROGRAM

RENDER_CELL_PX = 16
"""Side of one cell of the ``rgb_array`` picture, in pixels."""
RENDER_COLOURS: dict[Any, tuple[int, int, int]] = {
    DIGITAL: (76, 114, 176),
    ANALOG: (242, 165, 65),
    REPROGRAM: (196, 78, 82),
    "future": (220, 220, 220),
    "bad": (200, 40, 40),
    "good": (40, 170, 60),
}
"""Colours of the picture (the placement colours of ``agents.plots``)."""


def placement_picture(
    history: Sequence[tuple[Sequence[int], Sequence[float]]],
    n_layers: int,
    n_tasks: int,
    n_steps: int,
    cell: int = RENDER_CELL_PX,
) -> np.ndarray:
    """The picture (H, W, 3) uint8 of ``history``: per step done, each layer's action code
    (DIGITAL, ANALOG, REPROGRAM) and each task's quality in [0, 1] (clipped)."""
    grid = np.empty((n_layers + n_tasks, n_steps, 3), dtype=np.uint8)
    grid[:] = RENDER_COLOURS["future"]
    low, high = np.array(RENDER_COLOURS["bad"]), np.array(RENDER_COLOURS["good"])
    for step, (codes, quality) in enumerate(history):
        grid[:n_layers, step] = [RENDER_COLOURS[code] for code in codes]
        clipped = np.clip(np.asarray(quality, dtype=float), 0.0, 1.0)
        grid[n_layers:, step] = (low + np.outer(clipped, high - low)).astype(np.uint8)
    picture = np.repeat(np.repeat(grid, cell, axis=0), cell, axis=1)
    picture[::cell] = picture[:, ::cell] = 255  # white grid lines
    return picture
