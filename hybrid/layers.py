"""A layer that holds one set of weights and runs either digitally or on a simulated PCM tile.

:class:`HybridLayer` wraps a torch ``Conv2d`` or ``Linear`` and an AIHWKit analog twin built from
it. Which one runs is switchable at run time (:meth:`HybridLayer.set_analog`), and the weights
stay in sync in both directions: after the digital weights change (an optimiser step), switching
to analog copies them onto the tile and programs it afresh; after analog training, switching to
digital reads the tile's weights back. The analog side exposes the two physical operations of a
PCM deployment: :meth:`HybridLayer.program` (write the weights, drawing fresh programming noise)
and :meth:`HybridLayer.drift_to` (read the tile as it is ``age_s`` seconds after programming).

:func:`make_hybrid` turns every Conv2d/Linear of any ``nn.Module`` into a ``HybridLayer``, so users
can bring their own models.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from aihwkit.nn import AnalogConv2d, AnalogLinear
from torch import nn

from hybrid.hardware import HardwareConfig, get_hardware

Substrate = str  # "digital" or "analog"


@dataclass(frozen=True)
class TileSnapshot:
    """The state of every AIHWKit tile of one analog layer, to restore it without recomputing.

    ``programmed`` holds what :meth:`HybridLayer.program` produced (programmed conductances,
    per-device drift exponents, drift-compensation baseline); ``read`` holds what
    :meth:`HybridLayer.drift_to` produced (the drifted weights with their read noise, and the
    drift-compensation scale alpha).
    """

    programmed: tuple[tuple[torch.Tensor | None, object, torch.Tensor | None], ...]
    read: tuple[tuple[torch.Tensor, torch.Tensor], ...] | None

    @property
    def nbytes(self) -> int:
        """Memory held by the snapshot, in bytes (for cache accounting)."""
        total = 0
        for weights, _, baseline in self.programmed:
            for tensor in (weights, baseline):
                if tensor is not None:
                    total += tensor.numel() * tensor.element_size()
        for weights, alpha in self.read or ():
            total += weights.numel() * weights.element_size() + alpha.numel() * alpha.element_size()
        return total


class HybridLayer(nn.Module):
    """A Conv2d or Linear layer that can run digitally or on an AIHWKit analog tile.

    Args:
        digital: the torch layer; its weights are the single source of truth while digital.
        hardware: the analog tile settings (a preset name or :class:`HardwareConfig`).
        training: build the tile with the hardware-aware-training weight modifier.

    Attributes:
        drift_age_s: seconds since the analog weights were last programmed, as last applied by
            :meth:`drift_to`.
    """

    def __init__(
        self,
        digital: nn.Conv2d | nn.Linear,
        hardware: str | HardwareConfig | None = None,
        training: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(digital, (nn.Conv2d, nn.Linear)):
            raise TypeError(
                f"HybridLayer wraps nn.Conv2d or nn.Linear, got {type(digital).__name__}"
            )
        self.hardware = get_hardware(hardware)
        self.digital = digital
        analog_class = AnalogConv2d if isinstance(digital, nn.Conv2d) else AnalogLinear
        self.analog = analog_class.from_digital(digital, self.hardware.rpu_config(training))
        self._use_analog = False
        self.drift_age_s = 0.0
        # Set by hybrid.simulator.CachedEvaluator while it evaluates: a callable that replaces
        # this layer's forward (to serve memoised outputs). None in normal use.
        self.forward_override = None
        self._programmed = False
        # Tensor version counters at the last sync: a changed counter means the weights were
        # modified in place (an optimiser step) and the other side is stale.
        self._digital_version = self._version_of(self.digital)
        self._analog_version = self._analog_weights_version()

    # -- placement -------------------------------------------------------------------------
    @property
    def substrate(self) -> Substrate:
        """Where the layer runs now: ``"digital"`` or ``"analog"``."""
        return "analog" if self._use_analog else "digital"

    @property
    def is_analog(self) -> bool:
        """True when the forward pass runs on the analog tile."""
        return self._use_analog

    def set_analog(self, analog: bool) -> None:
        """Switch substrate, copying weights across when the source side changed since the last
        switch. Switching to an analog tile whose weights were just replaced programs it."""
        analog = bool(analog)
        if analog and not self._use_analog:
            if self._version_of(self.digital) != self._digital_version:
                self.sync_to_analog()
            if not self._programmed:
                self.program()
                self.drift_to(self.drift_age_s)
        elif not analog and self._use_analog:
            if self._analog_changed():
                self.sync_to_digital()
        self._use_analog = analog

    def train_on_tile(self) -> None:
        """Run on the analog tile for hardware-aware (in-the-loop) training.

        The tile gets the current weights as they are, unprogrammed: AIHWKit's hardware-aware
        training adds its noise in the forward pass (weight modifier, output noise, I/O
        quantisation) and leaves programming noise and drift to inference, as the paper's
        wrapper does when it switches a layer to analog during training. The tile is in train
        mode while the module is; an optimiser step on it is read back to the digital weights by
        ``set_analog(False)``, as after any analog training. Calling :meth:`program` (or
        :meth:`drift_to`) afterwards turns it into an inference tile again.
        """
        if not self._use_analog or self._programmed:
            if self._use_analog:  # an inference tile: its weights back to digital first
                self.set_analog(False)
            self.sync_to_analog()  # the digital weights, with no programming noise
        self._use_analog = True
        self.analog.train(self.training)

    def sync_to_analog(self) -> None:
        """Copy the digital weights onto the analog tile (it must be programmed again)."""
        with torch.no_grad():
            self.analog.set_weights(self.digital.weight.detach(), self._digital_bias())
        self._programmed = False
        self._digital_version = self._version_of(self.digital)
        self._analog_version = self._analog_weights_version()

    def sync_to_digital(self) -> None:
        """Copy the analog tile's (unprogrammed, reference) weights back to the digital layer."""
        weight, bias = self.analog.get_weights()
        with torch.no_grad():
            self.digital.weight.copy_(weight.view_as(self.digital.weight))
            if self.digital.bias is not None and bias is not None:
                self.digital.bias.copy_(bias.view_as(self.digital.bias))
            # Write them back: AIHWKit programs from a reference copy taken at the last
            # programming, which would otherwise undo the analog changes just read.
            self.analog.set_weights(weight, bias)
        self._digital_version = self._version_of(self.digital)
        self._analog_version = self._analog_weights_version()
        self._programmed = False

    # -- the physical operations on the tile -------------------------------------------------
    def program(self) -> None:
        """Program the current weights onto the tile, drawing fresh programming noise from
        torch's global generator; the drift age restarts at 0 s."""
        if self._analog_changed():
            self.sync_to_digital()
        elif self._version_of(self.digital) != self._digital_version:
            self.sync_to_analog()
        self.analog.eval()
        with torch.no_grad():
            self.analog.program_analog_weights()
        self._programmed = True
        self.drift_age_s = 0.0
        self.drift_to(0.0)

    def drift_to(self, age_s: float) -> None:
        """Read the tile as it is ``age_s`` seconds after programming: drift, fresh read noise
        and (if enabled) drift compensation, as AIHWKit's ``drift_analog_weights``."""
        if age_s < 0:
            raise ValueError(f"drift age must be >= 0 s, got {age_s}")
        if not self._programmed or self._analog_changed():
            self.program()
        self.analog.eval()
        with torch.no_grad():
            self.analog.drift_analog_weights(float(age_s))
        self.drift_age_s = float(age_s)

    def snapshot(self, include_read: bool = True) -> TileSnapshot:
        """Capture the tiles' programmed (and, optionally, drifted) state."""
        if not self._programmed:
            self.program()
        programmed, read = [], []
        for tile in self.analog.analog_tiles():
            programmed.append(
                (
                    tile.programmed_weights,
                    tile.drift_noise_parameters,
                    getattr(tile, "drift_baseline", None),
                )
            )
            read.append((tile.tile.weight.data.clone(), torch.as_tensor(tile.alpha).clone()))
        return TileSnapshot(tuple(programmed), tuple(read) if include_read else None)

    def restore(self, snapshot: TileSnapshot, age_s: float | None = None) -> None:
        """Put the tiles back into a captured state. Without a read state in the snapshot, the
        tile is drifted to ``age_s`` (which then draws read noise)."""
        tiles = list(self.analog.analog_tiles())
        for tile, (weights, drift_params, baseline) in zip(tiles, snapshot.programmed, strict=True):
            tile.programmed_weights = weights
            tile.drift_noise_parameters = drift_params
            tile.drift_baseline = baseline
        self._programmed = True
        if snapshot.read is None:
            self.drift_to(0.0 if age_s is None else age_s)
            return
        for tile, (weights, alpha) in zip(tiles, snapshot.read, strict=True):
            tile.tile.weight.data = weights
            tile.__dict__.pop("alpha", None)
            tile.alpha = alpha
        if age_s is not None:
            self.drift_age_s = float(age_s)

    # -- forward ---------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run on the current substrate."""
        if self.forward_override is not None:
            return self.forward_override(self, x)
        if self._use_analog:
            return self.analog(x)
        return self.digital(x)

    def train(self, mode: bool = True) -> HybridLayer:
        """Train mode for the digital side only: a programmed analog tile stays in inference
        (eval) mode, where drift compensation applies."""
        self.training = mode
        self.digital.train(mode)
        if not self._programmed:
            self.analog.train(mode)
        return self

    # -- helpers ---------------------------------------------------------------------------
    def _digital_bias(self) -> torch.Tensor | None:
        return None if self.digital.bias is None else self.digital.bias.detach()

    @staticmethod
    def _version_of(module: nn.Module) -> tuple[int, ...]:
        return tuple(p._version for p in module.parameters())

    def _analog_weights_version(self) -> tuple[int, ...]:
        return tuple(p._version for p in self.analog.parameters())

    def _analog_changed(self) -> bool:
        """Whether the tile's weights changed since the last sync: an optimiser step bumps the
        version counters; AIHWKit's ``set_weights`` bumps none but drops the programming
        reference that a programmed tile otherwise holds."""
        if self._analog_weights_version() != self._analog_version:
            return True
        return self._programmed and any(
            getattr(tile, "reference_combined_weights", None) is None
            for tile in self.analog.analog_tiles()
        )

    # -- copies ----------------------------------------------------------------------------
    def __getstate__(self) -> dict:
        """State for ``copy.deepcopy`` and pickling. A copy's tensors restart their version
        counters, so the counters recorded at the last sync would read as "changed" in the
        copy and make it re-sync and reprogram (fresh noise); record instead which side, if
        any, really is ahead of the other."""
        state = super().__getstate__()
        state["_ahead_at_copy"] = (
            self._version_of(self.digital) != self._digital_version,
            self._analog_weights_version() != self._analog_version,
        )
        return state

    def __setstate__(self, state: dict) -> None:
        digital_ahead, analog_ahead = state.pop("_ahead_at_copy", (False, False))
        super().__setstate__(state)
        # (-1,) never equals a version tuple: that side still reads as changed.
        self._digital_version = (-1,) if digital_ahead else self._version_of(self.digital)
        self._analog_version = (-1,) if analog_ahead else self._analog_weights_version()

    def extra_repr(self) -> str:
        return f"substrate={self.substrate}, drift_age_s={self.drift_age_s:g}"


def make_hybrid(
    model: nn.Module, hardware: str | HardwareConfig | None = None, training: bool = False
) -> nn.Module:
    """Replace, in place, every ``nn.Conv2d`` and ``nn.Linear`` of ``model`` by a
    :class:`HybridLayer` (starting digital), and return the model.

    Layers already hybrid are left alone, so calling it twice is harmless. A layer AIHWKit
    cannot put on a tile is a one-line ValueError naming it; :func:`check_hybridizable` finds
    every such layer (and the layers make_hybrid would leave out) beforehand.
    """
    return _make_hybrid(model, hardware, training, prefix="")


def _make_hybrid(
    model: nn.Module, hardware: str | HardwareConfig | None, training: bool, prefix: str
) -> nn.Module:
    for name, child in list(model.named_children()):
        if isinstance(child, HybridLayer):
            continue
        if isinstance(child, (nn.Conv2d, nn.Linear)):
            try:
                setattr(model, name, HybridLayer(child, hardware, training))
            except (ValueError, RuntimeError) as error:
                reason = str(error).splitlines()[0] if str(error) else type(error).__name__
                raise ValueError(
                    f"layer {prefix}{name} ({type(child).__name__}) cannot run on an AIHWKit "
                    f"tile: {reason}"
                ) from None
        else:
            _make_hybrid(child, hardware, training, f"{prefix}{name}.")
    return model


def hybrid_layers(model: nn.Module) -> list[tuple[str, HybridLayer]]:
    """The toggleable layers of a model, as ``(qualified name, layer)`` in registration order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, HybridLayer)]


def iter_placement(model: nn.Module) -> Iterator[bool]:
    """Current placement: True for each hybrid layer that runs on the analog tile."""
    return (layer.is_analog for _, layer in hybrid_layers(model))


def set_placement(model: nn.Module, placement: list[bool] | tuple[bool, ...]) -> None:
    """Switch every hybrid layer of ``model``: ``placement[i]`` True = analog."""
    layers = hybrid_layers(model)
    if len(placement) != len(layers):
        raise ValueError(
            f"placement has {len(placement)} entries but the model has {len(layers)} hybrid layers"
        )
    for (_, layer), analog in zip(layers, placement, strict=True):
        layer.set_analog(bool(analog))


_NOT_ON_TILES: tuple[type[nn.Module], ...] = (
    nn.modules.conv._ConvNd,  # Conv1d, Conv3d, ConvTranspose*: Conv2d is accepted below
    nn.Bilinear,
    nn.RNNBase,
    nn.MultiheadAttention,  # reads its projections' weights directly: wrapping them breaks it
)
"""Layers that multiply by weights but that :func:`make_hybrid` cannot put on an analog tile."""


def unsupported_layers(model: nn.Module) -> list[str]:
    """``"name (reason)"`` for every layer of ``model`` that :func:`make_hybrid` cannot turn
    into a :class:`HybridLayer`: weight layers other than Conv2d and Linear (Conv1d,
    ConvTranspose2d, LSTM, MultiheadAttention, ...), Conv2d variants AIHWKit's tiles do not
    support (groups > 1, padding modes other than zeros) and uninitialised lazy layers."""
    found: list[str] = []
    skipped: list[str] = []  # inside a reported or hybrid layer: not looked at again
    for name, module in model.named_modules():
        if any(name.startswith(f"{outer}.") for outer in skipped):
            continue
        if isinstance(module, HybridLayer):
            skipped.append(name)
            continue
        reason = ""
        if isinstance(module, nn.modules.lazy.LazyModuleMixin):
            reason = "uninitialised lazy layer: run one forward pass first"
        elif isinstance(module, nn.Conv2d):
            if module.groups != 1:
                reason = f"groups={module.groups}: AIHWKit tiles support groups=1 only"
            elif module.padding_mode != "zeros":
                reason = f"padding_mode={module.padding_mode!r}: AIHWKit tiles pad with zeros only"
        elif isinstance(module, _NOT_ON_TILES):
            reason = "only Conv2d and Linear layers run on analog tiles"
        if reason:
            found.append(f"{name or '<model>'} ({type(module).__name__}: {reason})")
            skipped.append(name)
    return found


def check_hybridizable(model: nn.Module) -> None:
    """A one-line ValueError naming every layer :func:`unsupported_layers` finds, or naming
    the model if it has no Conv2d or Linear layer at all."""
    problems = unsupported_layers(model)
    if problems:
        raise ValueError(
            f"{len(problems)} layer(s) of the model cannot be placed on analog tiles: "
            f"{'; '.join(problems)}. Replace them with Conv2d/Linear layers (or keep them out "
            "of the model you deploy)"
        )
    if not any(isinstance(m, (nn.Conv2d, nn.Linear, HybridLayer)) for m in model.modules()):
        raise ValueError(
            f"the model ({type(model).__name__}) has no Conv2d or Linear layer to place"
        )
