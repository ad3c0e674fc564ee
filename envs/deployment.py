"""A deployment: what is deployed, on what hardware, for how long, and how it is judged.

:func:`build_deployment` resolves, in one call, everything an environment needs that does not
change during an episode: the scenario's hardware and timeline (with the user's overrides),
the energy prices, the dataset, the model (the pretrained paper network, or the user's), its
layers' crossbar shapes, and the :class:`~hybrid.simulator.CachedEvaluator` that scores
placements on a fixed evaluation batch and measures layers on calibration images. The
environment receives a :class:`Deployment` (or builds one from its keyword arguments) and keeps
only the Gymnasium API and the transition.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from envs.scenarios import Scenario, Timeline, get_scenario
from hybrid.data import load_dataset
from hybrid.energy import (
    EnergyReport,
    EnergyTable,
    LayerSpec,
    energy_per_inference,
    get_energy_table,
    reprogram_energy_pj,
    substrate_cost_table,
)
from hybrid.hardware import HardwareConfig, get_hardware
from hybrid.layers import hybrid_layers, make_hybrid
from hybrid.models import layer_specs
from hybrid.pretrain import PretrainConfig, load_or_pretrain, task_targets
from hybrid.simulator import CachedEvaluator, Evaluation

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
    """

    scenario: Scenario
    hardware: HardwareConfig
    timeline: Timeline
    energy_table: EnergyTable
    model: nn.Module
    specs: list[LayerSpec]
    evaluator: CachedEvaluator
    config: dict[str, Any]
    _energy_cache: dict[tuple[bool, ...], EnergyReport] = field(default_factory=dict, repr=False)

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
    dataset: str = "digits",
    scenario: str | Scenario | None = None,
    hardware: str | HardwareConfig | Mapping[str, Any] | None = None,
    noise_scale: float = 1.0,
    drift_scale: float = 1.0,
    energy_table: str | EnergyTable | Mapping[str, Any] | None = None,
    timeline: Timeline | Mapping[str, Any] | None = None,
    model: nn.Module | None = None,
    pretrain: PretrainConfig | Mapping[str, Any] | None = None,
    eval_split: str = "val",
    eval_size: int | None = None,
    calibration_size: int = 128,
    data_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    cache_mb: int = 2048,
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
    config: dict[str, Any] = {
        "dataset": dataset,
        "scenario": resolved_scenario.name,
        "hardware": hardware_config.to_dict(),
        "energy_table": table.to_dict(),
        "timeline": resolved_timeline.to_dict(),
        "eval_split": eval_split,
        "eval_size": eval_size,
        "calibration_size": calibration_size,
    }

    bundle = load_dataset(dataset, data_dir)
    if model is None:
        pretrain_config = (
            pretrain
            if isinstance(pretrain, PretrainConfig)
            else PretrainConfig.from_dict(dict(pretrain or {}))
        )
        pretrained = load_or_pretrain(bundle, pretrain_config, cache_dir=cache_dir, progress=False)
        model = pretrained.instantiate(hardware_config)
        config["pretrain"] = pretrain_config.to_dict()
    elif not hybrid_layers(model):
        model = make_hybrid(model, hardware_config)
    model = model.eval()
    specs = layer_specs(model, bundle.input_shape)
    split = getattr(bundle, eval_split)
    if eval_size is not None:
        split = split.subset(eval_size, seed=0)
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
    return Deployment(
        resolved_scenario,
        hardware_config,
        resolved_timeline,
        table,
        model,
        specs,
        evaluator,
        config,
    )


DEPLOYMENT_OPTIONS: tuple[str, ...] = tuple(inspect.signature(build_deployment).parameters)
"""The keyword arguments :func:`build_deployment` takes (and the environment passes on)."""
