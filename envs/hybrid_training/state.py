"""What a training run of ``HybridTraining-v0`` is made of, and where it stands after each step.

:class:`TrainingSchedule` (how an episode trains), :class:`TrainingState` (the weights, the
placement history, the energy and the chip's measurements after ``step`` steps; immutable) with
its parts :class:`ChunkStats` and :class:`Measurements`, and :class:`StateCache`, which serves a
state reached before. The simulation that moves from one state to the next is
:class:`envs.hybrid_training.run.TrainingRun`.
"""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from hybrid.energy import TrainingEnergy
from hybrid.layers import hybrid_layers

INITS = ("pretrained", "scratch")
EVENTS_PER_CHIP = 1_000
"""Programming events per chip or stream: event 0 is the deployment (on the chip), event ``k + 1``
the measurement after step ``k`` (on the training stream); ``n_steps`` is capped below it."""


@dataclass(frozen=True)
class TrainingSchedule:
    """How one episode trains the network.

    Attributes:
        n_steps: decision steps per episode.
        batches_per_step: mini-batches per step, drawn without replacement from the
            fine-tuning images (5 of 100: about half an epoch of the digits' 1,014 images, which
            keeps an episode to seconds; README, Partitioning during training).
        batch_size: images per mini-batch (the paper: 100).
        learning_rate: SGD learning rate of the layers trained analog (AIHWKit ``AnalogSGD``;
            0.01, the paper's rate).
        digital_learning_rate: SGD learning rate of the layers trained digitally (the paper's
            wrapper trains the whole model with one ``AnalogSGD``: the same 0.01).
        momentum: SGD momentum (pretraining's hardware-aware setting).
        task_weights: weight of each task's cross-entropy in the training loss.
        init: ``"pretrained"`` (fine-tune the digital pretrained network; the default, chosen by
            measurement: README, Partitioning during training) or ``"scratch"``.
        train_size: fine-tuning images (default: the whole training split but the monitor
            images); smaller for quick tests.
    """

    n_steps: int = 4
    batches_per_step: int = 5
    batch_size: int = 100
    learning_rate: float = 0.01
    digital_learning_rate: float = 0.01
    momentum: float = 0.9
    task_weights: tuple[float, ...] = (1.0, 1.0)
    init: str = "pretrained"
    train_size: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.n_steps < EVENTS_PER_CHIP - 1:
            raise ValueError(
                f"schedule n_steps must be in 1..{EVENTS_PER_CHIP - 2}, got {self.n_steps}"
            )
        for name in ("batches_per_step", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"schedule {name} must be a positive integer, got {value!r}")
        for name in ("learning_rate", "digital_learning_rate", "momentum"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"schedule {name} must be a finite number >= 0, got {value!r}")
        if self.init not in INITS:
            raise ValueError(f"schedule init must be one of {', '.join(INITS)}, got {self.init!r}")
        if self.train_size is not None and self.train_size < 1:
            raise ValueError(f"schedule train_size must be >= 1, got {self.train_size}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {**dataclasses.asdict(self), "task_weights": list(self.task_weights)}


Weights = dict[str, torch.Tensor]
"""The network's trainable state: every hybrid layer's digital weight and bias, by name."""


@dataclass(frozen=True)
class ChunkStats:
    """What the training of one step recorded.

    Attributes:
        train_losses: mean cross-entropy per task over the step's mini-batches (nats), each
            under the step's placement (analog layers noisy).
        gradient_norms: per layer, the mean over mini-batches of ||gradient|| / ||weight||.
        weight_changes: per layer, ||W_after - W_before|| / ||W_before|| over the step.
    """

    train_losses: np.ndarray
    gradient_norms: np.ndarray
    weight_changes: np.ndarray


@dataclass(frozen=True)
class Measurements:
    """What the chip measured on its monitor images after a step.

    Attributes:
        val_losses: cross-entropy per task of the network run digitally (nats).
        deployed_losses: cross-entropy per task with the step's placement, its analog layers
            programmed now and read ``measure_age_s`` later (nats).
        noise: per layer, relative output error of its tile alone (programmed now, read at
            ``measure_age_s``) on digital inputs.
        sensitivity: per layer, the excess cross-entropy (summed over tasks) with only it analog.
    """

    val_losses: np.ndarray
    deployed_losses: np.ndarray
    noise: np.ndarray
    sensitivity: np.ndarray


@dataclass(frozen=True)
class TrainingState:
    """Where a training run stands after ``step`` steps (immutable: shared by the cache).

    Attributes:
        step: steps taken.
        weights: the network's weights now.
        checkpoint: the weights at the start of the last step (what a rollback restores).
        placement: per layer, whether it trained analog in the last step (all False at start:
            the pretrained network is digital).
        analog_steps: per layer, steps trained analog so far.
        energy_pj: training energy spent so far (pJ).
        chunk: the last step's training statistics (None before the first).
        measured: the chip's measurements now.
        step_energy: the last step's training energy (None before the first).
        rolled_back: whether the last step started from a rollback.
    """

    step: int
    weights: Weights
    checkpoint: Weights | None
    placement: tuple[bool, ...]
    analog_steps: tuple[int, ...]
    energy_pj: float
    chunk: ChunkStats | None
    measured: Measurements
    step_energy: TrainingEnergy | None = None
    rolled_back: bool = False

    @property
    def nbytes(self) -> int:
        """Memory held by the weights (bytes), for the cache bound."""
        return sum(t.numel() * t.element_size() for t in self.weights.values())


class StateCache:
    """Training states by (training stream, actions so far), least recently used evicted
    first, bounded by the bytes of their weights."""

    def __init__(self, max_mb: float) -> None:
        self.max_bytes = int(max_mb * 2**20)
        self.data: OrderedDict[tuple, TrainingState] = OrderedDict()
        self.bytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple) -> TrainingState | None:
        state = self.data.get(key)
        if state is None:
            self.misses += 1
            return None
        self.hits += 1
        self.data.move_to_end(key)
        return state

    def put(self, key: tuple, state: TrainingState) -> None:
        if key in self.data or self.max_bytes <= 0:
            return
        self.data[key] = state
        self.bytes += state.nbytes
        while self.bytes > self.max_bytes and self.data:
            _, old = self.data.popitem(last=False)
            self.bytes -= old.nbytes


def weights_of(model: nn.Module) -> Weights:
    """A copy of every hybrid layer's digital weights (all layers must be digital)."""
    state: Weights = {}
    for name, layer in hybrid_layers(model):
        for key, tensor in layer.digital.state_dict().items():
            state[f"{name}.{key}"] = tensor.detach().clone()
    return state


def load_weights(model: nn.Module, weights: Weights) -> None:
    """Write ``weights`` into the digital side of every hybrid layer."""
    with torch.no_grad():
        for name, layer in hybrid_layers(model):
            for key, tensor in layer.digital.state_dict().items():
                tensor.copy_(weights[f"{name}.{key}"])
