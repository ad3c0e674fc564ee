"""Energy model of a network split between an analog PCM in-memory chip and a digital unit.

AIHWKit has no energy model, so this module is ours. It prices one inference (one input sample)
of a network whose toggleable layers (convolutions and linear layers) each run either on analog
PCM crossbar tiles or on a digital MAC unit. Every price is a documented, overridable field of
:class:`EnergyTable`, sourced in docs/references.md. Nothing here needs torch.

The model, per layer and per sample:

- digital layer: ``macs * digital_pj_per_mac``.
- analog layer: ``macs * analog_pj_per_mac`` plus a fixed periphery (ADC/DAC) charge of
  ``tile_periphery_pj`` for every crossbar tile used by every matrix-vector product (MVM),
  however full the tile is. This is what makes tiny-fan-in layers (a first convolution with 9 or
  27 rows) poor analog candidates, while big linear layers save close to the per-MAC ratio.
- crossings: every data edge whose producer and consumer run on different substrates pays one
  SRAM write + read per activation (``crossing_pj_per_activation``). The network input is
  produced digitally, and the outputs of the heads are consumed digitally. A crossing is charged
  to the consuming layer; an analog head also pays for its own output crossing.

Reprogramming a layer's PCM devices is priced separately (:func:`reprogram_energy_pj`), since it
is an occasional action, not a per-inference cost. Training (forward, backward and weight
updates on either substrate, for the training-time environment) is priced by
:func:`training_energy` with the extra prices of :class:`TrainingEnergyTable`.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "ENERGY_TABLES",
    "EnergyReport",
    "EnergyTable",
    "LayerEnergy",
    "LayerSpec",
    "TrainingEnergy",
    "TrainingEnergyTable",
    "energy_per_inference",
    "get_energy_table",
    "get_training_energy_table",
    "layer_compute_pj",
    "reprogram_energy_pj",
    "substrate_cost_table",
    "tiles_used",
    "training_energy",
]

LAYER_KINDS = ("conv", "linear")


@dataclass(frozen=True)
class LayerSpec:
    """Shape facts of one toggleable layer (conv or linear) as mapped on a crossbar.

    All counts are per input sample. Specs of one network are listed in forward order, so a
    layer's ``parent`` always has a smaller index than the layer itself.

    Attributes:
        name: layer name, e.g. ``"conv1"`` or ``"fc3"``.
        kind: ``"conv"`` or ``"linear"``.
        rows: crossbar rows = fan-in (``in_channels*kh*kw`` for conv, ``in_features`` for
            linear). The bias is applied digitally and takes no row.
        cols: crossbar columns = ``out_channels`` / ``out_features``.
        mvms_per_sample: matrix-vector products per sample: output positions
            ``H_out*W_out`` for conv, 1 for linear.
        in_activations: elements of the layer's input tensor (after any pool/flatten).
        out_activations: elements of the layer's output tensor.
        parent: index (in the spec list) of the toggleable layer whose output feeds this one
            (through ReLU/pool/flatten); ``None`` means the network input.
    """

    name: str
    kind: str
    rows: int
    cols: int
    mvms_per_sample: int
    in_activations: int
    out_activations: int
    parent: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in LAYER_KINDS:
            raise ValueError(
                f"LayerSpec {self.name!r}: kind must be one of {LAYER_KINDS}, got {self.kind!r}"
            )
        for name in ("rows", "cols", "mvms_per_sample", "in_activations", "out_activations"):
            value = getattr(self, name)
            if not _is_int(value) or value <= 0:
                raise ValueError(
                    f"LayerSpec {self.name!r}: {name} must be a positive integer, got {value!r}"
                )
        if self.parent is not None and (not _is_int(self.parent) or self.parent < 0):
            raise ValueError(
                f"LayerSpec {self.name!r}: parent must be None (network input) or a "
                f"non-negative layer index, got {self.parent!r}"
            )

    @property
    def macs(self) -> int:
        """Multiply-accumulates per sample: ``rows * cols * mvms_per_sample``."""
        return self.rows * self.cols * self.mvms_per_sample

    @property
    def n_weights(self) -> int:
        """Weights held on the crossbar (bias excluded): ``rows * cols``."""
        return self.rows * self.cols


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _price(default: float, unit: str, sweep: str) -> Any:
    """A dataclass field carrying its unit and sweep range, used in error messages."""
    return field(default=default, metadata={"unit": unit, "sweep": sweep})


@dataclass(frozen=True)
class EnergyTable:
    """Prices of the energy model (defaults and ranges: docs/references.md).

    Attributes:
        digital_pj_per_mac: pJ per INT8 multiply-accumulate on the digital unit, on-chip SRAM
            traffic included. Default 1.0, sweep 0.3-2. Source: Horowitz, ISSCC 2014 (8-bit
            multiply 0.2 pJ, add 0.03 pJ, SRAM ~10 pJ per 64-bit access); TPU v1 ~0.9 pJ/MAC.
        analog_pj_per_mac: pJ per MAC on an analog PCM tile with 8-bit I/O. Default 0.2,
            sweep 0.16-0.8. Source: IBM HERMES, Le Gallo et al., Nature Electronics 2023
            (9.76 TOPS/W = 0.205 pJ/MAC one-phase; 2.48 TOPS/W ~ 0.8 pJ/MAC four-phase);
            Ambrogio et al., Nature 2023 (12.4 TOPS/W ~ 0.16 pJ/MAC).
        tile_rows: rows of one crossbar tile. Default 256 (the HERMES core is 256x256).
        tile_cols: columns of one crossbar tile. Default 256.
        tile_periphery_pj: pJ of fixed ADC/DAC periphery charged per tile per MVM, however
            full the tile. Default 50, sweep 10-200. AN ESTIMATE, not a measured figure:
            256 column ADC conversions at ~0.15 pJ each (8-bit, a Walden figure of merit of
            ~0.6 fJ/step gives 2^8 x 0.6 fJ ~ 0.15 pJ) ~ 38 pJ, plus 256 row DAC/driver
            activations at ~0.05 pJ ~ 13 pJ. On a full 256x256 tile this adds only
            50/65536 ~ 0.001 pJ/MAC to the sourced per-MAC figure, but on a 9x8 layer it is
            ~0.7 pJ/MAC, which is the point: periphery is ADC-dominated and paid per tile use
            (NeuroSim; Newton, ISCA 2018).
        crossing_pj_per_activation: pJ per activation crossing between analog and digital
            (one SRAM write + one read). Default 2.0, sweep 1-5.
        reprogram_pj_per_weight: pJ to reprogram one weight. Default 400 (0.4 nJ), sweep
            50-5000. AN ESTIMATE: 2 PCM devices per weight x ~10 program-verify pulses x
            ~20 pJ per pulse.
    """

    digital_pj_per_mac: float = _price(1.0, "pJ/MAC", "0.3-2")
    analog_pj_per_mac: float = _price(0.2, "pJ/MAC", "0.16-0.8")
    tile_rows: int = _price(256, "rows", "64-1024")
    tile_cols: int = _price(256, "columns", "64-1024")
    tile_periphery_pj: float = _price(50.0, "pJ per tile per MVM", "10-200")
    crossing_pj_per_activation: float = _price(2.0, "pJ/activation", "1-5")
    reprogram_pj_per_weight: float = _price(400.0, "pJ/weight", "50-5000")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            unit, sweep = f.metadata["unit"], f.metadata["sweep"]
            if f.name in ("tile_rows", "tile_cols"):
                if not _is_int(value) or value <= 0:
                    raise ValueError(
                        f"EnergyTable.{f.name} must be a positive integer ({unit}), got "
                        f"{value!r}; use e.g. {f.default} (typical {sweep})"
                    )
                object.__setattr__(self, f.name, int(value))
            else:
                if not _is_real(value) or not math.isfinite(value) or value < 0:
                    raise ValueError(
                        f"EnergyTable.{f.name} must be a finite number >= 0 ({unit}), got "
                        f"{value!r}; use e.g. {f.default} (sweep range {sweep})"
                    )
                object.__setattr__(self, f.name, float(value))

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Names of every price field, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    def replace(self, **changes: Any) -> EnergyTable:
        """A copy with some fields changed; unknown field names raise ValueError."""
        _check_keys(changes, "field")
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EnergyTable:
        """Build from a JSON-style mapping; missing keys take defaults, unknown keys raise."""
        if not isinstance(d, Mapping):
            raise ValueError(f"EnergyTable.from_dict needs a mapping, got {type(d).__name__}")
        _check_keys(d, "key")
        return cls(**dict(d))

    def to_dict(self) -> dict[str, float | int]:
        """Every field as a JSON-friendly dict (inverse of :meth:`from_dict`)."""
        return dataclasses.asdict(self)


def _check_keys(keys: Mapping[str, Any], what: str) -> None:
    valid = EnergyTable.field_names()
    unknown = sorted(set(keys) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown EnergyTable {what}(s) {unknown}; valid {what}s are: {', '.join(valid)}"
        )


_DEFAULT_TABLE = EnergyTable()

ENERGY_TABLES: dict[str, EnergyTable] = {
    # The sourced defaults (docs/references.md): HERMES one-phase analog, INT8 digital.
    "default": _DEFAULT_TABLE,
    # HERMES four-phase mode (2.48 TOPS/W ~ 0.8 pJ/MAC): higher precision, analog only ~1.25x
    # cheaper per MAC than digital, so partitioning gains shrink.
    "hermes-4phase": _DEFAULT_TABLE.replace(analog_pj_per_mac=0.8),
    # Ambrogio et al., Nature 2023, 12.4 TOPS/W -> 1 / (2 * 12.4e12) J ~ 0.16 pJ/MAC.
    "optimistic-analog": _DEFAULT_TABLE.replace(analog_pj_per_mac=0.16),
    # An efficient INT8 accelerator at the low end of the Horowitz/TPU range (0.3 pJ/MAC).
    "low-power-digital": _DEFAULT_TABLE.replace(digital_pj_per_mac=0.3),
}
"""Named energy presets. ``"default"``: the sourced defaults. ``"hermes-4phase"``:
analog 0.8 pJ/MAC (HERMES four-phase, 2.48 TOPS/W). ``"optimistic-analog"``: analog 0.16 pJ/MAC
(Ambrogio et al. 2023, 12.4 TOPS/W). ``"low-power-digital"``: digital 0.3 pJ/MAC."""


def get_energy_table(name_or_table: str | EnergyTable | Mapping[str, Any] | None) -> EnergyTable:
    """Resolve a preset name, a table, a JSON-style dict of fields, or None (the default)."""
    if name_or_table is None:
        return _DEFAULT_TABLE
    if isinstance(name_or_table, EnergyTable):
        return name_or_table
    if isinstance(name_or_table, str):
        if name_or_table not in ENERGY_TABLES:
            raise ValueError(
                f"unknown energy table {name_or_table!r}; choose one of: {', '.join(ENERGY_TABLES)}"
            )
        return ENERGY_TABLES[name_or_table]
    if isinstance(name_or_table, Mapping):
        return EnergyTable.from_dict(name_or_table)
    raise TypeError(
        f"energy table must be a preset name, EnergyTable, dict or None, "
        f"got {type(name_or_table).__name__}"
    )


def tiles_used(spec: LayerSpec, table: EnergyTable | None = None) -> int:
    """Crossbar tiles holding the layer: ``ceil(rows/tile_rows) * ceil(cols/tile_cols)``."""
    table = get_energy_table(table)
    return math.ceil(spec.rows / table.tile_rows) * math.ceil(spec.cols / table.tile_cols)


@dataclass(frozen=True)
class LayerEnergy:
    """Energy of one layer for one sample, in pJ, split by cause."""

    name: str
    analog: bool
    compute_pj: float
    """MAC energy on the chosen substrate (pJ)."""
    periphery_pj: float
    """ADC/DAC tile periphery (pJ); 0 for a digital layer."""
    crossing_pj: float
    """Analog<->digital crossings charged to this layer (its input, and a head's output) (pJ)."""

    @property
    def total_pj(self) -> float:
        """Compute + periphery + crossing energy (pJ)."""
        return self.compute_pj + self.periphery_pj + self.crossing_pj


@dataclass(frozen=True)
class EnergyReport:
    """Energy of one inference (one sample) under a placement, with a per-layer breakdown."""

    layers: tuple[LayerEnergy, ...]

    @property
    def total_pj(self) -> float:
        """Energy per inference (one sample), in pJ."""
        return sum(layer.total_pj for layer in self.layers)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly dict: totals by cause and per-layer breakdown, all in pJ."""
        return {
            "total_pj": self.total_pj,
            "compute_pj": sum(layer.compute_pj for layer in self.layers),
            "periphery_pj": sum(layer.periphery_pj for layer in self.layers),
            "crossing_pj": sum(layer.crossing_pj for layer in self.layers),
            "layers": [
                {
                    "name": layer.name,
                    "analog": bool(layer.analog),
                    "compute_pj": layer.compute_pj,
                    "periphery_pj": layer.periphery_pj,
                    "crossing_pj": layer.crossing_pj,
                    "total_pj": layer.total_pj,
                }
                for layer in self.layers
            ],
        }


def layer_compute_pj(
    spec: LayerSpec, analog: bool, table: EnergyTable | None = None
) -> tuple[float, float]:
    """``(compute_pj, periphery_pj)`` of one layer per sample on the given substrate."""
    table = get_energy_table(table)
    if not analog:
        return spec.macs * table.digital_pj_per_mac, 0.0
    periphery = spec.mvms_per_sample * tiles_used(spec, table) * table.tile_periphery_pj
    return spec.macs * table.analog_pj_per_mac, periphery


def _check_specs(specs: Sequence[LayerSpec]) -> None:
    for index, spec in enumerate(specs):
        if spec.parent is not None and spec.parent >= index:
            raise ValueError(
                f"layer {index} ({spec.name!r}) has parent {spec.parent}; list specs in forward "
                f"order so every parent index is smaller than its child's"
            )


def _as_placement(placement: Sequence[bool] | np.ndarray, n_layers: int) -> list[bool]:
    values = np.asarray(placement)
    if values.ndim != 1 or values.shape[0] != n_layers:
        raise ValueError(
            f"placement has shape {values.shape} but the network has {n_layers} toggleable "
            f"layers; pass one bool per layer (True = analog)"
        )
    if not np.isin(values, (0, 1)).all():
        raise ValueError(
            f"placement must hold only booleans or 0/1 (True = analog), got {values.tolist()}"
        )
    return [bool(v) for v in values]


def energy_per_inference(
    specs: Sequence[LayerSpec],
    placement: Sequence[bool] | np.ndarray,
    table: EnergyTable | None = None,
) -> EnergyReport:
    """Energy of one inference (one sample) with ``placement[i]`` True meaning layer i analog.

    Crossings: the network input counts as digital and head outputs (layers no other layer
    uses as parent) are consumed digitally; every edge between different substrates pays
    ``activations * crossing_pj_per_activation``, charged to the consuming layer.
    """
    table = get_energy_table(table)
    _check_specs(specs)
    analog = _as_placement(placement, len(specs))
    parents = {spec.parent for spec in specs if spec.parent is not None}
    price = table.crossing_pj_per_activation
    layers = []
    for index, spec in enumerate(specs):
        compute, periphery = layer_compute_pj(spec, analog[index], table)
        producer_analog = False if spec.parent is None else analog[spec.parent]
        crossing = spec.in_activations * price if analog[index] != producer_analog else 0.0
        if analog[index] and index not in parents:
            crossing += spec.out_activations * price  # a head's output goes back to digital
        layers.append(LayerEnergy(spec.name, analog[index], compute, periphery, crossing))
    return EnergyReport(tuple(layers))


def reprogram_energy_pj(spec: LayerSpec, table: EnergyTable | None = None) -> float:
    """Energy to reprogram all of a layer's weights on PCM (pJ): price per weight * weights."""
    table = get_energy_table(table)
    return table.reprogram_pj_per_weight * spec.n_weights


def substrate_cost_table(
    specs: Sequence[LayerSpec], table: EnergyTable | None = None
) -> np.ndarray:
    """Per-sample energy (pJ) of each layer if digital (column 0) or analog (column 1).

    Compute plus periphery, crossings excluded (they depend on the neighbours' placement).
    Shape ``(n_layers, 2)``, float64; meant for agent observations.
    """
    table = get_energy_table(table)
    costs = np.zeros((len(specs), 2), dtype=np.float64)
    for index, spec in enumerate(specs):
        for column, analog in enumerate((False, True)):
            costs[index, column] = sum(layer_compute_pj(spec, analog, table))
    return costs


# -- training ------------------------------------------------------------------------------------
# Training a layer costs more than running it: a forward pass, a backward pass (the gradient with
# respect to the layer's input, and the gradient with respect to its weights) and, once per
# mini-batch, an update of every weight. The prices below extend the inference table to that.


@dataclass(frozen=True)
class TrainingEnergyTable:
    """Prices of training a layer on either substrate, beyond the inference table.

    The inference :class:`EnergyTable` still prices every analog matrix-vector product
    (``analog_pj_per_mac`` plus ``tile_periphery_pj`` per tile per MVM), every crossing and the
    programming of a tile (``reprogram_pj_per_weight``). This table adds what only training does.

    Digital training runs in FP16 arithmetic (inference is INT8). Analog training follows the
    mixed-precision in-memory scheme (Le Gallo et al., Nature Electronics 2018; Nandakumar et
    al., Frontiers in Neuroscience 2020): the forward pass and the input gradient are
    matrix-vector products on the crossbar (the backward one through the transposed array), the
    weight gradient (an outer product of inputs and errors) is computed digitally and
    accumulated in a high-precision digital variable, and the devices receive programming pulses
    (no verify) when the accumulated update exceeds their granularity.

    Attributes:
        digital_pj_per_mac: pJ per FP16 multiply-accumulate in training, operand SRAM traffic
            included. Default 2.0, sweep 1-5. AN ESTIMATE from Horowitz, ISSCC 2014 (45 nm):
            16-bit float multiply 1.1 pJ + add 0.4 pJ, plus ~0.5 pJ of SRAM traffic as in the
            inference figure.
        input_gradient_macs_per_mac: MACs of the gradient with respect to a layer's input, per
            forward MAC. Default 1 (the transposed product); layers fed by the network input need
            none. Source: standard backpropagation (the backward pass costs about twice the
            forward one: Epoch AI, "What's the backward-forward FLOP ratio for neural
            networks?", 2021).
        weight_gradient_macs_per_mac: MACs of the gradient with respect to a layer's weights,
            per forward MAC. Default 1 (the outer product); same source. Computed digitally on
            both substrates.
        update_pj_per_weight: pJ to update one weight (or, analog, its digital accumulator) once
            per mini-batch: read weight, gradient and momentum, a 32-bit multiply-add, write
            back. Default 25, sweep 10-50. AN ESTIMATE from Horowitz, ISSCC 2014: four 32-bit
            accesses to an 8 KB SRAM at ~5 pJ plus a 32-bit float multiply-add (4.6 pJ).
        analog_update_pulses_per_weight: programming pulses one analog weight receives per
            mini-batch update. Default 1, sweep 0.01-2. AN ESTIMATE, an upper bound: the
            mixed-precision scheme transfers at most about one device-granularity step per
            update at usual learning rates, and most devices get none.
        pulse_pj: pJ of one PCM programming pulse without verify. Default 20, sweep 5-50. AN
            ESTIMATE, the per-pulse figure behind ``EnergyTable.reprogram_pj_per_weight`` (2
            devices x ~10 program-verify pulses x ~20 pJ).
        readout_pj_per_weight: pJ to read one weight off a tile into digital memory when a layer
            moves from analog to digital training. Default 2, sweep 1-10. AN ESTIMATE: one
            8-bit conversion (~0.15 pJ, see ``tile_periphery_pj``) and one SRAM write.
    """

    digital_pj_per_mac: float = _price(2.0, "pJ/MAC", "1-5")
    input_gradient_macs_per_mac: float = _price(1.0, "MACs per forward MAC", "1")
    weight_gradient_macs_per_mac: float = _price(1.0, "MACs per forward MAC", "1")
    update_pj_per_weight: float = _price(25.0, "pJ per weight per update", "10-50")
    analog_update_pulses_per_weight: float = _price(1.0, "pulses per weight per update", "0.01-2")
    pulse_pj: float = _price(20.0, "pJ/pulse", "5-50")
    readout_pj_per_weight: float = _price(2.0, "pJ/weight", "1-10")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not _is_real(value) or not math.isfinite(value) or value < 0:
                raise ValueError(
                    f"TrainingEnergyTable.{f.name} must be a finite number >= 0 "
                    f"({f.metadata['unit']}), got {value!r}; use e.g. {f.default} "
                    f"(sweep range {f.metadata['sweep']})"
                )
            object.__setattr__(self, f.name, float(value))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainingEnergyTable:
        """Build from a JSON-style mapping; missing keys take defaults, unknown keys raise."""
        if not isinstance(d, Mapping):
            raise ValueError(
                f"TrainingEnergyTable.from_dict needs a mapping, got {type(d).__name__}"
            )
        valid = tuple(f.name for f in dataclasses.fields(cls))
        unknown = sorted(set(d) - set(valid))
        if unknown:
            raise ValueError(
                f"unknown TrainingEnergyTable key(s) {unknown}; valid keys are: {', '.join(valid)}"
            )
        return cls(**dict(d))

    def to_dict(self) -> dict[str, float]:
        """Every field as a JSON-friendly dict (inverse of :meth:`from_dict`)."""
        return dataclasses.asdict(self)


def get_training_energy_table(
    table: TrainingEnergyTable | Mapping[str, Any] | None,
) -> TrainingEnergyTable:
    """A table, a JSON-style dict of fields, or None (the defaults)."""
    if table is None:
        return TrainingEnergyTable()
    if isinstance(table, TrainingEnergyTable):
        return table
    if isinstance(table, Mapping):
        return TrainingEnergyTable.from_dict(table)
    raise ValueError(
        f"training energy table must be a TrainingEnergyTable, dict or None, "
        f"got {type(table).__name__}"
    )


@dataclass(frozen=True)
class TrainingEnergy:
    """Energy of training a network for a number of samples and updates, per layer and cause.

    Every array has one entry per layer, in pJ. ``forward_pj`` and ``backward_pj`` are the
    matrix products (and, analog, their tile periphery), ``update_pj`` the weight updates
    (digital arithmetic and, analog, the programming pulses), ``crossing_pj`` the activations
    and gradients crossing between substrates, ``switch_pj`` writing weights onto a tile or
    reading them off it when a layer changes substrate.
    """

    forward_pj: np.ndarray
    backward_pj: np.ndarray
    update_pj: np.ndarray
    crossing_pj: np.ndarray
    switch_pj: np.ndarray

    @property
    def layer_pj(self) -> np.ndarray:
        """Total per layer (pJ)."""
        return (
            self.forward_pj + self.backward_pj + self.update_pj + self.crossing_pj + self.switch_pj
        )

    @property
    def total_pj(self) -> float:
        """Total over the network (pJ)."""
        return float(self.layer_pj.sum())

    def as_dict(self) -> dict[str, float]:
        """Totals by cause, in pJ."""
        return {
            "total_pj": self.total_pj,
            "forward_pj": float(self.forward_pj.sum()),
            "backward_pj": float(self.backward_pj.sum()),
            "update_pj": float(self.update_pj.sum()),
            "crossing_pj": float(self.crossing_pj.sum()),
            "switch_pj": float(self.switch_pj.sum()),
        }


def training_energy(
    specs: Sequence[LayerSpec],
    placement: Sequence[bool] | np.ndarray,
    samples: int,
    updates: int,
    previous: Sequence[bool] | np.ndarray | None = None,
    rewritten: Sequence[bool] | np.ndarray | None = None,
    table: EnergyTable | None = None,
    training_table: TrainingEnergyTable | None = None,
) -> TrainingEnergy:
    """Energy of training with ``placement[i]`` True (layer i trained on its analog tile) for
    ``samples`` samples (forward and backward passes) and ``updates`` mini-batch updates.

    Per layer and sample, with ``m`` its MACs and ``T`` the training table:

    * digital: forward ``m`` and backward ``m * (input_gradient + weight_gradient)`` MACs at
      ``T.digital_pj_per_mac``;
    * analog: forward and input gradient are analog MVMs on the tile (inference price, per-tile
      periphery included), the weight gradient ``m * weight_gradient`` digital MACs;

    and per update, ``n_weights * T.update_pj_per_weight``, plus for an analog layer
    ``n_weights * analog_update_pulses_per_weight * pulse_pj``. Layers fed by the network input
    need no input gradient. Crossings: activations forward and gradients backward cross the same
    edges, twice the inference crossings per sample (the input gradient of a layer fed by the
    network input is not computed, so it crosses nothing). Switching (``previous`` = last
    placement): a layer that moves onto its tile, or whose tile is rewritten
    (``rewritten``, e.g. after a rollback), pays ``reprogram_pj_per_weight`` per weight; one that
    leaves its tile pays ``readout_pj_per_weight`` per weight.
    """
    table = get_energy_table(table)
    train = get_training_energy_table(training_table)
    _check_specs(specs)
    analog = np.array(_as_placement(placement, len(specs)))
    before = (
        np.zeros(len(specs), bool)
        if previous is None
        else np.array(_as_placement(previous, len(specs)))
    )
    again = (
        np.zeros(len(specs), bool)
        if rewritten is None
        else np.array(_as_placement(rewritten, len(specs)))
    )
    if samples < 0 or updates < 0:
        raise ValueError(f"samples and updates must be >= 0, got {samples} and {updates}")
    n = len(specs)
    forward, backward, update, crossing, switch = (np.zeros(n) for _ in range(5))
    inference = energy_per_inference(specs, analog, table)
    for index, spec in enumerate(specs):
        input_gradient = spec.parent is not None
        macs = spec.macs
        if analog[index]:
            mvm_pj = sum(layer_compute_pj(spec, True, table))
            forward[index] = samples * mvm_pj
            backward[index] = samples * (
                (mvm_pj * train.input_gradient_macs_per_mac if input_gradient else 0.0)
                + macs * train.weight_gradient_macs_per_mac * train.digital_pj_per_mac
            )
            per_weight = train.update_pj_per_weight
            per_weight += train.analog_update_pulses_per_weight * train.pulse_pj
        else:
            forward[index] = samples * macs * train.digital_pj_per_mac
            gradient_macs = macs * train.weight_gradient_macs_per_mac
            if input_gradient:
                gradient_macs += macs * train.input_gradient_macs_per_mac
            backward[index] = samples * gradient_macs * train.digital_pj_per_mac
            per_weight = train.update_pj_per_weight
        update[index] = updates * spec.n_weights * per_weight
        layer = inference.layers[index]
        backward_crossing = layer.crossing_pj
        if not input_gradient and analog[index]:
            # the network input's side of the edge needs no gradient
            backward_crossing -= spec.in_activations * table.crossing_pj_per_activation
        crossing[index] = samples * (layer.crossing_pj + backward_crossing)
        if analog[index] and (not before[index] or again[index]):
            switch[index] = spec.n_weights * table.reprogram_pj_per_weight
        elif before[index] and not analog[index]:
            switch[index] = spec.n_weights * train.readout_pj_per_weight
    return TrainingEnergy(forward, backward, update, crossing, switch)
