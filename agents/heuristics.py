"""Hand-written partitioning policies: the baselines a learned policy has to beat.

Every policy here is a :class:`~agents.base.Policy` registered by name, so
``make_policy("greedy", env)`` builds it and :func:`~agents.evaluation.run_episode` runs it.

Two kinds:

* **Deployable** (use only the observation, the static layer facts, and measurements a chip
  can make now on its calibration images, ``env.measure``): ``all-digital``, ``all-analog``,
  ``random``, ``keep-first-last-digital``, ``saving-vs-noise``, ``threshold``, ``greedy``, and
  the two rules written for request streams on a chip with few tiles, ``noise-refresh`` and
  ``scheduled-refresh``.
* **Privileged** (``uses_preview = True``): ``greedy-preview`` and ``oracle`` score candidate
  actions with ``env.preview``, i.e. on the environment's own evaluation batch at the end of
  the coming interval. A deployed controller cannot see the future accuracy of an action on
  the very images it is graded on; these are references, not competitors.

**Reward-aware** policies read the environment's reward and trade energy for accuracy at its
rate: ``saving-vs-noise``, ``greedy``, ``greedy-preview`` (parameter-free: it greedily improves the
previewed reward) and ``oracle``; ``evaluate.py --sweep energy=...`` moves each along its own
trade-off curve. No parameter is an absolute loss or accuracy level of the paper's network: the
remaining ones are rates (expected excess error per nat of measured cross-entropy, per unit of
measured noise) or margins above the model's own all-digital loss.

Every default parameter is the best of a sweep on training chips of the default digits network,
never on the held-out chips comparisons report: ``python benchmarks/tune_heuristics.py`` (README,
"Your own model, tasks and data"). For another model or reward, the same command tunes them on
that model's training chips and writes a file ``evaluate.py`` reads (``--heuristic-params``, or
``RUN/heuristics.json``, where ``benchmarks/policy_quality.py`` reads them too; the sweeps'
output is in ``docs/results/heuristics/``).

On a chip with a tile budget (``envs.tiles``) every policy keeps its interface: the
environment projects an action that asks for more tiles than the chip has, and programs a
layer moved onto tiles; ``cost_ratios`` and ``measure`` see the action as projected.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from agents.base import Policy, register
from envs.actions import ANALOG, DIGITAL, REPROGRAM
from envs.partition_env import HybridPartitionEnv
from envs.rewards import DEFAULT_REWARD_WEIGHTS, RewardWeights, StepMetrics
from hybrid.energy import substrate_cost_table

__all__ = [
    "STREAM_RULES",
    "AllAnalogPolicy",
    "AllDigitalPolicy",
    "GreedyPolicy",
    "GreedyPreviewPolicy",
    "KeepFirstLastDigitalPolicy",
    "NoiseRefreshPolicy",
    "OraclePolicy",
    "RandomPolicy",
    "SavingVersusNoisePolicy",
    "ScheduledRefreshPolicy",
    "ThresholdPolicy",
]


def _layer_indices(env: HybridPartitionEnv, layers: Sequence[int | str]) -> list[int]:
    """Layer names or indices as indices; unknown ones are a one-line error naming the layers."""
    indices = []
    for layer in layers:
        if isinstance(layer, str):
            if layer not in env.layer_names:
                raise ValueError(f"unknown layer {layer!r}; layers: {', '.join(env.layer_names)}")
            indices.append(env.layer_names.index(layer))
        elif isinstance(layer, (int, np.integer)) and 0 <= int(layer) < env.n_layers:
            indices.append(int(layer))
        else:
            raise ValueError(
                f"layer {layer!r} is neither a name ({', '.join(env.layer_names)}) "
                f"nor an index in 0..{env.n_layers - 1}"
            )
    if len(set(indices)) != len(indices):
        raise ValueError(f"layer order lists a layer twice: {list(layers)}")
    return indices


@register("all-digital")
class AllDigitalPolicy(Policy):
    """Every layer digital at every step: the accuracy reference and the energy baseline (1.0).

    Source: the conventional deployment the paper starts from. On the default environment its
    return is exactly ``-n_steps`` (energy ratio 1, no excess loss).
    """

    def act(self, observation: np.ndarray) -> np.ndarray:
        """All zeros."""
        return np.full(self._require_env().n_layers, DIGITAL, dtype=np.int64)


@register("all-analog")
class AllAnalogPolicy(Policy):
    """Every layer analog, programmed once at ``t = 0`` and never refreshed.

    Source: the paper's starting point and AIHWKit's all-analog inference tutorials; the energy
    floor of a deployment that ignores drift. On the default (strong-drift) scenario its
    accuracy collapses after about a day.
    """

    def act(self, observation: np.ndarray) -> np.ndarray:
        """All ones (analog, keep the programmed weights)."""
        return np.full(self._require_env().n_layers, ANALOG, dtype=np.int64)


@register("random")
class RandomPolicy(Policy):
    """Uniformly random actions over the action space: the floor any policy should beat.

    Its generator is its own (independent of the environment's) and is reseeded at the start of
    every episode from ``(seed, episode counter)``, so a fresh policy with the same ``seed``
    replays the same actions episode after episode.

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
        """One uniform draw per layer."""
        env = self._require_env()
        if self._rng is None:
            self.reset()
        return self._rng.integers(0, env.n_actions, size=env.n_layers, dtype=np.int64)


@register("keep-first-last-digital")
class KeepFirstLastDigitalPolicy(Policy):
    """The input layer and every output head digital, the rest analog (never reprogrammed).

    Source: common mixed-precision practice (AIHWKit's mixed-precision example; Rasch et al.,
    Nature Communications 2023: input and output noise hurt more than weight noise). The first
    layer is every layer fed by the network input, the heads every layer nothing else consumes;
    on the paper's network that is conv1, fc3 and fc4 digital and conv2, fc1, fc2 analog. A
    static, deployable rule that needs no measurement at all.
    """

    def bind(self, env: Any) -> KeepFirstLastDigitalPolicy:
        """Work out the placement from the layers' data-flow (``LayerSpec.parent``)."""
        super().bind(env)
        specs = self.env.specs
        consumed = {spec.parent for spec in specs if spec.parent is not None}
        self._action = np.array(
            [
                DIGITAL if spec.parent is None or index not in consumed else ANALOG
                for index, spec in enumerate(specs)
            ],
            dtype=np.int64,
        )
        return self

    def act(self, observation: np.ndarray) -> np.ndarray:
        """The fixed placement."""
        self._require_env()
        return self._action.copy()


def _reward_weights(env: HybridPartitionEnv) -> RewardWeights:
    """The environment's reward weights (with its tasks' weights), or the default ones when its
    reward is a custom callable."""
    if env.reward_weights is not None:
        return env.reward_weights
    return DEFAULT_REWARD_WEIGHTS.for_tasks(env.task_names, env.deployment.task_weights)


@register("saving-vs-noise")
class SavingVersusNoisePolicy(Policy):
    """Each layer analog while the energy it saves outweighs its measured noise, at the reward's
    exchange rate; deployable and reward-aware.

    A layer runs analog at the next step if the reward it saves through energy,
    ``w_energy * (digital_energy_share - analog_energy_share)`` (observation), exceeds the task
    cost its noise is expected to add: ``w_task_loss * sum_k task_weight_k * error_per_noise *
    noise``, with ``noise`` its measured relative output noise (observation: what a chip can
    measure on a few calibration inputs). As tiles age their noise grows and layers move to
    digital, the smallest savings first; tiny-fan-in layers (conv1) never pay off. A larger
    energy weight keeps more layers analog for longer. Analog layers are never reprogrammed. It
    reads only the observation and the reward's weights, so it is the fairest hand-written
    competitor of a learned policy. With a custom reward callable it uses the default weights.

    Source: the sensitivity-versus-cost trade-off of HILAL (per-layer noise sensitivity) and
    LionHeart (energy ranking; docs/references.md). Default ``error_per_noise`` 0.005: the
    former ``noise_weight`` 0.5 (the best of ``benchmarks/tune_heuristics.py``'s sweep on
    training chips) under the default reward (0.5 = 50 x 2 tasks x 0.005), so the default
    placements of the paper's network are unchanged.

    Args:
        error_per_noise: expected excess error per task (the reward's task metric) per unit of
            a layer's relative output noise.
    """

    def __init__(self, error_per_noise: float = 0.005) -> None:
        super().__init__()
        if not error_per_noise >= 0:
            raise ValueError(f"error_per_noise must be >= 0, got {error_per_noise!r}")
        self.error_per_noise = float(error_per_noise)

    def bind(self, env: Any) -> SavingVersusNoisePolicy:
        """Read the reward's exchange rate between energy and task loss."""
        super().bind(env)
        weights = _reward_weights(self.env)
        self._energy_weight = weights.energy
        self._noise_cost = weights.task_loss * sum(weights.task_weights) * self.error_per_noise
        return self

    def act(self, observation: np.ndarray) -> np.ndarray:
        """Analog where w_energy * saving > w_task_loss * sum(task weights) * rate * noise."""
        view = self._require_env().observation_layout.view(observation)
        saving = view["digital_energy_share"] - view["analog_energy_share"]
        analog = self._energy_weight * saving > self._noise_cost * view["noise"]
        return np.where(analog, ANALOG, DIGITAL).astype(np.int64)


@register("threshold")
class ThresholdPolicy(Policy):
    """The paper's hand-written schedule, moved from training epochs to deployment steps.

    Source: the paper (Yasutake and Yoon): start with every layer analog; after each
    epoch, if the training loss is above 0.8, move the next layer of a fixed order to digital.
    Here: the first action is all analog; after each step, if the observed cross-entropy of
    any task exceeds the model's own all-digital cross-entropy by more than ``threshold`` nats
    (``excess_loss``, read from the observation, i.e. measured after the step, no preview), the
    next layer of ``order`` moves to digital for good. At most one layer moves per step, and
    analog layers are never reprogrammed, as in the paper. The margin is relative to the
    model's digital loss, so it means the same on any network; the rule does not read the
    reward.

    The default order is forward order (input side first): input layers are the most
    noise-sensitive (Rasch et al., Nature Communications 2023; measured here: conv1 is
    the most sensitive layer of the digits net).

    Default margin 0.01 nats: the best of ``benchmarks/tune_heuristics.py``'s sweep on training
    chips (README, "Your own model, tasks and data"; every margin from 0 to 0.02 scores within
    0.13 of it there; the paper's absolute 0.8 reacts only after the class task has
    collapsed, and the former absolute default, 0.15 nats, was 0.001 above the paper network's
    digital class loss). The rule is weak without drift compensation: the cross-entropy keeps
    rising with age even where predictions hold, so once triggered it keeps moving layers.

    Args:
        threshold: excess cross-entropy over all-digital (nats) above which one more layer
            moves to digital.
        order: layer names or indices in the order they move (default: forward order).
    """

    def __init__(self, threshold: float = 0.01, order: Sequence[int | str] | None = None) -> None:
        super().__init__()
        self.threshold = float(threshold)
        self.order = None if order is None else list(order)
        self._order: list[int] = []
        self._moved = 0
        self._first = True

    def bind(self, env: Any) -> ThresholdPolicy:
        """Resolve ``order`` against the environment's layers."""
        super().bind(env)
        self._order = (
            list(range(self.env.n_layers))
            if self.order is None
            else _layer_indices(self.env, self.order)
        )
        return self

    def reset(self) -> None:
        """Back to all analog."""
        self._moved = 0
        self._first = True

    def act(self, observation: np.ndarray) -> np.ndarray:
        """Move one more layer to digital if the last step's loss was above the threshold."""
        env = self._require_env()
        # The reset observation describes the chip before any step: the rule reacts to steps.
        if not self._first:
            excess = env.observation_layout.view(observation)["excess_loss"]
            if np.any(excess > self.threshold) and self._moved < len(self._order):
                self._moved += 1
        self._first = False
        action = np.full(env.n_layers, ANALOG, dtype=np.int64)
        action[self._order[: self._moved]] = DIGITAL
        return action


class _GreedySearch(Policy):
    """The greedy search shared by ``greedy`` and ``greedy-preview``: starting from all digital,
    move layers to analog in order of the energy they save, keeping each move that lowers the
    step's cost (minus its reward) as the subclass estimates it (``_cost``)."""

    def bind(self, env: Any) -> _GreedySearch:
        """Rank the layers by energy saved when analog."""
        super().bind(env)
        costs = substrate_cost_table(self.env.specs, self.env.energy_table)
        saved = costs[:, 0] - costs[:, 1]
        # Stable sort: ties keep forward order.
        self._order = [int(i) for i in np.argsort(-saved, kind="stable") if saved[i] > 0]
        weights = self.env.reward_weights
        self._energy_weights = None if weights is None else (weights.energy, weights.reprogram)
        return self

    def _cost(self, candidate: np.ndarray) -> float:
        """The step's cost (minus its reward) for the candidate action, as the policy sees it."""
        raise NotImplementedError

    def _cost_floor(self, candidate: np.ndarray) -> float:
        """A lower bound of ``_cost`` without measuring: the weighted energy terms (the task
        term is never negative), or -inf for a custom reward."""
        if self._energy_weights is None:
            return -np.inf
        energy, reprogramming = self.env.cost_ratios(candidate)
        return self._energy_weights[0] * energy + self._energy_weights[1] * reprogramming

    def act(self, observation: np.ndarray) -> np.ndarray:
        """Greedy placement for the coming step."""
        env = self._require_env()
        reprogram = env.n_actions > 2
        action = np.full(env.n_layers, DIGITAL, dtype=np.int64)
        cost = self._cost(action)
        for index in self._order:
            for choice in (ANALOG, REPROGRAM) if reprogram else (ANALOG,):
                candidate = action.copy()
                candidate[index] = choice
                if self._cost_floor(candidate) >= cost:
                    continue
                candidate_cost = self._cost(candidate)
                if candidate_cost < cost - 1e-12:
                    action, cost = candidate, candidate_cost
                    break
        return action


@register("greedy")
class GreedyPolicy(_GreedySearch):
    """LionHeart-style greedy placement on calibration measurements, re-run at every step;
    deployable and reward-aware.

    Source: Lammie et al., "LionHeart", IEEE TETC 2025: rank layers
    by the energy they save when analog, move them to analog one by one in that order, and keep
    a move only if the degradation on calibration data is acceptable. Here "acceptable" is the
    reward's own trade-off, estimated from what the chip can measure now. At every step,
    starting from all digital:

    1. Layers are ranked by ``digital - analog`` energy per inference
       (``hybrid.energy.substrate_cost_table``); layers that save nothing are never moved.
    2. For each layer in turn, the candidate "this layer analog (kept programmed weights)" on
       top of the moves already kept is measured with ``env.measure``: the calibration images
       (training images, apart from the reward's evaluation images) run through the chip as it
       is now. Its reward is predicted from the measurement: its energy and reprogramming
       ratios are exact (``env.cost_ratios``); each task's excess error over all-digital is
       ``error_per_nat`` times its measured excess cross-entropy (``metric="loss"``) or its
       measured excess error (``metric="accuracy"``). The move is kept if the predicted reward
       (``env.reward_function`` of those predicted metrics) beats the one without it.
    3. If it fails, and the action space has the reprogram action, "this layer analog and
       reprogrammed" is tried the same way, measured as ``env.measure`` sees a fresh tile (the
       current tile at the age the coming interval will give the new one, as far as the
       controller has seen it).

    Deployable: it measures the chip now, on its own calibration set, as LionHeart does (at one
    drift time, after hardware-aware retraining; there is no retraining here). It cannot see
    the drift of the coming interval, which is its weakness under strong drift: a layer that
    passes now may fail by the end of a five-times-longer interval; ``error_per_nat`` absorbs
    that on average. ``greedy-preview`` is the same search on the true reward. The default
    metric is the loss because the calibration images are training images, on which the
    digital network is 100% accurate and the accuracy test only reacts once predictions flip.

    Default ``error_per_nat`` 0.05: the best of ``benchmarks/tune_heuristics.py``'s sweep on
    training chips of the default digits network (README, "Your own model, tasks and data").
    It is a rate (expected excess evaluation error per nat of excess calibration
    cross-entropy), not a tolerance fitted to one reward: the same value serves every energy
    weight. Tune it for another model.

    Args:
        error_per_nat: expected excess error (fraction) per nat of measured excess
            cross-entropy, for ``metric="loss"``; ``inf`` keeps every layer digital (no
            measured excess is small enough), so tuning can always choose all-digital.
        metric: ``"loss"`` or ``"accuracy"``.
    """

    def __init__(self, error_per_nat: float = 0.05, metric: str = "loss") -> None:
        super().__init__()
        if not error_per_nat >= 0:
            raise ValueError(f"greedy error_per_nat must be >= 0, got {error_per_nat!r}")
        if metric not in ("loss", "accuracy"):
            raise ValueError(f"greedy metric must be 'loss' or 'accuracy', got {metric!r}")
        self.error_per_nat = float(error_per_nat)
        self.metric = metric

    def act(self, observation: np.ndarray) -> np.ndarray:
        """The greedy placement; all digital at an infinite ``error_per_nat``."""
        if np.isinf(self.error_per_nat):
            return np.full(self._require_env().n_layers, DIGITAL, dtype=np.int64)
        return super().act(observation)

    def predicted_metrics(self, candidate: np.ndarray) -> StepMetrics:
        """The step metrics the candidate is expected to reach, from calibration measurements
        of the chip now (see the class docstring)."""
        env = self.env
        measured = env.measure(candidate)
        energy, reprogramming = env.cost_ratios(candidate)
        excess_loss = np.maximum(measured["losses"] - measured["digital_losses"], 0.0)
        if self.metric == "loss":
            excess_error = self.error_per_nat * excess_loss
        else:
            excess_error = np.maximum(measured["digital_accuracies"] - measured["accuracies"], 0.0)
        step = min(env.step_index, len(env.times_s) - 1)
        return StepMetrics(
            energy_ratio=energy,
            losses=measured["digital_losses"] + excess_loss,
            digital_losses=measured["digital_losses"],
            accuracies=measured["digital_accuracies"] - excess_error,
            digital_accuracies=measured["digital_accuracies"],
            reprogram_ratio=reprogramming,
            n_reprogrammed=int(np.sum(candidate == REPROGRAM)),
            time_s=float(env.times_s[step]),
            step=env.step_index,
        )

    def _cost(self, candidate: np.ndarray) -> float:
        return -float(self.env.reward_function(self.predicted_metrics(candidate)))


@register("greedy-preview")
class GreedyPreviewPolicy(_GreedySearch):
    """The ``greedy`` search on the true reward, previewed: a reference, not a rival.

    Every candidate is scored with ``env.preview``: its reward on the environment's own
    evaluation batch (the images the reward is computed on) at the end of the coming interval,
    i.e. with the drift it will meet and the new draw of a reprogramming already known. A
    move is kept if it raises that reward. A deployed controller can do neither
    (``uses_preview = True``); it shows how much of the oracle's lead a simple search gets from
    that knowledge. It has no parameter: the reward is the acceptance test, so its placement
    follows every reward weight.

    It replaced a tolerance of 0.005 accuracy per task (tuned for the default reward), which
    ignored the energy weight (README, "The policies").
    """

    uses_preview = True

    def _cost(self, candidate: np.ndarray) -> float:
        reward, _ = self.env.preview(candidate)
        return -float(reward)


@register("oracle")
class OraclePolicy(Policy):
    """Myopic exhaustive search: the action with the best reward for the coming step.

    At every step, every action of the action space (3^n, or 2^n without the reprogram action)
    is scored with ``env.preview`` and the best one is taken (ties: the first in
    lexicographic order, digital first). Previews share the environment's evaluation caches.

    It is myopic: it cannot plan a reprogramming now for the benefit of later steps, nor weigh
    the one-off reprogramming energy against several steps of better accuracy, so with the
    reprogram action it is a strong reference, not an upper bound. Without the reprogram action
    (``allow_reprogram=False``) the tile states do not depend on past actions, every step's
    reward depends only on that step's action, and the myopic search is the optimum of the
    episode. It uses privileged information (``uses_preview = True``).

    With the default reward (a :class:`~envs.rewards.RewardWeights`), the search is pruned
    exactly: the energy and reprogramming terms of a candidate are known without evaluating the
    model and the task term is never negative, so candidates are previewed in increasing order
    of that bound and the search stops once the bound reaches the best cost found. The chosen
    action is the same as the full enumeration's (``prune=False``; checked in the tests).

    Its wall time per episode is measured by ``benchmarks/policy_quality.py`` (README, Results).

    Args:
        max_layers: refuse models with more layers (3^8 = 6561 candidates per step).
        prune: skip candidates whose energy terms alone cannot beat the best found (exact).
    """

    uses_preview = True

    def __init__(self, max_layers: int = 8, prune: bool = True) -> None:
        super().__init__()
        self.max_layers = int(max_layers)
        self.prune = bool(prune)

    def bind(self, env: Any) -> OraclePolicy:
        """Enumerate the action space once (and the candidates' energy terms)."""
        super().bind(env)
        env = self.env
        if env.n_layers > self.max_layers:
            raise ValueError(
                f"oracle searches {env.n_actions}^n actions per step; the model has "
                f"{env.n_layers} layers, more than max_layers={self.max_layers}"
            )
        self._candidates = np.array(
            list(itertools.product(range(env.n_actions), repeat=env.n_layers)), dtype=np.int64
        )
        weights = env.reward_function if isinstance(env.reward_function, RewardWeights) else None
        self._bounds: np.ndarray | None = None
        if self.prune and weights is not None:
            self._bounds = np.array(
                [
                    weights.energy * energy + weights.reprogram * reprogramming
                    for energy, reprogramming in map(env.cost_ratios, self._candidates)
                ]
            )
            # Cheapest first, enumeration order among equals (stable sort).
            self._search_order = np.argsort(self._bounds, kind="stable")
        return self

    def _step_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The bounds and search order for the coming step where they change with the state
        (a tile budget: programming; a workload: the coming step's traffic, which the oracle
        may know, as it previews)."""
        env, weights = self.env, self.env.reward_function
        volume = env.coming_volume_ratio()
        bounds = np.array(
            [
                weights.energy * energy * volume + weights.reprogram * reprogramming
                for energy, reprogramming in map(env.cost_ratios, self._candidates)
            ]
        )
        return bounds, np.argsort(bounds, kind="stable")

    def act(self, observation: np.ndarray) -> np.ndarray:
        """The action with the highest one-step reward."""
        env = self._require_env()
        best_index, best_reward = -1, -np.inf
        if self._bounds is None:
            for index, candidate in enumerate(self._candidates):
                reward, _ = env.preview(candidate)
                if reward > best_reward:
                    best_index, best_reward = index, reward
        else:
            bounds, search_order = self._bounds, self._search_order
            if env.costs_depend_on_state:
                bounds, search_order = self._step_bounds()
            for index in search_order:
                # reward = -(bound + other terms), other terms >= 0: nothing left can beat the
                # best.
                if -bounds[index] < best_reward - 1e-9:
                    break
                reward, _ = env.preview(self._candidates[index])
                if reward > best_reward or (reward == best_reward and index < best_index):
                    best_index, best_reward = int(index), reward
        return self._candidates[best_index].copy()


# The stream rules live in their own module; imported last so that they register after the
# rules above (the registry's order is the order of comparisons and tables).
from agents.stream_heuristics import (  # noqa: E402
    STREAM_RULES,
    NoiseRefreshPolicy,
    ScheduledRefreshPolicy,
)
