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

With a request stream (a streaming scenario, ``envs.workloads``) the same weights price what the
step actually served: the energy term is multiplied by ``V / V_ref`` (the step's requests over
the timeline's ``inferences_per_step``), so a reprogramming, charged once, is amortised over the
traffic that follows it; each task's excess error is measured on the requests it served and
weighted by ``V_k / V_ref``, so one extra wrong answer costs ``w_task_loss`` all-digital
inferences' energy wherever it happens. :class:`StreamingRewardWeights` adds service levels.
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
        volume_ratio: inferences served this step / the timeline's ``inferences_per_step``
            (1 without a workload; the energy term is scaled by it).
        task_volume_ratios: with a workload, per task, its requests this step /
            ``inferences_per_step`` (each task's excess error is weighted by it, and
            ``accuracies`` are then over the requests served); None without one (every task is
            scored on the whole evaluation batch).
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
    volume_ratio: float = 1.0
    task_volume_ratios: np.ndarray | None = None

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
        if metrics.task_volume_ratios is not None:
            excess = excess * metrics.task_volume_ratios
        return {
            "energy": self.energy * metrics.energy_ratio * metrics.volume_ratio,
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


@dataclass(frozen=True)
class StreamingRewardWeights(RewardWeights):
    """The default reward plus per-task service levels, for request streams::

        cost += w_service * sum_k (V_k / V_ref) * max(0, floor_k - accuracy_k)

    where ``accuracy_k`` is task ``k``'s accuracy on the requests the step served and
    ``V_k / V_ref`` its requests over the timeline's ``inferences_per_step``: a step that serves
    a task below its floor pays for every request served there, in proportion to the shortfall.

    Attributes:
        service: weight of the service-level term (per unit of accuracy shortfall per
            reference volume). Default 100: a step at the reference volume that serves all its
            requests one point below the floor pays 1.0, the energy of serving it all
            digitally, on top of the task term.
        service_floors: per task, the accuracy floor (fraction); empty: no service levels.
    """

    service: float = 100.0
    service_floors: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_weight("service", self.service)
        for index, floor in enumerate(self.service_floors):
            number = isinstance(floor, (int, float)) and not isinstance(floor, bool)
            if not number or not 0 <= floor <= 1:
                raise ValueError(
                    f"reward service_floors[{index}] must be an accuracy in [0, 1], got {floor!r}"
                )
        object.__setattr__(self, "service_floors", tuple(float(f) for f in self.service_floors))

    def for_tasks(
        self, task_names: Sequence[str], own_weights: Sequence[float]
    ) -> StreamingRewardWeights:
        """As :meth:`RewardWeights.for_tasks`, and one service floor per task (or none)."""
        n_tasks = len(task_names)
        if self.service_floors and len(self.service_floors) != n_tasks:
            raise ValueError(
                f"reward has {len(self.service_floors)} service floors but the model has "
                f"{n_tasks} tasks: give service_floors with {n_tasks} entries or none"
            )
        return super().for_tasks(task_names, own_weights)  # type: ignore[return-value]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> StreamingRewardWeights:
        """Weights from a mapping (``service_floors`` a list, one accuracy per task)."""
        values = dict(values)
        floors = values.get("service_floors")
        if floors is not None:
            if isinstance(floors, (str, bytes)) or not hasattr(floors, "__iter__"):
                raise ValueError(
                    f"reward service_floors must be a list of accuracies, one per task, got "
                    f"{floors!r}"
                )
            values["service_floors"] = tuple(floors)
        return super().from_dict(values)  # type: ignore[return-value]

    @classmethod
    def parse(cls, text: str) -> StreamingRewardWeights:
        """As :meth:`RewardWeights.parse`, with ``service=W`` and ``service_floors=a/b``."""
        return cls.from_dict(parse_weights(text, cls.keys()))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {**super().to_dict(), "service_floors": list(self.service_floors)}

    def terms(self, metrics: StepMetrics) -> dict[str, float]:
        """The default terms plus ``service`` (when floors are set)."""
        terms = super().terms(metrics)
        if self.service_floors:
            traffic = (
                np.ones(metrics.accuracies.size)
                if metrics.task_volume_ratios is None
                else metrics.task_volume_ratios
            )
            shortfall = np.maximum(np.asarray(self.service_floors) - metrics.accuracies, 0.0)
            terms["service"] = self.service * float(traffic @ shortfall)
        return terms


def parse_weights(text: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """The weights a ``"energy=1,service_floors=0.9/0.93"`` string gives, and only those (lists
    as ``a/b``); an unknown key or a bad number is a one-line error naming the valid keys."""
    values: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, equals, raw = (part.strip() for part in item.partition("="))
        if not equals:
            raise ValueError(
                f"reward weight {item!r} is not KEY=VALUE; valid keys: {', '.join(keys)}"
            )
        if key not in keys:
            raise ValueError(f"unknown reward weight(s) {key}; valid keys: {', '.join(keys)}")
        try:
            if key in ("task_weights", "service_floors"):
                values[key] = tuple(float(v) for v in raw.split("/"))
            elif key == "task_metric":
                values[key] = raw
            else:
                values[key] = float(raw)
        except ValueError:
            raise ValueError(f"reward weight {key}={raw!r} is not a number") from None
    return values


RewardFunction = Callable[[StepMetrics], float]


def resolve_reward(
    reward: RewardWeights | Mapping[str, Any] | str | RewardFunction | None,
    default: RewardWeights | None = None,
) -> tuple[RewardFunction, RewardWeights | None]:
    """Turn the user's ``reward`` argument into a callable (and its weights, when it has them).

    ``default`` is the scenario's reward (None: :data:`DEFAULT_REWARD_WEIGHTS`): what ``None``
    gives, and, for a scenario with its own (``StreamingRewardWeights``), the class and values a
    dict or string of weights is laid over (so ``energy=2`` keeps the service floors).
    """
    if reward is None:
        weights = default if default is not None else DEFAULT_REWARD_WEIGHTS
        return weights, weights
    if isinstance(reward, RewardWeights):
        return reward, reward
    if default is not None and type(default) is not RewardWeights:
        if isinstance(reward, str):
            reward = parse_weights(reward, type(default).keys())
        if isinstance(reward, Mapping):
            weights = type(default).from_dict({**default.to_dict(), **reward})
            return weights, weights
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
