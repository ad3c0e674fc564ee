"""A training run of the multi-task network on an analog-digital chip, step by step.

:func:`build_training_run` resolves, in one call, everything the training-time environment
needs that does not change during an episode (hardware, energy prices, data, the pretrained
network, the evaluator); :class:`TrainingRun` then simulates one step of training as a pure
function of the state before it, the placement and the draws: :meth:`TrainingRun.advance`. The
environment (``envs.hybrid_training.env``) keeps only the Gymnasium API.

**A step** trains the network on ``batches_per_step`` mini-batches of ``batch_size`` images
drawn without replacement from the fine-tuning images (5 x 100 by default: about half an epoch of
the 1,014 images, so a 4-step episode fine-tunes for about two epochs), each layer where the
placement puts it: digital layers with SGD on their digital weights, analog
layers in the loop on their AIHWKit tile (``HybridLayer.train_on_tile``: the tile's forward
noise, weight modifier and I/O quantisation; AIHWKit's ``AnalogSGD``; hardware-aware training as
the paper's wrapper does). Every step gets a fresh optimiser, like one LionHeart round. Then
the chip measures the network on its monitor images (training images kept out of
fine-tuning): its digital loss, and each layer's tile programmed with the current weights and
read ``measure_age_s`` after programming (its relative output noise, and the loss with only it
analog).

**The deployment** after the last step programs the final placement's analog layers once, on
the episode's chip, and scores the network at each of ``deployment_ages_s`` on the evaluation
images, against the digital pretrained network: what ``HybridPartition-v0`` measures at its
steps, with a placement that stays put.

**Randomness.** Every draw comes from a generator seeded by what it belongs to
(``hybrid.simulator.seeded`` keeps the caller's generator untouched): the training draws (batch
order, dropout, the tiles' noise during training) and the measurement draws by the episode's
*training stream* and the step, the deployment's programming and read noise by the chip. A step
is therefore a pure function of (training stream, the actions so far): a state reached before is
served from a cache, and the same seed and actions always give the same numbers. By default
every chip is its own training stream; ``HybridTrainingEnv(training_streams=N)`` lets the chips
of a pool share N streams, so that a learner's repeated trajectories cost only their deployment.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from aihwkit.optim import AnalogSGD
from torch import nn

from envs.hybrid_training.state import (
    EVENTS_PER_CHIP,
    ChunkStats,
    Measurements,
    StateCache,
    TrainingSchedule,
    TrainingState,
    Weights,
    load_weights,
    weights_of,
)
from envs.scenarios import Scenario, get_scenario
from hybrid.data import MultiTaskSplit, load_dataset
from hybrid.energy import (
    EnergyTable,
    LayerSpec,
    TrainingEnergyTable,
    energy_per_inference,
    get_energy_table,
    get_training_energy_table,
    substrate_cost_table,
    training_energy,
)
from hybrid.hardware import HardwareConfig, get_hardware
from hybrid.layers import HybridLayer, hybrid_layers
from hybrid.models import build_model, layer_specs
from hybrid.pretrain import PretrainConfig, load_or_pretrain, task_targets
from hybrid.simulator import CachedEvaluator, Evaluation, LayerState, seeded
from hybrid.units import SECONDS_PER_DAY, SECONDS_PER_YEAR

EVAL_SPLITS = ("val", "test")
DEPLOYMENT_AGES_S: tuple[float, ...] = (1.0, 316.0, float(SECONDS_PER_DAY), SECONDS_PER_YEAR)
"""Ages (s after programming) at which the deployed network is scored: log-spaced from a second
to a year (1 s, ~5 min, 1 day, 1 year), like ``HybridPartition-v0``'s timeline, four of them to
keep an episode short."""
MEASURE_AGE_S = float(SECONDS_PER_DAY)
"""Age at which the chip measures each layer's tile during training: one day, the drift time at
which LionHeart scores its rounds (docs/references.md)."""
MONITOR_SIZE = 64
"""Training images kept out of fine-tuning, on which the chip measures the network (the
observation's validation loss, noise and sensitivity; LionHeart's acceptance test). 64 keeps the
measurements after every step a fraction of the step's training."""
MONITOR_SEED = 1
"""Seed of the monitor subset of the training split (the deployment environment's calibration
subset uses the same one)."""
MAX_DRAWS = 100
"""Programming draws per (stream, event) that :meth:`TrainingRun.measure` can average."""
MAX_DEPLOYMENTS = 100_000
"""Deployment results kept (a few hundred bytes each)."""


def draw_id(source: int, event: int, draw: int = 0) -> int:
    """The programming-noise realisation of draw ``draw`` of event ``event`` of ``source`` (a
    chip for the deployment, a training stream for measurements): the ``programming_id`` of
    ``hybrid.simulator``'s layer states."""
    return (int(source) * EVENTS_PER_CHIP + int(event)) * MAX_DRAWS + int(draw)


def _norm(weights: Weights, names: Sequence[str]) -> float:
    return math.sqrt(sum(float(weights[n].pow(2).sum()) for n in names))


@dataclass
class TrainingRun:
    """The simulation of a training run: data, models, prices, and one step at a time.

    Attributes:
        scenario: the named scenario (its hardware; its timeline is not used).
        hardware: the analog tile settings, for training and deployment.
        energy_table: inference prices (and analog MVMs, crossings, tile programming).
        training_table: the extra prices of training.
        schedule: how each episode trains.
        deployment_ages_s: ages at which the deployed network is scored.
        measure_age_s: age at which the chip measures tiles during training.
        specs: crossbar shapes of the layers, forward order.
        config: the resolved settings, JSON-friendly.
    """

    scenario: Scenario
    hardware: HardwareConfig
    energy_table: EnergyTable
    training_table: TrainingEnergyTable
    schedule: TrainingSchedule
    deployment_ages_s: tuple[float, ...]
    measure_age_s: float
    train_model: nn.Module
    inference_model: nn.Module
    evaluator: CachedEvaluator
    specs: list[LayerSpec]
    train_images: torch.Tensor
    train_targets: tuple[torch.Tensor, ...]
    initial_weights: Weights
    config: dict[str, Any]
    cache_mb: float = 256.0
    task_names: tuple[str, ...] = ()
    """The tasks of the model's heads, in head order (the dataset's)."""
    reference_weights: Weights | None = None
    """The digital pretrained network's weights, the reference every score is against (None:
    ``initial_weights``, which they are when fine-tuning; from scratch they differ)."""

    def __post_init__(self) -> None:
        by_name = dict(hybrid_layers(self.train_model))
        self.train_layers: tuple[HybridLayer, ...] = tuple(by_name[s.name] for s in self.specs)
        self.layer_weight_names = [
            [f"{spec.name}.{key}" for key in by_name[spec.name].digital.state_dict()]
            for spec in self.specs
        ]
        self.cache = StateCache(self.cache_mb)
        self._deployments: OrderedDict[tuple, tuple[Evaluation, ...]] = OrderedDict()
        digital = [False] * self.n_layers
        self.energy_digital_pj = energy_per_inference(
            self.specs, digital, self.energy_table
        ).total_pj
        """Energy of one all-digital inference (pJ)."""
        self.updates_per_step = self.schedule.batches_per_step
        self.samples_per_step = self.updates_per_step * min(self.schedule.batch_size, self.n_train)
        full_digital = training_energy(
            self.specs,
            digital,
            self.samples_per_step,
            self.updates_per_step,
            table=self.energy_table,
            training_table=self.training_table,
        )
        self.training_digital_pj = full_digital.total_pj * self.schedule.n_steps
        """Energy of training every layer digitally for the whole run (pJ): the unit of the
        training energy."""
        one_sample = [
            training_energy(
                self.specs,
                [analog] * self.n_layers,
                1,
                0,
                previous=[analog] * self.n_layers,
                table=self.energy_table,
                training_table=self.training_table,
            ).layer_pj
            for analog in (False, True)
        ]
        self.training_shares = np.stack(one_sample, axis=1) / one_sample[0].sum()
        """Per layer, its training energy per sample digital (column 0) and analog (column 1,
        the whole network analog), as a share of the all-digital training energy per sample."""
        self.energy_shares = (
            substrate_cost_table(self.specs, self.energy_table) / self.energy_digital_pj
        )
        """Per layer, its inference energy digital (column 0) and analog (column 1) as a share
        of the all-digital inference energy."""
        self.reference = self._evaluate_weights(self._reference_weights, digital)
        """The digital pretrained network on the evaluation images: the deployment's reference
        (what ``HybridPartition-v0`` calls the all-digital model)."""
        self.initial_state = self._initial_state()

    # -- facts ---------------------------------------------------------------------------------
    @property
    def n_layers(self) -> int:
        """Number of toggleable layers."""
        return len(self.specs)

    @property
    def n_tasks(self) -> int:
        """Number of tasks (model heads)."""
        return len(self.train_targets)

    @property
    def n_train(self) -> int:
        """Fine-tuning images."""
        return int(self.train_images.shape[0])

    @property
    def layer_names(self) -> tuple[str, ...]:
        """Toggleable layers in forward order."""
        return tuple(spec.name for spec in self.specs)

    def inference_energy_ratio(self, placement: Sequence[bool]) -> float:
        """Energy of one inference with this placement / all-digital."""
        report = energy_per_inference(self.specs, list(placement), self.energy_table)
        return report.total_pj / self.energy_digital_pj

    # -- one step ------------------------------------------------------------------------------
    def advance(
        self,
        state: TrainingState,
        placement: Sequence[bool],
        rollback: bool,
        stream: int,
        history: tuple,
    ) -> TrainingState:
        """The state after one more step, its draws (training and measurement) from training
        stream ``stream``; from the cache when (stream, ``history``, the actions so far) was
        seen."""
        key = (int(stream), history)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        placement = tuple(bool(p) for p in placement)
        rolled_back = bool(rollback) and state.checkpoint is not None
        start = state.checkpoint if rolled_back else state.weights
        step = state.step
        weights, chunk = self._train(start, placement, stream, step)
        rewritten = [
            a and b and rolled_back for a, b in zip(placement, state.placement, strict=True)
        ]
        energy = training_energy(
            self.specs,
            placement,
            self.samples_per_step,
            self.updates_per_step,
            previous=state.placement,
            rewritten=rewritten,
            table=self.energy_table,
            training_table=self.training_table,
        )
        new = TrainingState(
            step=step + 1,
            weights=weights,
            checkpoint=start,
            placement=placement,
            analog_steps=tuple(n + a for n, a in zip(state.analog_steps, placement, strict=True)),
            energy_pj=state.energy_pj + energy.total_pj,
            chunk=chunk,
            measured=self._measure(weights, placement, stream, event=step + 1),
            step_energy=energy,
            rolled_back=rolled_back,
        )
        self.cache.put(key, new)
        return new

    def deployment(self, state: TrainingState, chip: int, key: tuple) -> tuple[Evaluation, ...]:
        """:meth:`deploy` of the state's weights and placement on ``chip``, memoised under
        ``key`` (what determines the state, e.g. the training stream and the actions)."""
        memo_key = (int(chip), key)
        result = self._deployments.get(memo_key)
        if result is None:
            result = self.deploy(state.weights, state.placement, chip)
            self._deployments[memo_key] = result
            if len(self._deployments) > MAX_DEPLOYMENTS:
                self._deployments.popitem(last=False)
        else:
            self._deployments.move_to_end(memo_key)
        return result

    def deploy(
        self, weights: Weights, placement: Sequence[bool], chip: int, batch: str = "eval"
    ) -> tuple[Evaluation, ...]:
        """The network deployed with ``placement`` on ``chip``, scored at every deployment age:
        its analog layers programmed once (event 0 of the chip), read at each age."""
        self._load_inference(weights)
        return tuple(
            self.evaluator.evaluate(
                [(draw_id(chip, 0), age) if analog else None for analog in placement], batch
            )
            for age in self.deployment_ages_s
        )

    def measure(
        self, state: TrainingState, placement: Sequence[bool], stream: int, draws: int = 1
    ) -> dict[str, np.ndarray]:
        """What the chip measures on its monitor images for the network as it is now run with
        ``placement``: its analog layers programmed (``draws`` programming draws of the current
        measurement event, averaged) and read ``measure_age_s`` later. Returns ``losses`` and
        ``accuracies`` per task, and the same for the digital pretrained network on the same
        images (``reference_losses``, ``reference_accuracies``). Draw 0 is the one the
        observation's measurements used. Deployable: a chip can program and read itself;
        nothing of the deployment's own draws or images is used."""
        if not 1 <= draws <= MAX_DRAWS:
            raise ValueError(f"draws must be in 1..{MAX_DRAWS}, got {draws}")
        self._load_inference(state.weights)
        results = [
            self.evaluator.evaluate(
                [
                    (draw_id(stream, state.step, draw), self.measure_age_s) if analog else None
                    for analog in placement
                ],
                batch="monitor",
            )
            for draw in range(draws)
        ]
        return {
            "losses": np.mean([r.losses for r in results], axis=0),
            "accuracies": np.mean([r.accuracies for r in results], axis=0),
            "reference_losses": self.monitor_reference.losses,
            "reference_accuracies": self.monitor_reference.accuracies,
        }

    # -- internals -----------------------------------------------------------------------------
    @property
    def _reference_weights(self) -> Weights:
        return self.initial_weights if self.reference_weights is None else self.reference_weights

    def _initial_state(self) -> TrainingState:
        digital = (False,) * self.n_layers
        self.monitor_reference = self._evaluate_weights(self._reference_weights, digital, "monitor")
        return TrainingState(
            step=0,
            weights=self.initial_weights,
            checkpoint=None,
            placement=digital,
            analog_steps=(0,) * self.n_layers,
            energy_pj=0.0,
            chunk=None,
            measured=self._measure(self.initial_weights, digital, stream=None, event=0),
        )

    def _evaluate_weights(
        self, weights: Weights, placement: Sequence[bool], batch: str = "eval"
    ) -> Evaluation:
        self._load_inference(weights)
        if any(placement):
            raise ValueError("only digital reference evaluations are taken here")
        return self.evaluator.evaluate([None] * self.n_layers, batch)

    def _load_inference(self, weights: Weights) -> None:
        """Put ``weights`` into the inference model (its tiles follow) unless they are there."""
        if getattr(self, "_loaded", None) is weights:
            return
        load_weights(self.inference_model, weights)
        for _, layer in hybrid_layers(self.inference_model):
            layer.sync_to_analog()
        self.evaluator.clear()
        self._loaded = weights

    @staticmethod
    def _seed(stream: int, step: int, purpose: int) -> int:
        # numeric tuples hash the same in every process
        return hash((int(stream), int(step), int(purpose), 7)) & 0x7FFF_FFFF_FFFF_FFFF

    def _train(
        self, weights: Weights, placement: tuple[bool, ...], stream: int, step: int
    ) -> tuple[Weights, ChunkStats]:
        """Train one step from ``weights``; every draw seeded by (stream, step)."""
        model, layers, schedule = self.train_model, self.train_layers, self.schedule
        for layer in layers:
            layer.set_analog(False)
        load_weights(model, weights)
        model.train()
        for layer, analog in zip(layers, placement, strict=True):
            if analog:
                layer.train_on_tile()
        digital = [
            p
            for layer, a in zip(layers, placement, strict=True)
            if not a
            for p in layer.digital.parameters()
        ]
        analog = [
            p
            for layer, a in zip(layers, placement, strict=True)
            if a
            for p in layer.analog.parameters()
        ]
        groups = []
        if digital:
            groups.append({"params": digital, "lr": schedule.digital_learning_rate})
        if analog:
            groups.append({"params": analog, "lr": schedule.learning_rate})
        optimizer = AnalogSGD(groups, lr=schedule.learning_rate, momentum=schedule.momentum)
        optimizer.regroup_param_groups(model)
        task_weights = torch.tensor(schedule.task_weights, dtype=torch.float32)
        losses = np.zeros(self.n_tasks)
        gradient_norms = np.zeros(self.n_layers)
        batches = 0
        with seeded(self._seed(stream, step, 2)):
            for index in self._batches(stream, step):
                optimizer.zero_grad()
                outputs = model(self.train_images[index])
                task_losses = torch.stack(
                    [
                        F.cross_entropy(logits, target[index])
                        for logits, target in zip(outputs, self.train_targets, strict=True)
                    ]
                )
                (task_weights @ task_losses).backward()
                losses += task_losses.detach().numpy()
                gradient_norms += [
                    self._gradient_norm(layer, a)
                    for layer, a in zip(layers, placement, strict=True)
                ]
                optimizer.step()
                batches += 1
        for layer in layers:
            layer.set_analog(False)  # reads the tiles' trained weights back
        model.eval()
        trained = weights_of(model)
        changes = np.array(
            [
                math.sqrt(sum(float((trained[n] - weights[n]).pow(2).sum()) for n in names))
                / max(_norm(weights, names), 1e-12)
                for names in self.layer_weight_names
            ]
        )
        return trained, ChunkStats(losses / batches, gradient_norms / batches, changes)

    def _batches(self, stream: int, step: int) -> list[torch.Tensor]:
        """The image indices of each mini-batch of a step: ``batches_per_step`` batches drawn
        without replacement (a new shuffle whenever the fine-tuning images run out)."""
        size = min(self.schedule.batch_size, self.n_train)
        needed = self.schedule.batches_per_step * size
        generator = torch.Generator().manual_seed(self._seed(stream, step, 1))
        order = torch.cat(
            [
                torch.randperm(self.n_train, generator=generator)
                for _ in range(math.ceil(needed / self.n_train))
            ]
        )
        return list(order[:needed].split(size))

    @staticmethod
    def _gradient_norm(layer: HybridLayer, analog: bool) -> float:
        side = layer.analog if analog else layer.digital
        gradients = [p.grad for p in side.parameters() if p.grad is not None]
        values = [p for p in side.parameters() if p.grad is not None]
        if not gradients:
            return 0.0
        gradient = math.sqrt(sum(float(g.pow(2).sum()) for g in gradients))
        weight = math.sqrt(sum(float(p.detach().pow(2).sum()) for p in values))
        return gradient / max(weight, 1e-12)

    def _measure(
        self, weights: Weights, placement: Sequence[bool], stream: int | None, event: int
    ) -> Measurements:
        """The chip's monitor measurements of ``weights``, drawn from training stream
        ``stream`` (None: before any step, the pretrained network's digital losses and no tile
        measured yet)."""
        self._load_inference(weights)
        evaluator = self.evaluator
        digital = evaluator.evaluate([None] * self.n_layers, batch="monitor")
        if stream is None:
            zeros = np.zeros(self.n_layers)
            return Measurements(digital.losses, digital.losses, zeros, zeros)
        age = self.measure_age_s
        tiles: list[LayerState] = [(draw_id(stream, event), age)] * self.n_layers
        noise = np.array([evaluator.layer_noise(i, tiles[i]) for i in range(self.n_layers)])
        sensitivity = np.zeros(self.n_layers)
        for index in range(self.n_layers):
            states: list[LayerState] = [None] * self.n_layers
            states[index] = tiles[index]
            losses = evaluator.evaluate(states, batch="monitor").losses
            sensitivity[index] = float(np.maximum(losses - digital.losses, 0.0).sum())
        placed = [tiles[i] if analog else None for i, analog in enumerate(placement)]
        deployed = evaluator.evaluate(placed, batch="monitor")
        return Measurements(digital.losses, deployed.losses, noise, sensitivity)


def build_training_run(
    dataset: str = "digits",
    scenario: str | Scenario | None = None,
    hardware: str | HardwareConfig | Mapping[str, Any] | None = None,
    noise_scale: float = 1.0,
    drift_scale: float = 1.0,
    energy_table: str | EnergyTable | Mapping[str, Any] | None = None,
    training_energy_table: TrainingEnergyTable | Mapping[str, Any] | None = None,
    schedule: TrainingSchedule | Mapping[str, Any] | None = None,
    deployment_ages_s: Sequence[float] = DEPLOYMENT_AGES_S,
    measure_age_s: float = MEASURE_AGE_S,
    pretrain: PretrainConfig | Mapping[str, Any] | None = None,
    eval_split: str = "val",
    eval_size: int | None = None,
    monitor_size: int = MONITOR_SIZE,
    data_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    cache_mb: float = 256.0,
) -> TrainingRun:
    """Resolve a training run from the environment's keyword arguments (see
    :class:`~envs.hybrid_training.env.HybridTrainingEnv`, Arguments)."""
    resolved_scenario = get_scenario(scenario)
    hardware_config = (
        get_hardware(dict(hardware) if isinstance(hardware, Mapping) else hardware)
        if hardware is not None
        else resolved_scenario.hardware_config()
    )
    hardware_config = hardware_config.scaled(noise_scale, drift_scale)
    table = get_energy_table(energy_table)
    training_table = get_training_energy_table(training_energy_table)
    if isinstance(schedule, TrainingSchedule):
        resolved_schedule = schedule
    else:
        options = dict(schedule or {})
        unknown = sorted(set(options) - {f.name for f in dataclasses.fields(TrainingSchedule)})
        if unknown:
            valid = ", ".join(f.name for f in dataclasses.fields(TrainingSchedule))
            raise ValueError(f"unknown schedule option(s) {unknown}; valid: {valid}")
        if "task_weights" in options:
            options["task_weights"] = tuple(options["task_weights"])
        resolved_schedule = TrainingSchedule(**options)
    ages = tuple(float(a) for a in deployment_ages_s)
    if not ages or any(not math.isfinite(a) or a < 0 for a in ages):
        raise ValueError(f"deployment_ages_s must be ages >= 0 s, got {list(deployment_ages_s)}")
    if not math.isfinite(measure_age_s) or measure_age_s < 0:
        raise ValueError(f"measure_age_s must be an age >= 0 s, got {measure_age_s!r}")
    if eval_split not in EVAL_SPLITS:
        raise ValueError(f"eval_split must be 'val' or 'test', got {eval_split!r}")
    if monitor_size < 1:
        raise ValueError(f"monitor_size must be >= 1, got {monitor_size}")

    bundle = load_dataset(dataset, data_dir)
    pretrain_config = (
        pretrain if isinstance(pretrain, PretrainConfig) else PretrainConfig(**dict(pretrain or {}))
    )
    pretrained = load_or_pretrain(bundle, pretrain_config, cache_dir=cache_dir, progress=False)
    inference_model = pretrained.instantiate(hardware_config)
    train_model = build_model(
        bundle.input_shape, hardware_config, pretrained.model.config, hardware_aware=True
    )
    if resolved_schedule.init == "pretrained":
        initial = weights_of(inference_model)
    else:
        with seeded(0):  # one fixed initialisation for every episode
            initial = weights_of(
                build_model(bundle.input_shape, hardware_config, pretrained.model.config)
            )
    specs = layer_specs(inference_model, bundle.input_shape)
    monitor, fine_tune = _split_monitor(bundle.train, monitor_size, resolved_schedule.train_size)
    split = getattr(bundle, eval_split)
    if eval_size is not None:
        split = split.subset(eval_size, seed=0)
    evaluator = CachedEvaluator(
        inference_model,
        split.images,
        task_targets(split),
        seed=0,
        cache_mb=int(cache_mb),
        layer_names=[spec.name for spec in specs],
        probe_images=monitor.images,
    )
    evaluator.add_batch("monitor", monitor.images, task_targets(monitor))
    config: dict[str, Any] = {
        "dataset": dataset,
        "scenario": resolved_scenario.name,
        "hardware": hardware_config.to_dict(),
        "energy_table": table.to_dict(),
        "training_energy_table": training_table.to_dict(),
        "schedule": resolved_schedule.to_dict(),
        "deployment_ages_s": list(ages),
        "measure_age_s": float(measure_age_s),
        "pretrain": pretrain_config.to_dict(),
        "eval_split": eval_split,
        "eval_size": eval_size,
        "monitor_size": monitor_size,
        "fine_tune_size": int(fine_tune.images.shape[0]),
    }
    return TrainingRun(
        scenario=resolved_scenario,
        hardware=hardware_config,
        energy_table=table,
        training_table=training_table,
        schedule=resolved_schedule,
        deployment_ages_s=ages,
        measure_age_s=float(measure_age_s),
        train_model=train_model,
        inference_model=inference_model,
        evaluator=evaluator,
        specs=specs,
        train_images=fine_tune.images,
        train_targets=task_targets(fine_tune),
        initial_weights=initial,
        config=config,
        cache_mb=cache_mb,
        task_names=tuple(bundle.task_names),
        reference_weights=weights_of(inference_model),
    )


def _split_monitor(
    train: MultiTaskSplit, monitor_size: int, train_size: int | None
) -> tuple[MultiTaskSplit, MultiTaskSplit]:
    """The monitor subset of the training split and the rest (the fine-tuning images)."""
    n = len(train)
    if monitor_size >= n:
        raise ValueError(f"monitor_size {monitor_size} leaves no training image (split has {n})")
    generator = torch.Generator().manual_seed(MONITOR_SEED)
    order = torch.randperm(n, generator=generator)
    monitor_index = order[:monitor_size].sort().values
    rest = order[monitor_size:]
    if train_size is not None:
        rest = rest[:train_size]
    rest = rest.sort().values

    return train.select(monitor_index), train.select(rest)


TRAINING_RUN_OPTIONS: tuple[str, ...] = tuple(inspect.signature(build_training_run).parameters)
"""The keyword arguments :func:`build_training_run` takes (and the environment passes on)."""
