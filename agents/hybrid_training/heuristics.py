"""Hand-written baselines of the training-time environment (``HybridTraining-v0``).

Each is a :class:`~agents.base.Policy` registered by name for that environment
(``env_id = TRAINING_ENV_ID``), so ``make_policy("lionheart-training", env)`` builds it and
``agents.run_episode`` runs it, and ``evaluate.py`` compares them with a trained agent. All are
deployable: they read the observation, the static layer facts and, for LionHeart, what the chip
can measure on its own monitor images (``env.measure``).

* ``all-digital-training``: train every layer digitally, deploy all-digital.
* ``all-analog-training``: hardware-aware training of every layer on its tile, deploy all-analog.
* ``threshold-training``: the paper's epoch-boundary rule, applied at step boundaries.
* ``lionheart-training``: LionHeart's move-retrain-rollback greedy.
* ``random-training``: uniform random actions.

Default parameters of ``threshold-training`` and ``lionheart-training`` are the best of a sweep on
training chips (``python benchmarks/tune_training_heuristics.py``), never on held-out chips.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from agents.base import Policy, register
from envs.actions import ANALOG, DIGITAL
from envs.hybrid_training.env import ROLLBACK, TRAINING_ENV_ID

__all__ = [
    "AllAnalogTrainingPolicy",
    "AllDigitalTrainingPolicy",
    "LionHeartTrainingPolicy",
    "RandomTrainingPolicy",
    "ThresholdTrainingPolicy",
]


class TrainingPolicy(Policy):
    """A policy of the training-time environment: helpers to write its actions."""

    env_id = TRAINING_ENV_ID

    def action(self, analog: Sequence[bool] | np.ndarray, rollback: bool = False) -> np.ndarray:
        """The action placing layer ``i`` analog where ``analog[i]``, with the rollback flag when
        the environment has one."""
        env = self._require_env()
        codes = np.where(np.asarray(analog, dtype=bool), ANALOG, DIGITAL).astype(np.int64)
        if getattr(env, "allow_rollback", False):
            codes = np.append(codes, ROLLBACK if rollback else 0)
        return codes


@register("all-digital-training")
class AllDigitalTrainingPolicy(TrainingPolicy):
    """Train every layer digitally at every step, then deploy all-digital.

    Source: conventional training followed by a digital deployment: the accuracy reference and
    the most expensive training (every training energy ratio is relative to it).
    """

    def act(self, observation: np.ndarray) -> np.ndarray:
        """All digital, no rollback."""
        return self.action([False] * self._require_env().n_layers)


@register("all-analog-training")
class AllAnalogTrainingPolicy(TrainingPolicy):
    """Hardware-aware training of every layer on its tile, then deploy all-analog.

    Source: AIHWKit's hardware-aware training tutorial and the paper's starting point (every
    layer analog): the cheapest inference, and the network trained against the tiles' noise.
    """

    def act(self, observation: np.ndarray) -> np.ndarray:
        """All analog, no rollback."""
        return self.action([True] * self._require_env().n_layers)


@register("random-training")
class RandomTrainingPolicy(TrainingPolicy):
    """Uniformly random actions (placements and rollback flag): the floor any policy should beat.

    Its generator is its own, reseeded at every episode from ``(seed, episode counter)``.

    Args:
        seed: base seed of the policy's generator.
    """

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.seed = int(seed)
        self._episode = 0
        self._rng: np.random.Generator | None = None

    def reset(self) -> None:
        """Reseed from ``(seed, episode counter)`` and advance the counter."""
        self._rng = np.random.default_rng([self.seed, self._episode])
        self._episode += 1

    def act(self, observation: np.ndarray) -> np.ndarray:
        """One uniform draw per entry of the action."""
        env = self._require_env()
        if self._rng is None:
            self.reset()
        return self._rng.integers(0, 2, size=env.action_space.shape, dtype=np.int64)


@register("threshold-training")
class ThresholdTrainingPolicy(TrainingPolicy):
    """The paper's rule at step boundaries: start all analog; after each step, if the training
    loss is above a threshold, move the next layer of a fixed order to digital for good.

    Source: the paper's notebook (Yasutake and Yoon): "start all layers analog; after each
    epoch, if the training loss is above 0.8, move the next layer of a fixed order to digital";
    a step here is half an epoch (``TrainingSchedule.batches_per_step``). The training loss is
    the observation's ``train_loss`` summed over the tasks (the loss the network trains on,
    measured during the step under its placement). At most one layer moves per step; no
    rollback. The default order is forward order (input side first; the input
    layer is the most noise-sensitive, as measured on the digits network).

    The default threshold 0.03 nats comes from ``benchmarks/tune_training_heuristics.py`` on
    training chips: the fine-tuning losses of the pretrained network are a few hundredths of a
    nat, so the paper's 0.8 never fires and the rule stays all-analog.

    Args:
        threshold: training loss (nats, summed over tasks) above which one more layer moves.
        order: layer names or indices in the order they move (default: forward order).
    """

    def __init__(self, threshold: float = 0.03, order: Sequence[int | str] | None = None) -> None:
        super().__init__()
        if not threshold >= 0:
            raise ValueError(f"threshold-training threshold must be >= 0, got {threshold!r}")
        self.threshold = float(threshold)
        self.order = None if order is None else list(order)
        self._order: list[int] = []
        self._moved = 0
        self._first = True

    def bind(self, env: Any) -> ThresholdTrainingPolicy:
        """Resolve ``order`` against the environment's layers."""
        super().bind(env)
        self._order = (
            list(range(self.env.n_layers))
            if self.order is None
            else _layer_indices(self.env.layer_names, self.order)
        )
        return self

    def reset(self) -> None:
        """Back to all analog."""
        self._moved = 0
        self._first = True

    def act(self, observation: np.ndarray) -> np.ndarray:
        """Move one more layer to digital if the last step's training loss was too high."""
        env = self._require_env()
        if not self._first:  # the reset observation precedes any training
            loss = float(np.sum(env.observation_layout.view(observation)["train_loss"]))
            if loss > self.threshold and self._moved < len(self._order):
                self._moved += 1
        self._first = False
        analog = np.ones(env.n_layers, dtype=bool)
        analog[self._order[: self._moved]] = False
        return self.action(analog)


@register("lionheart-training")
class LionHeartTrainingPolicy(TrainingPolicy):
    """LionHeart's greedy: move layers to analog one at a time, retrain, keep or roll back.

    Source: Lammie et al., "LionHeart", IEEE TETC 2025, and its code (``IBM/lionheart``,
    ``lionheart/methods/LH.py``; docs/references.md): layers in order of MAC count; each
    move is followed by hardware-aware retraining (one round); the round is scored as the mean
    of 10 programming draws after one day of drift; the move is kept only while every task's
    accuracy stays within 2% of the floating-point baseline, and otherwise rolled back from a
    checkpoint. Here one round is one step:

    1. Step 0 trains with the largest layer (by MACs) analog, the others digital.
    2. After each step the chip measures the kept layers plus the candidate on its monitor
       images (``env.measure``: 10 draws, read one day after programming). If every task's
       accuracy is within ``tolerance`` of the digital pretrained network's, the candidate is
       kept; otherwise the next step rolls the weights back to the checkpoint before that round
       (the action's rollback flag) and the candidate returns to digital.
    3. The next step tries the next layer by MACs on top of the kept ones. The last step tries
       no new layer: it retrains the kept placement (rolling back a failed last move), so that
       the deployed placement has been checked.

    With the 4-step default episode that is three candidate layers (fc1, fc2, conv2 on the
    digits network). Without the rollback flag (``allow_rollback=False``) a failed layer just
    returns to digital. Deployable: it measures the chip on its own monitor images, never the
    deployment's images or draws.

    Args:
        tolerance: largest accuracy drop per task allowed against the digital network, as a
            fraction (LionHeart: 0.02).
        draws: programming draws averaged by each test (LionHeart: 10).
    """

    def __init__(self, tolerance: float = 0.02, draws: int = 10) -> None:
        super().__init__()
        if not tolerance >= 0:
            raise ValueError(f"lionheart-training tolerance must be >= 0, got {tolerance!r}")
        if int(draws) < 1:
            raise ValueError(f"lionheart-training draws must be >= 1, got {draws!r}")
        self.tolerance = float(tolerance)
        self.draws = int(draws)
        self._order: list[int] = []
        self.reset()

    def bind(self, env: Any) -> LionHeartTrainingPolicy:
        """Rank the layers by MAC count, largest first (ties keep forward order)."""
        super().bind(env)
        macs = np.array([spec.macs for spec in self.env.specs])
        self._order = [int(i) for i in np.argsort(-macs, kind="stable")]
        return self

    def reset(self) -> None:
        """No layer kept, no candidate yet."""
        self._kept: set[int] = set()
        self._candidate: int | None = None
        self._next = 0
        self._step = 0

    def _placement(self, candidate: int | None) -> np.ndarray:
        analog = np.zeros(self._require_env().n_layers, dtype=bool)
        analog[list(self._kept)] = True
        if candidate is not None:
            analog[candidate] = True
        return analog

    def act(self, observation: np.ndarray) -> np.ndarray:
        """Judge the last round, then place the kept layers and the next candidate."""
        env = self._require_env()
        rollback = False
        if self._candidate is not None:
            measured = env.measure(self._placement(self._candidate), draws=self.draws)
            drop = measured["reference_accuracies"] - measured["accuracies"]
            if np.all(drop <= self.tolerance + 1e-9):
                self._kept.add(self._candidate)
            else:
                rollback = True
            self._candidate = None
        last = self._step == env.n_steps - 1
        if not last and self._next < len(self._order):
            self._candidate = self._order[self._next]
            self._next += 1
        self._step += 1
        return self.action(self._placement(self._candidate), rollback=rollback)


def _layer_indices(layer_names: Sequence[str], layers: Sequence[int | str]) -> list[int]:
    """Layer names or indices as indices; unknown ones are a one-line error naming the layers."""
    indices = []
    for layer in layers:
        if isinstance(layer, str):
            if layer not in layer_names:
                raise ValueError(f"unknown layer {layer!r}; layers: {', '.join(layer_names)}")
            indices.append(list(layer_names).index(layer))
        elif isinstance(layer, (int, np.integer)) and 0 <= int(layer) < len(layer_names):
            indices.append(int(layer))
        else:
            raise ValueError(
                f"layer {layer!r} is neither a name ({', '.join(layer_names)}) "
                f"nor an index in 0..{len(layer_names) - 1}"
            )
    if len(set(indices)) != len(indices):
        raise ValueError(f"layer order lists a layer twice: {list(layers)}")
    return indices
