"""Reward of the training-time environment: the deployment's reward plus the training energy.

One episode trains the network and then deploys it. Its reward, summed over the episode, is::

    return = -( w_training * E_training / E_training_all_digital
              + sum over deployment ages a of
                  ( w_energy    * E_inference / E_all_digital
                  + w_task_loss * sum_k task_weight_k * max(0, L_k(a) - L_k_digital) ) )

* ``E_training / E_training_all_digital``: the energy of the whole training run (forward,
  backward and updates on each substrate, and writing weights onto tiles;
  ``hybrid.energy.training_energy``) relative to training every layer digitally for the whole
  run. Each step is charged its own share as it happens, so the training term arrives step by
  step.
* The deployment terms are exactly those of ``HybridPartition-v0`` (``envs.rewards``), one per
  deployment age, for the network deployed with the last step's placement and scored against
  the digital pretrained network; they arrive with the last step.

The weights are :class:`TrainingRewardWeights`: the deployment's ``RewardWeights`` (energy,
task_loss, reprogram, task_weights, task_metric, parsed and checked the same way) and one more,
``training``. Any callable of :class:`TrainingMetrics` can replace them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from envs.rewards import DEFAULT_REWARD_WEIGHTS, RewardWeights, StepMetrics

DEFAULT_TRAINING_WEIGHT = 1.0
"""Weight of the training energy ratio: training every layer digitally for the whole run costs
as much reward as serving one deployment age all-digitally (the deployment has four ages by
default, ``envs.hybrid_training.run.DEPLOYMENT_AGES_S``)."""


@dataclass(frozen=True)
class TrainingMetrics:
    """What one step of the training-time environment measured; the input of its rewards.

    Attributes:
        step: index of the step (0-based).
        n_steps: steps in the episode.
        training_energy_ratio: this step's training energy / the all-digital training energy
            of the whole run.
        deployment: empty before the last step; at the last step, one ``StepMetrics`` per
            deployment age (the deployed network at that age, against the digital network).
    """

    step: int
    n_steps: int
    training_energy_ratio: float
    deployment: tuple[StepMetrics, ...] = ()


@dataclass(frozen=True)
class TrainingRewardWeights:
    """Weights of the default training-time reward (see the module docstring).

    Attributes:
        deployment: the deployment's weights (energy, task_loss, reprogram, task_weights,
            task_metric), applied at every deployment age. No layer is reprogrammed during
            the deployment here, so ``reprogram`` never contributes.
        training: weight of the training energy ratio.
    """

    deployment: RewardWeights = field(default_factory=lambda: DEFAULT_REWARD_WEIGHTS)
    training: float = DEFAULT_TRAINING_WEIGHT

    def __post_init__(self) -> None:
        value = self.training
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValueError(f"reward weight training must be a finite number >= 0, got {value!r}")
        if value == float("inf"):
            raise ValueError("reward weight training must be finite")

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The valid weight names."""
        return (*RewardWeights.keys(), "training")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainingRewardWeights:
        """Weights from a flat mapping (``to_dict``'s form); unknown keys are a one-line error."""
        values = dict(values)
        unknown = sorted(set(values) - set(cls.keys()))
        if unknown:
            valid = ", ".join(cls.keys())
            raise ValueError(f"unknown reward weight(s) {', '.join(unknown)}; valid keys: {valid}")
        training = values.pop("training", DEFAULT_TRAINING_WEIGHT)
        return cls(RewardWeights.from_dict(values), training)

    @classmethod
    def parse(cls, text: str) -> TrainingRewardWeights:
        """Weights from ``"energy=1,task_loss=50,training=1"`` (``RewardWeights.parse``'s
        syntax, plus ``training``)."""
        deployment_items, training = [], DEFAULT_TRAINING_WEIGHT
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, _, raw = (s.strip() for s in item.partition("="))
            if key == "training":
                try:
                    training = float(raw)
                except ValueError:
                    raise ValueError(f"reward weight training={raw!r} is not a number") from None
            else:
                deployment_items.append(item)
        try:
            deployment = RewardWeights.parse(",".join(deployment_items))
        except ValueError as error:
            raise ValueError(f"{error} (or training)") from None
        return cls(deployment, training)

    def to_dict(self) -> dict[str, Any]:
        """Flat JSON-friendly form: the deployment weights and ``training``."""
        return {**self.deployment.to_dict(), "training": self.training}

    def terms(self, metrics: TrainingMetrics) -> dict[str, float]:
        """The weighted cost terms of a step (the reward is minus their sum): ``training``, and
        the deployment's ``energy``, ``task_loss`` and ``reprogram`` summed over the ages."""
        totals = {"training": self.training * metrics.training_energy_ratio}
        for name in ("energy", "task_loss", "reprogram"):
            totals[name] = 0.0
        for age in metrics.deployment:
            for name, value in self.deployment.terms(age).items():
                totals[name] += value
        return totals

    def __call__(self, metrics: TrainingMetrics) -> float:
        return -sum(self.terms(metrics).values())


DEFAULT_TRAINING_REWARD_WEIGHTS = TrainingRewardWeights()

TrainingRewardFunction = Callable[[TrainingMetrics], float]


def resolve_training_reward(
    reward: TrainingRewardWeights | Mapping[str, Any] | str | TrainingRewardFunction | None,
) -> tuple[TrainingRewardFunction, TrainingRewardWeights | None]:
    """The user's ``reward`` argument as a callable (and its weights, when it has them)."""
    if reward is None:
        return DEFAULT_TRAINING_REWARD_WEIGHTS, DEFAULT_TRAINING_REWARD_WEIGHTS
    if isinstance(reward, TrainingRewardWeights):
        return reward, reward
    if isinstance(reward, RewardWeights):
        weights = TrainingRewardWeights(reward)
        return weights, weights
    if isinstance(reward, str):
        weights = TrainingRewardWeights.parse(reward)
        return weights, weights
    if isinstance(reward, Mapping):
        weights = TrainingRewardWeights.from_dict(reward)
        return weights, weights
    if callable(reward):
        return reward, None
    raise ValueError(
        "reward must be TrainingRewardWeights, RewardWeights, a dict, a 'key=value,...' string "
        f"or a callable taking TrainingMetrics; got {type(reward).__name__}"
    )
