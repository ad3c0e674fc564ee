"""Chips that differ: a per-chip process variation of the analog tiles, drawn from the chip's
number.

Real PCM chips of one design differ from each other: the drift exponent of the devices and the
precision the programming loop reaches vary from die to die and wafer to wafer, some devices
fail to program at all, and a tile of a chip can be worse than the rest. A
:class:`ChipVariation` describes the spread; :meth:`ChipVariation.draw` gives one chip's
multipliers, a pure function of the chip's number (so chip ``c`` is the same chip in every
process and every run). :class:`TileVariation` applies them to AIHWKit's
``PCMLikeNoiseModel`` of a layer's tiles before they are programmed or read, through the scale
knobs that model has for exactly this (``prog_noise_scale``, ``drift_scale``,
``read_noise_scale``) and a share of devices stuck at zero conductance.

The evaluator (``hybrid.simulator.CachedEvaluator``) identifies a programming event by a
number; a deployment with chip variation numbers them ``chip + PROGRAMMING_ID_STRIDE *
programming`` (``envs.chips.programming_chip``), so the physical chip is part of every seed and
cache key of a tile, and a chip's variation never reaches another chip's cached tiles.

Sources: the drift exponent nu of PCM devices is about 0.05 with a device-to-device spread of
0.01-0.04 in AIHWKit's fit of one million IBM devices (``PCMLikeNoiseModel``, after Nandakumar
et al., "Phase-change memory models for deep learning training and inference", ICECS 2019, and
Joshi et al., "Accurate deep neural network inference using computational phase-change memory",
Nature Communications 2020); it depends on the device's amorphous volume and on temperature
(Le Gallo et al., "Collective structural relaxation in phase-change memory devices", Advanced
Electronic Materials 2018), which differ between dies. Programming precision depends on the
iterative programming loop and the devices it meets (Nandakumar et al., "Precision of synaptic
weights programmed in phase-change memory devices for deep learning inference", IEDM 2020).
The chip-to-chip spreads used by the named scenarios are stress settings chosen so that chips
differ as much as the device-to-device spread inside a chip, not measured die-to-die values.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from aihwkit.inference import PCMLikeNoiseModel

from hybrid.hardware import HardwareConfig

PROGRAMMING_ID_STRIDE = 1_000_000
"""Programming-event numbers of a deployment with chip variation: ``chip + STRIDE *
programming``; chips are numbered below it."""
VARIATION_SEED = 20_260_226
"""Seeds every chip's draw together with the chip's number: chip ``c``'s multipliers are the
same in every process."""


def physical_chip(programming_id: int) -> int:
    """The chip a programming event of a varied deployment happened on."""
    return int(programming_id) % PROGRAMMING_ID_STRIDE


@dataclass(frozen=True)
class ChipDraw:
    """One chip's process variation: multipliers of the hardware's noise and drift scales.

    Attributes:
        chip: the chip's number.
        prog_noise: multiplier of the programming noise (``prog_noise_scale``).
        drift: multiplier of every device's drift exponent nu (``drift_scale``).
        read_noise: multiplier of the 1/f read noise (``read_noise_scale``).
        stuck_share: share of devices stuck at zero conductance (0..1).
        weak_layer: index of the layer whose tiles are weak on this chip (None: none).
        weak_drift: extra multiplier of the weak tiles' drift exponent.
    """

    chip: int
    prog_noise: float = 1.0
    drift: float = 1.0
    read_noise: float = 1.0
    stuck_share: float = 0.0
    weak_layer: int | None = None
    weak_drift: float = 1.0

    def drift_of(self, layer: int) -> float:
        """The drift-exponent multiplier of ``layer``'s tiles on this chip."""
        return self.drift * (self.weak_drift if layer == self.weak_layer else 1.0)


@dataclass(frozen=True)
class ChipVariation:
    """How chips of one design differ: the spread of their process parameters.

    Each chip draws (deterministically from its number, :meth:`draw`) lognormal multipliers
    ``exp(sigma * z)`` of the hardware's programming noise, drift exponent and read noise (median
    1: the hardware preset is the typical chip), a share of stuck devices, and possibly one weak
    layer whose tiles drift faster.

    Attributes:
        prog_noise_sigma: sigma of the log of the chip's programming-noise multiplier
            (dimensionless; 0.4: one chip in six programs 1.5x noisier than the median chip).
        drift_sigma: sigma of the log of the chip's drift-exponent multiplier (dimensionless).
        read_noise_sigma: sigma of the log of the chip's read-noise multiplier (dimensionless).
        stuck_share_max: the chip's share of devices stuck at zero conductance (failed to
            program, stuck in the RESET state) is uniform in ``[0, stuck_share_max]``
            (fraction of devices, 0..1).
        weak_tile_probability: probability that a chip has one weak layer (drawn uniformly among
            the layers): its tiles sit where the devices drift faster, so that layer degrades
            mid-deployment while the rest of the chip holds (0..1).
        weak_tile_drift: multiplier of the weak tiles' drift exponent on top of the chip's
            (dimensionless, >= 1).
    """

    prog_noise_sigma: float = 0.0
    drift_sigma: float = 0.0
    read_noise_sigma: float = 0.0
    stuck_share_max: float = 0.0
    weak_tile_probability: float = 0.0
    weak_tile_drift: float = 1.0

    def __post_init__(self) -> None:
        for name in ("prog_noise_sigma", "drift_sigma", "read_noise_sigma"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"chip variation {name} must be a finite number >= 0")
        for name in ("stuck_share_max", "weak_tile_probability"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"chip variation {name} must be in [0, 1]")
        if not self.weak_tile_drift >= 1:
            raise ValueError("chip variation weak_tile_drift must be >= 1")

    def draw(self, chip: int, n_layers: int) -> ChipDraw:
        """Chip ``chip``'s variation (a pure function of the chip's number)."""
        rng = np.random.default_rng([VARIATION_SEED, int(chip)])
        z = rng.standard_normal(3)
        stuck, weak, layer = rng.random(3)
        has_weak = weak < self.weak_tile_probability
        return ChipDraw(
            chip=int(chip),
            prog_noise=float(np.exp(self.prog_noise_sigma * z[0])),
            drift=float(np.exp(self.drift_sigma * z[1])),
            read_noise=float(np.exp(self.read_noise_sigma * z[2])),
            stuck_share=float(self.stuck_share_max * stuck),
            weak_layer=int(layer * n_layers) if has_weak else None,
            weak_drift=self.weak_tile_drift if has_weak else 1.0,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return dataclasses.asdict(self)


class StuckDevicesPCMNoiseModel(PCMLikeNoiseModel):
    """AIHWKit's ``PCMLikeNoiseModel`` with a share of devices stuck at zero conductance.

    After the programming noise, each device is stuck with probability ``stuck_share``, drawn
    from its own generator seeded by ``stuck_seed`` (chip, layer and tile: the same devices fail
    on every programming of that tile) and the conductance slice. A stuck device stays at zero:
    drift and read noise scale with its conductance.
    """

    stuck_share: float = 0.0
    stuck_seed: int = 0
    _slices: int = 0

    def apply_programming_noise_to_conductance(self, g_target: torch.Tensor) -> torch.Tensor:
        g_prog = super().apply_programming_noise_to_conductance(g_target)
        if self.stuck_share > 0:
            generator = torch.Generator().manual_seed(self.stuck_seed + self._slices)
            self._slices += 1
            stuck = torch.rand(g_prog.shape, generator=generator) < self.stuck_share
            g_prog = g_prog.masked_fill(stuck, 0.0)
        return g_prog


class TileVariation:
    """The evaluator's hook: set a layer's tiles to its chip's variation before they are
    programmed or read (``CachedEvaluator.tile_variation``).

    Args:
        variation: the spread chips are drawn from.
        hardware: the deployment's hardware (the typical chip's scales).
        n_layers: layers of the model (the weak layer is drawn among them).
    """

    def __init__(self, variation: ChipVariation, hardware: HardwareConfig, n_layers: int) -> None:
        self.variation = variation
        self.hardware = hardware
        self.n_layers = int(n_layers)

    def chip_draw(self, programming_id: int) -> ChipDraw:
        """The variation of the chip a programming event happened on."""
        return self.variation.draw(physical_chip(programming_id), self.n_layers)

    def __call__(self, layer: Any, index: int, programming_id: int) -> None:
        """Give layer ``index``'s tiles the noise model of its chip."""
        if self.hardware.ideal:
            return
        draw = self.chip_draw(programming_id)
        hardware = self.hardware
        for tile_index, tile in enumerate(layer.analog.analog_tiles()):
            model = StuckDevicesPCMNoiseModel(
                g_max=hardware.g_max_us,
                prog_noise_scale=hardware.prog_noise_scale * draw.prog_noise,
                read_noise_scale=hardware.read_noise_scale * draw.read_noise,
                drift_scale=hardware.drift_scale * draw.drift_of(index),
            )
            model.stuck_share = draw.stuck_share
            seeds = np.random.default_rng([VARIATION_SEED, draw.chip, index, tile_index])
            model.stuck_seed = int(seeds.integers(2**60))
            tile.rpu_config.noise_model = model
