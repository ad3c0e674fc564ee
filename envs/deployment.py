"""A deployment: what is deployed, on what hardware, for how long, and how it is judged.

:func:`build_deployment` resolves, in one call, everything an environment needs that does not
change during an episode: the scenario's hardware and timeline (with the user's overrides),
the energy prices, the dataset and its tasks, the model (the pretrained paper network, or the
user's: an object, or a factory named by an import path, with weights from a file), its
layers' crossbar shapes, and the :class:`~hybrid.simulator.CachedEvaluator` that scores
placements on a fixed evaluation batch and measures layers on calibration images. The
environment receives a :class:`Deployment` (or builds one from its keyword arguments) and keeps
only the Gymnasium API and the transition.

A model that does not fit its tasks is a one-line ValueError here, before any episode: a head
count other than the task count, a head narrower than its task's classes, layers that cannot
go on analog tiles (named), or a head whose all-digital accuracy is no better than always
answering its most frequent class (the wrong targets, most likely).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from envs.measurement import LayerMeter
from envs.scenarios import Scenario, Timeline, get_scenario
from hybrid.data import DatasetBundle, load_dataset
from hybrid.energy import (
    EnergyReport,
    EnergyTable,
    LayerSpec,
    energy_per_inference,
    get_energy_table,
    reprogram_energy_pj,
    substrate_cost_table,
)
from hybrid.factory import build_from_factory, load_weights, weights_digest
from hybrid.hardware import HardwareConfig, get_hardware
from hybrid.layers import check_hybridizable, hybrid_layers, make_hybrid
from hybrid.models import MTLNetConfig, build_model, layer_specs, model_config_for
from hybrid.networks import PAPER_NETWORK, check_network, load_or_pretrain_resnet
from hybrid.pretrain import PretrainConfig, default_cache_dir, load_or_pretrain
from hybrid.simulator import CachedEvaluator, Evaluation
from hybrid.tasks import Task, check_heads, heads_at_chance, task_targets
from hybrid.variation import TileVariation

EVAL_SPLITS = ("train", "val", "test")
CALIBRATION_SEED = 1
"""Seed of the calibration subset of the training split (the evaluation subset uses 0)."""


@dataclass
class Deployment:
    """A model deployed on simulated hardware, with its prices and fixed evaluation batches.

    Attributes:
        scenario: the named scenario it came from.
        hardware: the analog tile settings (the scenario's, scaled by noise/drift scales).
        timeline: when decisions are taken over the deployment.
        energy_table: the energy prices.
        model: the hybrid model (its analog tiles belong to ``evaluator``).
        specs: crossbar shape of every toggleable layer, in forward (execution) order.
        evaluator: scores placements on the evaluation batch (``"eval"``) and the calibration
            images (``"calibration"``).
        config: the resolved settings, JSON-friendly (what a run folder records).
        tasks: the task of each model head, in head order.
        curve_cache_dir: the folder the ``"light"`` measurement's sensitivity curves are cached
            in (``envs.curve_cache``): the model cache's; None: not cached (a deployment not
            built by :func:`build_deployment`).
    """

    scenario: Scenario
    hardware: HardwareConfig
    timeline: Timeline
    energy_table: EnergyTable
    model: nn.Module
    specs: list[LayerSpec]
    evaluator: CachedEvaluator
    config: dict[str, Any]
    tasks: tuple[Task, ...] = ()
    curve_cache_dir: Path | None = None
    _energy_cache: dict[tuple[bool, ...], EnergyReport] = field(default_factory=dict, repr=False)
    _meters: dict[tuple, LayerMeter] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        digital = [None] * self.n_layers
        self.all_digital: Evaluation = self.evaluator.evaluate(digital)
        """Losses and accuracies of the all-digital model on the evaluation batch."""
        self.calibration_digital: Evaluation = self.evaluator.evaluate(digital, batch="calibration")
        """The same on the calibration images."""
        self.energy_digital_pj = self.energy([False] * self.n_layers).total_pj
        """Energy of one all-digital inference (pJ): the unit of every energy ratio."""
        costs = substrate_cost_table(self.specs, self.energy_table) / self.energy_digital_pj
        macs = np.array([spec.macs for spec in self.specs], dtype=float)
        self.energy_shares = costs
        """Per layer, its energy per inference digital (column 0) and analog (column 1), as a
        share of the all-digital energy (crossings excluded)."""
        self.mac_shares = macs / macs.sum()
        """Per layer, its share of the network's MACs."""
        self.reprogram_pj = np.array(
            [reprogram_energy_pj(spec, self.energy_table) for spec in self.specs]
        )
        """Per layer, the energy to reprogram all its weights (pJ)."""

    def layer_meter(self, measurement: str, times_s: Any) -> LayerMeter:
        """The observation's per-layer meter (``envs.measurement``), one per measurement and
        timeline, shared by every environment of this deployment (a ``"light"`` meter's
        sensitivity curves are measured once)."""
        key = (measurement, tuple(float(t) for t in times_s))
        if key not in self._meters:
            self._meters[key] = LayerMeter(self, measurement, times_s)
        return self._meters[key]

    @property
    def layer_names(self) -> tuple[str, ...]:
        """Toggleable layers in forward order."""
        return tuple(spec.name for spec in self.specs)

    @property
    def n_layers(self) -> int:
        """Number of toggleable layers."""
        return len(self.specs)

    @property
    def n_tasks(self) -> int:
        """Number of tasks (model heads)."""
        return len(self.evaluator.targets)

    @property
    def task_names(self) -> tuple[str, ...]:
        """The tasks' names, in head order (``task1``, ``task2``, ... when not given)."""
        if len(self.tasks) == self.n_tasks:
            return tuple(task.name for task in self.tasks)
        return tuple(f"task{k + 1}" for k in range(self.n_tasks))

    @property
    def task_weights(self) -> tuple[float, ...]:
        """Each task's own weight (``Task.weight``; 1 when not given): the reward's default
        ``task_weights``."""
        if len(self.tasks) == self.n_tasks:
            return tuple(float(task.weight) for task in self.tasks)
        return (1.0,) * self.n_tasks

    @property
    def serving_pj(self) -> float:
        """All-digital energy of the inferences one step serves: the unit of reprogramming cost."""
        return self.energy_digital_pj * self.timeline.inferences_per_step

    def energy(self, analog: Any) -> EnergyReport:
        """Energy of one inference with ``analog[i]`` True for each analog layer (memoised)."""
        key = tuple(bool(a) for a in analog)
        report = self._energy_cache.get(key)
        if report is None:
            report = energy_per_inference(self.specs, key, self.energy_table)
            self._energy_cache[key] = report
        return report


def build_deployment(
    dataset: str | DatasetBundle = "digits",
    scenario: str | Scenario | None = None,
    hardware: str | HardwareConfig | Mapping[str, Any] | None = None,
    noise_scale: float = 1.0,
    drift_scale: float = 1.0,
    energy_table: str | EnergyTable | Mapping[str, Any] | None = None,
    timeline: Timeline | Mapping[str, Any] | None = None,
    network: str = PAPER_NETWORK,
    model: nn.Module | None = None,
    model_factory: str | None = None,
    model_options: Mapping[str, Any] | None = None,
    model_weights: str | Path | None = None,
    allow_chance_heads: bool = False,
    pretrain: PretrainConfig | Mapping[str, Any] | None = None,
    eval_split: str = "val",
    eval_size: int | None = None,
    calibration_size: int = 128,
    data_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    cache_mb: int = 256,
) -> Deployment:
    """Resolve a deployment from the environment's keyword arguments (see
    :class:`~envs.partition_env.HybridPartitionEnv`, Arguments); the heavy part of building an
    environment (loading data, pretraining or loading the model, the evaluator)."""
    resolved_scenario = get_scenario(scenario)
    hardware_config = (
        get_hardware(dict(hardware) if isinstance(hardware, Mapping) else hardware)
        if hardware is not None
        else resolved_scenario.hardware_config()
    )
    hardware_config = hardware_config.scaled(noise_scale, drift_scale)
    if timeline is None:
        resolved_timeline = resolved_scenario.timeline
    elif isinstance(timeline, Timeline):
        resolved_timeline = timeline
    else:
        resolved_timeline = resolved_scenario.timeline.replace(**dict(timeline))
    table = get_energy_table(energy_table)
    if eval_split not in EVAL_SPLITS:
        raise ValueError(f"eval_split must be 'train', 'val' or 'test', got {eval_split!r}")
    _check_model_options(model, model_factory, model_options)
    check_network(network)
    if network != PAPER_NETWORK and (model is not None or model_factory is not None):
        raise ValueError(f"pass either network={network!r} or your own model, not both")
    if network != PAPER_NETWORK and (model_weights is not None or pretrain is not None):
        raise ValueError(
            f"network={network!r} loads its own pretrained weights: drop model_weights= and "
            "pretrain=, or give the model itself (model=)"
        )
    config: dict[str, Any] = {
        "dataset": dataset.name if isinstance(dataset, DatasetBundle) else dataset,
        "scenario": resolved_scenario.name,
        "hardware": hardware_config.to_dict(),
        "energy_table": table.to_dict(),
        "timeline": resolved_timeline.to_dict(),
        "eval_split": eval_split,
        "eval_size": eval_size,
        "calibration_size": calibration_size,
    }

    bundle = dataset if isinstance(dataset, DatasetBundle) else None
    if model_factory is not None:
        model, factory_data = build_from_factory(model_factory, model_options)
        bundle = factory_data or bundle
        config.update(model_factory=model_factory, model_options=dict(model_options or {}))
    if bundle is None:
        bundle = load_dataset(str(dataset), data_dir)
    config["dataset"] = bundle.name
    if network != PAPER_NETWORK:
        pretrained_net = load_or_pretrain_resnet(
            network, bundle, cache_dir=cache_dir, progress=False
        )
        model = pretrained_net.instantiate(hardware_config)
        config.update(network=network, network_weights=pretrained_net.path.name)
    elif model is None and model_weights is None:
        pretrain_config = (
            pretrain
            if isinstance(pretrain, PretrainConfig)
            else PretrainConfig.from_dict(dict(pretrain or {}))
        )
        pretrained = load_or_pretrain(
            bundle,
            pretrain_config,
            model_config=_paper_network_for(bundle),
            cache_dir=cache_dir,
            progress=False,
        )
        model = pretrained.instantiate(hardware_config)
        config["pretrain"] = pretrain_config.to_dict()
    else:
        if model is None:  # the paper's network with the user's weights
            model = build_model(bundle.input_shape, hardware_config, _paper_network_for(bundle))
        else:
            check_hybridizable(model)
        if model_weights is not None:
            load_weights(model, model_weights)
            config["model_weights"] = str(Path(model_weights).expanduser())
            config["model_weights_sha256"] = weights_digest(Path(model_weights).expanduser())
        if not hybrid_layers(model):
            model = make_hybrid(model, hardware_config)
    model = model.eval()
    config["tasks"] = [task.describe() for task in bundle.tasks]
    specs = _traced_specs(model, bundle)
    split = getattr(bundle, eval_split)
    if eval_size is not None:
        split = split.subset(eval_size, seed=0)
    with torch.no_grad():
        check_heads(model(split.images[:2]), bundle.tasks)
    calibration = bundle.train.subset(calibration_size, seed=CALIBRATION_SEED)
    evaluator = CachedEvaluator(
        model,
        split.images,
        task_targets(split),
        seed=0,
        cache_mb=cache_mb,
        layer_names=[spec.name for spec in specs],
        probe_images=calibration.images,
    )
    evaluator.add_batch("calibration", calibration.images, task_targets(calibration))
    if resolved_scenario.chip_variation is not None:
        # Chips that differ: each tile gets its chip's noise model before it is programmed or read.
        evaluator.tile_variation = TileVariation(
            resolved_scenario.chip_variation, hardware_config, len(specs)
        )
    deployment = Deployment(
        resolved_scenario,
        hardware_config,
        resolved_timeline,
        table,
        model,
        specs,
        evaluator,
        config,
        tasks=bundle.tasks,
        curve_cache_dir=Path(cache_dir) if cache_dir is not None else default_cache_dir(),
    )
    at_chance = heads_at_chance(
        deployment.all_digital.accuracies, task_targets(split), bundle.tasks
    )
    if at_chance and not allow_chance_heads:
        raise ValueError(
            f"{'; '.join(at_chance)} (all layers digital, {eval_split} split of {bundle.name}): "
            "the targets are likely not the ones the head was trained for (task order, label "
            "mapping) or the head is untrained; fix the tasks, or pass allow_chance_heads=True "
            "to deploy it anyway"
        )
    return deployment


def _check_model_options(
    model: Any, model_factory: str | None, model_options: Mapping[str, Any] | None
) -> None:
    """One-line ValueErrors for model arguments that cannot work together."""
    if isinstance(model, str):
        raise ValueError(
            f"model= takes a torch module; to name one by import path use "
            f"model_factory={model!r} ('package.module:function')"
        )
    if model is not None and not isinstance(model, nn.Module):
        raise ValueError(f"model= takes a torch module, got {type(model).__name__}")
    if model is not None and model_factory is not None:
        raise ValueError("pass either model= or model_factory=, not both")
    if model_options and model_factory is None:
        raise ValueError("model_options are the keyword arguments of model_factory: name one")


def _paper_network_for(bundle: DatasetBundle) -> MTLNetConfig:
    """The paper's two-head network sized for the dataset's two tasks, or a one-line error."""
    if len(bundle.tasks) != 2:
        raise ValueError(
            f"the default model is the paper's two-head network, but {bundle.name} has "
            f"{len(bundle.tasks)} task(s) ({', '.join(bundle.task_names)}): give your own model "
            "(model= or model_factory=)"
        )
    return dataclasses.replace(
        model_config_for(bundle.input_shape),
        num_classes=int(bundle.tasks[0].num_classes),
        num_groups=int(bundle.tasks[1].num_classes),
    )


def _traced_specs(model: nn.Module, bundle: DatasetBundle) -> list[LayerSpec]:
    """The model's layer shapes on one input of the dataset, or a one-line ValueError when its
    forward fails on it."""
    try:
        return layer_specs(model, bundle.input_shape)
    except (RuntimeError, TypeError, IndexError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(
            f"the model's forward fails on one {bundle.name} input of shape "
            f"{tuple(bundle.input_shape)}: {reason}"
        ) from None


DEPLOYMENT_OPTIONS: tuple[str, ...] = tuple(inspect.signature(build_deployment).parameters)
"""The keyword arguments :func:`build_deployment` takes (and the environment passes on)."""
