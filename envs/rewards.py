"""Reward functions of the partitioning environment: pluggable weights or any callable.

The default reward of one decision step is a cost, made negative::

    reward = -( w_energy    * E_inference / E_all_digital
              + w_task_loss * sum_k task_weight_k * max(0, L_k - L_k_digital)
              + w_reprogram * E_reprogram / (E_all_digital * inferences_per_step) )

* ``E_inference / E_all_digital``: energy of one inference with this placement, relative to
  running every layer digitally (1.0 = all digital; the all-analog floor is about 0.2-0.4).
* ``L_k - L_k_digital``: the excess task loss of task ``k`` over the all-digital model on the
  same evaluation batch; noise that happens to help is not rewarded (clipped at 0). The task
  loss is the 0-1 loss (error rate, ``task_metric="error"``, the default) or the cross-entropy
  in nats (``task_metric="cross_entropy"``). The default is the error rate because it is what
  users judge a deployment by: without drift compensation, drift shrinks every output, which
  raises the cross-entropy long before a single prediction changes.
* ``E_reprogram``: energy of the reprogramming done this step, spread over the inferences the
  step serves, relative to serving them all digitally.

Weights are per unit of those dimensionless ratios; the defaults are chosen by measurement
(see :data:`DEFAULT_REWARD_WEIGHTS`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class StepMetrics:
    """What one step measured; the input of every reward function.

    Attributes:
        energy_ratio: energy per inference relative to all-digital.
        losses: cross-entropy per task (nats).
        digital_losses: cross-entropy per task of the all-digital model (nats).
        accuracies: accuracy per task (fraction).
        digital_accuracies: accuracy per task of the all-digital model.
        reprogram_ratio: reprogramming energy this step / (all-digital energy per inference x
            inferences served per step).
        n_reprogrammed: layers reprogrammed this step.
        time_s: deployment time at the end of the step (s).
        step: index of the step (0-based).
    """

    energy_ratio: float
    losses: np.ndarray
    digital_losses: np.ndarray
    accuracies: np.ndarray
    digital_accuracies: np.ndarray
    reprogram_ratio: float
    n_reprogrammed: int
    time_s: float
    step: int

    @property
    def excess_losses(self) -> np.ndarray:
        """Per task, how much worse than all-digital the cross-entropy is (never negative)."""
        return np.maximum(self.losses - self.digital_losses, 0.0)

    @property
    def excess_errors(self) -> np.ndarray:
        """Per task, how much worse than all-digital the error rate is (never negative)."""
        return np.maximum(self.digital_accuracies - self.accuracies, 0.0)


@dataclass(frozen=True)
class RewardWeights:
    """Weights of the default reward (see the module docstring for the formula).

    Attributes:
        energy: weight of the energy ratio (per unit of E / E_all_digital).
        task_loss: weight of the excess task loss (per unit of error rate, or per nat).
        reprogram: weight of the amortised reprogramming energy ratio.
        task_weights: relative weight of each task's excess loss, one per task in head order;
            None (the default): each task's own weight (``Task.weight``, 1 unless the task
            says otherwise), filled in by the environment with :meth:`for_tasks`.
        task_metric: ``"error"`` (0-1 loss) or ``"cross_entropy"``.
    """

    energy: float = 1.0
    task_loss: float = 50.0
    reprogram: float = 1.0
    task_weights: tuple[float, ...] | None = None
    task_metric: str = "error"

    def __post_init__(self) -> None:
        for name in ("energy", "task_loss", "reprogram"):
            _check_weight(name, getattr(self, name))
        if self.task_weights is not None and not self.task_weights:
            raise ValueError("reward task_weights must list one weight per task")
        for index, weight in enumerate(self.task_weights or ()):
            _check_weight(f"task_weights[{index}]", weight)
        if self.task_weights is not None:
            object.__setattr__(self, "task_weights", tuple(float(w) for w in self.task_weights))
        if self.task_metric not in TASK_METRICS:
            raise ValueError(
                f"reward task_metric must be one of {', '.join(TASK_METRICS)}, "
                f"got {self.task_metric!r}"
            )
        if (
            self.energy == 0
            and self.reprogram == 0
            and (
                self.task_loss == 0
                or (self.task_weights is not None and not any(self.task_weights))
            )
        ):
            raise ValueError(
                "reward weights are all zero: every step would score 0 and nothing could be "
                "learned; give energy, task_loss (with a non-zero task weight) or reprogram a "
                "weight > 0"
            )

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The valid weight names."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RewardWeights:
        """Weights from a mapping; an unknown key is a one-line error naming the valid keys."""
        unknown = sorted(set(values) - set(cls.keys()))
        if unknown:
            valid = ", ".join(cls.keys())
            raise ValueError(f"unknown reward weight(s) {', '.join(unknown)}; valid keys: {valid}")
        values = dict(values)
        if values.get("task_weights") is not None:
            weights = values["task_weights"]
            if isinstance(weights, (str, bytes)) or not hasattr(weights, "__iter__"):
                raise ValueError(
                    f"reward task_weights must be a list of numbers, one per task, got {weights!r}"
                )
            values["task_weights"] = tuple(weights)
        return cls(**values)

    @classmethod
    def parse(cls, text: str) -> RewardWeights:
        """Weights from ``"energy=1,task_loss=10,reprogram=1"`` (task weights as ``a/b``)."""
        values: dict[str, Any] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            if "=" not in item:
                raise ValueError(
                    f"reward weight {item!r} is not KEY=VALUE; valid keys: {', '.join(cls.keys())}"
                )
            key, raw = (s.strip() for s in item.split("=", 1))
            try:
                if key == "task_weights":
                    values[key] = tuple(float(v) for v in raw.split("/"))
                elif key == "task_metric":
                    values[key] = raw
                else:
                    values[key] = float(raw)
            except ValueError:
                raise ValueError(f"reward weight {key}={raw!r} is not a number") from None
        return cls.from_dict(values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        task_weights = None if self.task_weights is None else list(self.task_weights)
        return {**dataclasses.asdict(self), "task_weights": task_weights}

    def for_tasks(self, task_names: Sequence[str], own_weights: Sequence[float]) -> RewardWeights:
        """These weights for a model with these tasks: ``task_weights`` filled in with the
        tasks' own weights when None, or a one-line ValueError when their count differs."""
        if self.task_weights is None:
            return dataclasses.replace(self, task_weights=tuple(float(w) for w in own_weights))
        if len(self.task_weights) != len(task_names):
            raise ValueError(
                f"reward task_weights has {len(self.task_weights)} weight(s) but the model has "
                f"{len(task_names)} task(s) ({', '.join(task_names)}): give one per task, e.g. "
                f"task_weights={'/'.join(['1'] * len(task_names))}, or leave it out"
            )
        return self

    def terms(self, metrics: StepMetrics) -> dict[str, float]:
        """The three weighted cost terms of a step (the reward is minus their sum)."""
        task_weights = np.asarray(
            self.task_weights if self.task_weights is not None else [1.0] * metrics.losses.size,
            dtype=float,
        )
        if task_weights.shape != metrics.losses.shape:
            raise ValueError(
                f"reward has {task_weights.size} task weights but the model has "
                f"{metrics.losses.size} tasks"
            )
        excess = metrics.excess_errors if self.task_metric == "error" else metrics.excess_losses
        return {
            "energy": self.energy * metrics.energy_ratio,
            "task_loss": self.task_loss * float(task_weights @ excess),
            "reprogram": self.reprogram * metrics.reprogram_ratio,
        }

    def __call__(self, metrics: StepMetrics) -> float:
        return -sum(self.terms(metrics).values())


TASK_METRICS = ("error", "cross_entropy")


def _check_weight(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"reward weight {name} must be a finite number >= 0, got {value!r}")
    if value < 0:
        raise ValueError(f"reward weight {name} must be >= 0, got {value!r}")


DEFAULT_REWARD_WEIGHTS = RewardWeights()
"""energy 1, task_loss 50 (error rate), reprogram 1, each task weighted by its own weight (1 for
the built-in tasks). One point of accuracy lost on one task
costs 0.5, more than moving any single layer of the digits net to analog saves (the largest,
fc1, saves about 0.43 of the all-digital energy per inference), so the best placement keeps each
task within about a point of digital while saving energy where the layers are robust."""

RewardFunction = Callable[[StepMetrics], float]


def resolve_reward(
    reward: RewardWeights | Mapping[str, Any] | str | RewardFunction | None,
) -> tuple[RewardFunction, RewardWeights | None]:
    """Turn the user's ``reward`` argument into a callable (and its weights, when it has them)."""
    if reward is None:
        return DEFAULT_REWARD_WEIGHTS, DEFAULT_REWARD_WEIGHTS
    if isinstance(reward, RewardWeights):
        return reward, reward
    if isinstance(reward, str):
        weights = RewardWeights.parse(reward)
        return weights, weights
    if isinstance(reward, Mapping):
        weights = RewardWeights.from_dict(reward)
        return weights, weights
    if callable(reward):
        return reward, None
    raise TypeError(
        "reward must be RewardWeights, a dict, a 'key=value,...' string or a callable "
        f"taking StepMetrics; got {type(reward).__name__}"
    )
