"""The keyword arguments of ``HybridPartition-v0``: names, types and ranges, checked where they
enter (the environment's constructor, and ``train_agent.py --env-config`` before any process
starts).

Each check raises a one-line ``ValueError`` that names the argument, what it got and what it
takes, so a typo in a JSON file reads ``chip_pool='many': must be an integer >= 1`` instead of
a ``TypeError`` traceback from deep inside the environment.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Mapping
from typing import Any

from hybrid.energy import EnergyTable
from hybrid.hardware import HardwareConfig
from hybrid.pretrain import PretrainConfig

Check = Callable[[Any], str | None]
"""A check returns None when the value is fine, else what the argument takes."""


def integer(low: int, optional: bool = False) -> Check:
    """An integer (not a bool) >= ``low`` (or None when ``optional``)."""

    def check(value: Any) -> str | None:
        if optional and value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            return f"must be an integer >= {low}" + (" or null" if optional else "")
        return None

    return check


def number(low: float, optional: bool = False) -> Check:
    """A finite real number (not a bool) >= ``low``."""

    def check(value: Any) -> str | None:
        if optional and value is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Real)
            or not math.isfinite(value)
            or value < low
        ):
            return f"must be a finite number >= {low:g}"
        return None

    return check


def boolean(value: Any) -> str | None:
    """true or false."""
    return None if isinstance(value, bool) else "must be true or false"


def kinds(description: str, *types: type, none: bool = True) -> Check:
    """An instance of one of ``types`` (or None): anything else is a one-line error."""

    def check(value: Any) -> str | None:
        if (none and value is None) or isinstance(value, types):
            return None
        return f"must be {description}"

    return check


def _callable_reward(value: Any) -> str | None:
    if value is None or isinstance(value, (str, Mapping)) or callable(value):
        return None
    return "must be reward weights (a 'key=value,...' string or an object) or a callable"


def _path(value: Any) -> str | None:
    return None if value is None or isinstance(value, (str, os.PathLike)) else "must be a path"


def _model(value: Any) -> str | None:
    from torch import nn

    if value is None or isinstance(value, nn.Module):
        return None
    if isinstance(value, str):
        return f"must be a torch module; to name one by import path use model_factory={value!r}"
    return "must be a torch nn.Module whose forward returns one logits tensor per task"


def _dataset(value: Any) -> str | None:
    from hybrid.data import DatasetBundle

    if isinstance(value, (str, DatasetBundle)):
        return None
    return "must be a dataset name or a hybrid.data.DatasetBundle (hybrid.data.multitask_dataset)"


def _deployment(value: Any) -> str | None:
    from envs.deployment import Deployment

    return None if value is None or isinstance(value, Deployment) else "must be a Deployment"


def _scenario(value: Any) -> str | None:
    from envs.scenarios import Scenario

    return None if value is None or isinstance(value, (str, Scenario)) else "must be a name"


def _timeline(value: Any) -> str | None:
    from envs.scenarios import Timeline

    if value is None or isinstance(value, (Timeline, Mapping)):
        return None
    return "must be an object of Timeline fields (horizon_s, n_steps, ...)"


def _workload(value: Any) -> str | None:
    from envs.workloads import Workload

    if value is None or isinstance(value, (str, Workload)):
        return None
    return "must be a workload name (envs.workloads.WORKLOADS) or a Workload"


def _measurement(value: Any) -> str | None:
    from envs.measurement import MEASUREMENTS

    if isinstance(value, str) and value in MEASUREMENTS:
        return None
    return f"must be one of {', '.join(MEASUREMENTS)}"


def _network(value: Any) -> str | None:
    from hybrid.networks import NETWORKS

    if isinstance(value, str) and value in NETWORKS:
        return None
    return f"must be a built-in network: {', '.join(NETWORKS)}"


CHECKS: dict[str, Check] = {
    # The decision problem (HybridPartitionEnv).
    "deployment": _deployment,
    "reward": _callable_reward,
    "chip_pool": integer(1),
    "chip_offset": integer(0),
    "allow_reprogram": boolean,
    "reprogram_min_age_ratio": number(1.0),
    "tile_budget": integer(1, optional=True),
    "workload": _workload,
    "measurement": _measurement,
    "torch_threads": integer(1, optional=True),
    "seed": integer(0, optional=True),
    "render_mode": kinds("a render mode name", str),
    # The deployment (envs.deployment.build_deployment).
    "dataset": _dataset,
    "scenario": _scenario,
    "hardware": kinds(
        "a preset name or an object of hardware fields", str, Mapping, HardwareConfig
    ),
    "noise_scale": number(0.0),
    "drift_scale": number(0.0),
    "energy_table": kinds("a preset name or an object of energy prices", str, Mapping, EnergyTable),
    "timeline": _timeline,
    "network": _network,
    "model": _model,
    "model_factory": kinds("an import path 'package.module:function'", str),
    "model_options": kinds("an object of keyword arguments for the model factory", Mapping),
    "model_weights": _path,
    "allow_chance_heads": boolean,
    "pretrain": kinds("an object of pretraining settings", Mapping, PretrainConfig),
    "eval_split": kinds("one of train, val, test", str, none=False),
    "eval_size": integer(1, optional=True),
    "calibration_size": integer(1),
    "data_dir": _path,
    "cache_dir": _path,
    "cache_mb": integer(1),
}
"""Every keyword argument of ``HybridPartition-v0`` and its check (``tests/test_env.py`` keeps
this table equal to the constructors' signatures)."""


def check_env_options(options: Mapping[str, Any], where: str = "HybridPartition-v0") -> None:
    """A one-line ValueError for the first unknown name or bad value in ``options``; ``where``
    says where they came from (``--env-config FILE``, say)."""
    if not isinstance(options, Mapping):
        raise ValueError(
            f"{where}: environment options must be an object of name: value pairs, got "
            f"{type(options).__name__}"
        )
    unknown = sorted(set(options) - set(CHECKS))
    if unknown:
        raise ValueError(
            f"{where}: unknown argument(s) {', '.join(unknown)}; valid: {', '.join(CHECKS)}"
        )
    for name, value in options.items():
        problem = CHECKS[name](value)
        if problem is not None:
            raise ValueError(f"{where}: {name}={value!r} {problem}")
