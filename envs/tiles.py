"""A chip with a finite number of analog tiles: which layers hold tiles, and what fits.

On a real analog chip the crossbar tiles are few (IBM's HERMES chip has 64 cores of 256x256
devices) and a network's layers compete for them. In a scenario with a tile budget
(``Scenario.tile_budget``, or ``tile_budget=`` on the environment):

* a layer is **resident** when it holds its tiles (``hybrid.energy.tiles_used``: one 256x256
  tile per started 256 rows and 256 columns). Only a resident layer can run analog.
* Choosing analog (``ANALOG`` or ``REPROGRAM``) for a layer that is not resident **programs** it
  onto free tiles at the start of the step: the reprogramming energy, a fresh noise draw and a
  fresh drift clock, exactly as ``REPROGRAM`` does for a resident layer.
* Choosing ``DIGITAL`` for a resident layer **frees** its tiles: its weights are gone from the
  chip, and running it analog again costs a new programming. A resident layer left analog keeps
  drifting from its last programming.
* An action that asks for more tiles than the chip has is **projected**, deterministically,
  before anything happens: resident layers that stay analog keep their tiles; then the layers
  asking to be programmed are admitted in :attr:`TileBudget.priority` order (energy saved per
  tile, largest first; ties in forward order) while they fit, and the others run digital. The
  environment reports the request and what was done (``info["requested_action"]``,
  ``info["projected"]``), and ``action_masks()`` offers programming a layer only if it fits in
  the tiles free now, so a masked learner rarely meets the projection.

Programming time is reported (``info["programming_time_s"]``), not charged:
:data:`PROGRAM_S_PER_ROW` makes a 256-row tile take about 2.6 ms, nine orders of magnitude
below the streaming scenarios' two-hour steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from envs.actions import DIGITAL
from hybrid.energy import EnergyTable, LayerSpec, substrate_cost_table, tiles_used

PROGRAM_S_PER_ROW = 1e-5
"""Seconds to program one crossbar row, all columns in parallel. AN ESTIMATE: ~10
program-and-verify iterations of ~1 us (PCM SET/RESET pulses of 0.1-1 us plus a verify read;
Le Gallo et al., Nature Electronics 2023, program a HERMES tile row by row with iterative
program-and-verify)."""


@dataclass(frozen=True)
class TileBudget:
    """The analog tiles of one chip and the tiles each layer needs.

    Attributes:
        budget: tiles on the chip.
        tiles: per layer, the tiles it occupies when resident.
        priority: layer indices in the order the projection admits them (and the initial
            placement fills the chip): energy saved per tile when analog, largest first.
        saving_pj: per layer, the energy per inference it saves when analog (pJ; <= 0: none).
        rows: per layer, the crossbar rows it programs (for the programming time).
    """

    budget: int
    tiles: np.ndarray
    priority: tuple[int, ...]
    saving_pj: np.ndarray
    rows: np.ndarray

    @classmethod
    def for_layers(cls, budget: int, specs: Sequence[LayerSpec], table: EnergyTable) -> TileBudget:
        """The budget for a network's layers under an energy table's tile size and prices."""
        if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
            raise ValueError(f"tile_budget must be an integer >= 1 (tiles), got {budget!r}")
        tiles = np.array([tiles_used(spec, table) for spec in specs], dtype=int)
        costs = substrate_cost_table(specs, table)
        saving = costs[:, 0] - costs[:, 1]
        # Stable sort: ties keep forward order.
        priority = tuple(int(i) for i in np.argsort(-saving / tiles, kind="stable"))
        # Every tile is written row by row; a layer's row-writes: its rows per column of tiles.
        rows = np.array([spec.rows * -(-spec.cols // table.tile_cols) for spec in specs])
        return cls(int(budget), tiles, priority, saving, rows)

    @property
    def needed(self) -> int:
        """Tiles every layer together would occupy."""
        return int(self.tiles.sum())

    def used(self, resident: np.ndarray) -> int:
        """Tiles the resident layers occupy."""
        return int(self.tiles[np.asarray(resident, dtype=bool)].sum())

    def initial(self) -> np.ndarray:
        """The layers programmed at ``t = 0``: in priority order, every layer that saves energy
        when analog, while it fits."""
        resident = np.zeros(self.tiles.size, dtype=bool)
        used = 0
        for index in self.priority:
            if self.saving_pj[index] > 0 and used + self.tiles[index] <= self.budget:
                resident[index] = True
                used += int(self.tiles[index])
        return resident

    def project(self, action: np.ndarray, resident: np.ndarray) -> np.ndarray:
        """``action`` with every layer that does not fit run digitally (see the module
        docstring); the action itself when everything fits."""
        resident = np.asarray(resident, dtype=bool)
        wants = action != DIGITAL
        used = self.used(wants & resident)
        projected = action.copy()
        for index in self.priority:
            if wants[index] and not resident[index]:
                if used + self.tiles[index] <= self.budget:
                    used += int(self.tiles[index])
                else:
                    projected[index] = DIGITAL
        return projected

    def fits(self, resident: np.ndarray) -> np.ndarray:
        """Per layer, whether it could be programmed onto the tiles free now (resident layers:
        True)."""
        resident = np.asarray(resident, dtype=bool)
        free = self.budget - self.used(resident)
        return resident | (self.tiles <= free)

    def programming_time_s(self, programmed: np.ndarray) -> float:
        """Seconds to program the layers marked in ``programmed`` one row at a time."""
        return float(self.rows[np.asarray(programmed, dtype=bool)].sum() * PROGRAM_S_PER_ROW)
