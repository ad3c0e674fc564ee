"""The partitioning environment: one episode is one deployment of a hybrid analog-digital model."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from envs.rewards import RewardFunction, RewardWeights, StepMetrics, resolve_reward
from envs.scenarios import Scenario, Timeline, get_scenario
from hybrid.data import load_dataset
from hybrid.energy import (
    EnergyTable,
    energy_per_inference,
    get_energy_table,
    reprogram_energy_pj,
    substrate_cost_table,
)
from hybrid.hardware import HardwareConfig, get_hardware
from hybrid.layers import HybridLayer, hybrid_layers, make_hybrid
from hybrid.models import layer_specs
from hybrid.pretrain import PretrainConfig, load_or_pretrain, task_targets
from hybrid.simulator import CachedEvaluator, LayerState

DIGITAL, ANALOG, REPROGRAM = 0, 1, 2
ACTION_NAMES = ("digital", "analog", "analog+reprogram")
LAYER_FEATURES = (
    "is_analog",
    "drift_age",
    "noise",
    "sensitivity",
    "digital_energy_share",
    "analog_energy_share",
    "mac_share",
)
MAX_OBSERVATION = 10.0
"""Upper clip of every observation value (the features are designed to be O(1))."""
REPROGRAM_MIN_AGE_RATIO = 2.0
"""Default of ``reprogram_min_age_ratio`` (dimensionless): ``action_masks`` offers reprogramming a
layer only if it divides the layer's drift age at the end of the coming step by at least this
factor. PCM drift and its read noise grow with log(age) (g = g_prog ((t + t0)/t0)^-nu, REFERENCE.md
section 3), so a reprogramming that shortens the age by less than 2x (0.3 decades) buys almost
nothing for its energy. On a log-spaced timeline every step is ~4.8x longer than the one before,
so no reprogramming passes; on the monthly timeline a month-old layer may be refreshed."""


class HybridPartitionEnv(gym.Env):
    """Choose, at each step of a deployment, where each layer of a hybrid network runs.

    ## Description
    A pretrained multi-task network (by default the paper's CNN, one shared trunk with a
    10-class head and a binary head) is deployed for ``timeline.horizon_s`` seconds (a year by
    default). Its toggleable layers (convolutions and linear layers) each run either digitally
    (exact, about 1 pJ per MAC) or on simulated PCM analog tiles (IBM AIHWKit: programming noise,
    1/f read noise, conductance drift; about 0.2 pJ per MAC plus per-tile periphery). Analog
    weights drift from the moment they are programmed, whether or not the layer is in use, and
    the older they are the noisier the layer. At each decision step the policy places every
    layer and may reprogram analog layers (fresh programming noise, drift age back to zero, at an
    energy cost). The environment evaluates both task heads on a fixed evaluation batch and
    prices the placement with the energy model of ``hybrid.energy``.

    ## Action Space
    ``MultiDiscrete([3] * n_layers)``, one entry per toggleable layer in forward order:
    0 = digital, 1 = analog (keep the programmed weights), 2 = analog and reprogram. With
    ``allow_reprogram=False`` it is ``MultiDiscrete([2] * n_layers)``. A reprogrammed layer is
    written at the start of the step's interval.

    ## Observation Space
    ``Box(0, 10, (7 * n_layers + 10,), float32)``. First, per layer (forward order), seven
    values: ``is_analog`` (0/1); ``drift_age`` (log10(1 + age_s) / log10(1 + horizon_s));
    ``noise`` (the measured relative output error ||y_analog - y_digital|| / ||y_digital|| of the
    layer's tile on calibration inputs, whether or not the layer is in use now);
    ``sensitivity`` (the excess cross-entropy, summed over tasks, of the network on the
    calibration images with only this layer analog in its current tile state: what a deployed
    chip measures by running its calibration set through one analog layer at a time);
    ``digital_energy_share``
    and ``analog_energy_share`` (the layer's energy per inference on each substrate divided by
    the all-digital energy of the whole network); ``mac_share``. Then ten global values: the
    loss of each task (nats), the accuracy of each task, the excess loss of each task over
    all-digital (nats), the energy ratio of the current placement, the fraction of the deployment
    elapsed (log time), the fraction of steps left, and the fraction of layers analog. Values are
    clipped to [0, 10]; ``info`` carries the raw numbers.

    ## Rewards
    By default (see ``envs.rewards``)::

        reward = -( w_energy    * E_inference / E_all_digital
                  + w_task_loss * sum_k task_weight_k * max(0, L_k - L_k_digital)
                  + w_reprogram * E_reprogram / (E_all_digital * inferences_per_step) )

    where ``L_k`` is task ``k``'s error rate, with
    ``RewardWeights(energy=1, task_loss=50, reprogram=1, task_weights=(1, 1))``. Any
    callable mapping ``StepMetrics`` to a float can replace it.

    ## Starting State
    At ``t = 0`` every layer has just been programmed on a chip drawn at random from a pool of
    ``chip_pool`` chips (each chip = one set of programming and read noise draws) and runs
    analog; the first observation shows that state.

    ## Episode End
    The episode terminates after ``timeline.n_steps`` steps (the end of the deployment). There
    is no truncation.

    ## Arguments
    ``gymnasium.make("HybridPartition-v0", **kwargs)``, every argument optional:

    * ``dataset``: ``"digits"`` (embedded default), ``"digits32"`` or ``"cifar10"``.
    * ``scenario``: a name from ``envs.scenarios.SCENARIOS`` (hardware + timeline).
    * ``hardware``: a preset name, dict or ``HardwareConfig`` overriding the scenario's.
    * ``noise_scale``, ``drift_scale``: multipliers of the programming/read noise and of drift.
    * ``energy_table``: a preset name, dict or ``EnergyTable`` (``hybrid.energy``).
    * ``timeline``: a ``Timeline`` or dict (horizon_s, n_steps, first_s, spacing,
      inferences_per_step) overriding the scenario's.
    * ``reward``: ``RewardWeights``, a dict, a ``"energy=1,task_loss=50"`` string or a callable.
    * ``model``: a torch module whose forward returns one logits tensor per task (made hybrid if
      it is not); default: the pretrained paper network for the dataset.
    * ``pretrain``: ``PretrainConfig`` or dict for the default model.
    * ``eval_split``, ``eval_size``: the fixed evaluation batch (default: the whole validation
      split, 360 digits).
    * ``calibration_size``: training images the observation's per-layer measurements use
      (``noise``, ``sensitivity``), kept apart from the evaluation batch the reward uses.
    * ``chip_pool``, ``chip_offset``: chips are drawn from ``[offset, offset + pool)``; evaluate
      on held-out chips with another offset.
    * ``allow_reprogram``: include the reprogram action.
    * ``reprogram_min_age_ratio``: what ``action_masks()`` (for sb3-contrib's MaskablePPO) counts
      as a worthwhile reprogramming (``REPROGRAM_MIN_AGE_RATIO``); 1 masks nothing. The mask is
      advice to a learner: ``step`` accepts every action of the action space.
    * ``data_dir``, ``cache_dir``: where data and pretrained models live.
    * ``cache_mb``: memory bound of the evaluation caches.
    * ``torch_threads``: torch intra-op threads to use (a process-wide setting; default 1, the
      fastest for these small tensors; None leaves it alone).
    * ``seed``: the seed of the first ``reset`` when none is given.

    ## Version History
    * v0: initial version.
    """

    metadata = {"render_modes": ["ansi"]}

    def __init__(
        self,
        dataset: str = "digits",
        scenario: str | Scenario | None = None,
        hardware: str | HardwareConfig | Mapping[str, Any] | None = None,
        noise_scale: float = 1.0,
        drift_scale: float = 1.0,
        energy_table: str | EnergyTable | Mapping[str, Any] | None = None,
        timeline: Timeline | Mapping[str, Any] | None = None,
        reward: RewardWeights | Mapping[str, Any] | str | RewardFunction | None = None,
        model: nn.Module | None = None,
        pretrain: PretrainConfig | Mapping[str, Any] | None = None,
        eval_split: str = "val",
        eval_size: int | None = None,
        calibration_size: int = 128,
        chip_pool: int = 16,
        chip_offset: int = 0,
        allow_reprogram: bool = True,
        reprogram_min_age_ratio: float = REPROGRAM_MIN_AGE_RATIO,
        data_dir: str | Path | None = None,
        cache_dir: str | Path | None = None,
        cache_mb: int = 2048,
        torch_threads: int | None = 1,
        seed: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        super().__init__()
        if torch_threads is not None:
            # The simulation works on small tensors: one thread is fastest, and on a loaded
            # 2-core machine torch's default thread pool made a step about 40x slower.
            torch.set_num_threads(int(torch_threads))
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}")
        self.render_mode = render_mode
        self.scenario = get_scenario(scenario)
        hardware_config = (
            get_hardware(dict(hardware) if isinstance(hardware, Mapping) else hardware)
            if hardware is not None
            else self.scenario.hardware_config()
        )
        self.hardware = hardware_config.scaled(noise_scale, drift_scale)
        if timeline is None:
            self.timeline = self.scenario.timeline
        elif isinstance(timeline, Timeline):
            self.timeline = timeline
        else:
            self.timeline = dataclasses.replace(self.scenario.timeline, **dict(timeline))
        self.energy_table = get_energy_table(energy_table)
        self.reward_function, self.reward_weights = resolve_reward(reward)
        if eval_split not in ("train", "val", "test"):
            raise ValueError(f"eval_split must be 'train', 'val' or 'test', got {eval_split!r}")
        if chip_pool < 1 or chip_offset < 0:
            raise ValueError("chip_pool must be >= 1 and chip_offset >= 0")
        self.chip_pool, self.chip_offset = int(chip_pool), int(chip_offset)
        self.allow_reprogram = bool(allow_reprogram)
        if not np.isfinite(reprogram_min_age_ratio) or reprogram_min_age_ratio < 1:
            raise ValueError(
                "reprogram_min_age_ratio must be a finite number >= 1 (1 masks nothing), got "
                f"{reprogram_min_age_ratio!r}"
            )
        self.reprogram_min_age_ratio = float(reprogram_min_age_ratio)
        self._default_seed = seed
        self.config = {
            "dataset": dataset,
            "scenario": self.scenario.name,
            "hardware": self.hardware.to_dict(),
            "energy_table": self.energy_table.to_dict(),
            "timeline": self.timeline.to_dict(),
            "reward": self.reward_weights.to_dict() if self.reward_weights else "custom",
            "eval_split": eval_split,
            "eval_size": eval_size,
            "calibration_size": calibration_size,
            "chip_pool": chip_pool,
            "chip_offset": chip_offset,
            "allow_reprogram": allow_reprogram,
            "reprogram_min_age_ratio": self.reprogram_min_age_ratio,
        }

        # The model and its fixed evaluation batch.
        bundle = load_dataset(dataset, data_dir)
        if model is None:
            pretrain_config = (
                pretrain
                if isinstance(pretrain, PretrainConfig)
                else PretrainConfig(**dict(pretrain or {}))
            )
            pretrained = load_or_pretrain(
                bundle, pretrain_config, cache_dir=cache_dir, progress=False
            )
            model = pretrained.instantiate(self.hardware)
            self.config["pretrain"] = pretrain_config.to_dict()
        elif not hybrid_layers(model):
            model = make_hybrid(model, self.hardware)
        self.model = model.eval()
        self.specs = layer_specs(self.model, bundle.input_shape)
        self.layer_names = tuple(spec.name for spec in self.specs)
        self.n_layers = len(self.specs)
        split = getattr(bundle, eval_split)
        if eval_size is not None:
            split = split.subset(eval_size, seed=0)
        calibration = bundle.train.subset(calibration_size, seed=1)
        self.evaluator = CachedEvaluator(
            self.model,
            split.images,
            task_targets(split),
            seed=0,
            cache_mb=cache_mb,
            layer_names=self.layer_names,
            probe_images=calibration.images,
        )
        self.evaluator.add_batch("calibration", calibration.images, task_targets(calibration))
        self.n_tasks = len(self.evaluator.targets)

        # Constant facts, computed once.
        self._times = self.timeline.times_s
        self._all_digital = self.evaluator.evaluate([None] * self.n_layers)
        self._calibration_digital = self.evaluator.evaluate(
            [None] * self.n_layers, batch="calibration"
        )
        self._energy_digital_pj = energy_per_inference(
            self.specs, [False] * self.n_layers, self.energy_table
        ).total_pj
        self._energy_cache: dict[tuple[bool, ...], Any] = {}
        costs = substrate_cost_table(self.specs, self.energy_table) / self._energy_digital_pj
        macs = np.array([spec.macs for spec in self.specs], dtype=float)
        self._static_features = np.column_stack([costs, macs / macs.sum()])
        self._reprogram_pj = np.array(
            [reprogram_energy_pj(spec, self.energy_table) for spec in self.specs]
        )
        # All-digital energy of the inferences one step serves: the unit of reprogramming cost.
        self._serving_pj = self._energy_digital_pj * self.timeline.inferences_per_step
        self._log_horizon = np.log10(1.0 + self.timeline.horizon_s)

        n_actions = 3 if self.allow_reprogram else 2
        self.action_space = spaces.MultiDiscrete([n_actions] * self.n_layers)
        n_obs = len(LAYER_FEATURES) * self.n_layers + 3 * self.n_tasks + 4
        self.observation_space = spaces.Box(0.0, MAX_OBSERVATION, (n_obs,), np.float32)

        self._step = 0
        self._analog = np.ones(self.n_layers, dtype=bool)
        self._programmed_step = np.full(self.n_layers, -1)
        self._programming_count = np.zeros(self.n_layers, dtype=int)
        self._chip = self.chip_offset
        self._last: dict[str, Any] | None = None

    # -- Gymnasium API -----------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a deployment at t = 0 on a chip drawn from the pool (``options={"chip": c}``
        picks one)."""
        if seed is None and self._default_seed is not None and self._np_random is None:
            seed = self._default_seed
        super().reset(seed=seed)
        chip = (options or {}).get("chip")
        if (
            chip is not None
            and not self.chip_offset <= int(chip) < self.chip_offset + self.chip_pool
        ):
            # Outside the pool a chip would silently alias a pool chip (same noise draws).
            raise ValueError(
                f"chip {chip} is outside this environment's pool "
                f"[{self.chip_offset}, {self.chip_offset + self.chip_pool}): make the env with a "
                "chip_offset and chip_pool that include it"
            )
        self._chip = (
            int(chip)
            if chip is not None
            else self.chip_offset + int(self.np_random.integers(self.chip_pool))
        )
        self._step = 0
        self._analog = np.ones(self.n_layers, dtype=bool)
        self._programmed_step = np.full(self.n_layers, -1)
        self._programming_count = np.zeros(self.n_layers, dtype=int)
        states = [self._layer_state(i, 0.0) for i in range(self.n_layers)]
        evaluation = self.evaluator.evaluate(states)
        energy = self._energy(tuple(self._analog))
        metrics = self._metrics(evaluation, energy.total_pj, 0.0, 0, 0.0, step=-1)
        self._last = self._info(metrics, energy, states, np.zeros(self.n_layers, bool), {})
        return self._observation(states, metrics, 0.0), dict(self._last)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply one placement for the next interval of the deployment."""
        if self._last is None:
            raise RuntimeError("call reset() before step()")
        if self._step >= self.timeline.n_steps:
            raise RuntimeError("the deployment is over: call reset() to start a new episode")
        action = self.check_action(action)
        outcome = self._transition(action)
        self._analog = outcome["analog"]
        self._programmed_step = outcome["programmed_step"]
        self._programming_count = outcome["programming_count"]
        self._step += 1
        self._last = outcome["info"]
        terminated = self._step >= self.timeline.n_steps
        return outcome["observation"], outcome["reward"], terminated, False, dict(outcome["info"])

    def render(self) -> str | None:
        """A one-line text summary of the last step (render_mode ``"ansi"``)."""
        if self.render_mode != "ansi" or self._last is None:
            return None
        info = self._last
        placement = " ".join(
            f"{name}:{'A' if analog else 'D'}"
            for name, analog in zip(self.layer_names, info["analog"], strict=True)
        )
        accuracy = "/".join(f"{a:.3f}" for a in info["accuracies"])
        return (
            f"t={info['time_s']:.3g}s {placement} acc={accuracy} "
            f"energy={info['energy_ratio']:.3f}x digital"
        )

    # -- for planners and baselines ----------------------------------------------------------
    def check_action(self, action: Any) -> np.ndarray:
        """The action as an int array, or a one-line ValueError that says what is expected."""
        n_actions = int(self.action_space.nvec[0])
        expected = (
            f"an action is {self.n_layers} integers (one per layer: "
            f"{', '.join(f'{i}={name}' for i, name in enumerate(ACTION_NAMES[:n_actions]))})"
        )
        try:
            array = np.asarray(action)
        except Exception:  # noqa: BLE001
            raise ValueError(f"{expected}; got {action!r}") from None
        if array.shape != (self.n_layers,):
            raise ValueError(f"{expected}; got shape {array.shape}")
        if not np.issubdtype(array.dtype, np.number) or np.any(array != np.round(array)):
            raise ValueError(f"{expected}; got non-integer values {array.tolist()}")
        if array.min() < 0 or array.max() >= n_actions:
            raise ValueError(f"{expected}; got out-of-range values {array.tolist()}")
        return array.astype(int)

    def action_masks(self) -> np.ndarray:
        """Which choices are worth offering a learner now, flattened layer by layer
        (``n_layers * n_actions`` booleans, the layout sb3-contrib's MaskablePPO expects).

        Digital and analog are always valid. Reprogramming a layer is valid only if it divides
        the layer's drift age at the end of the coming step by at least
        ``reprogram_min_age_ratio``: (age if kept) / (length of the coming interval) >= ratio.
        Only the timeline and the layer's programming history are used: a deployed controller
        knows both.
        """
        n_actions = int(self.action_space.nvec[0])
        masks = np.ones((self.n_layers, n_actions), dtype=bool)
        if n_actions > REPROGRAM and self._step < self.timeline.n_steps:
            now, end = self._now_s(), float(self._times[self._step])
            age_if_kept = np.array([self._layer_state(i, end)[1] for i in range(self.n_layers)])
            masks[:, REPROGRAM] = age_if_kept >= self.reprogram_min_age_ratio * (end - now)
        return masks.reshape(-1)

    def preview(self, action: Any) -> tuple[float, dict[str, Any]]:
        """Reward and info the action would get now, without taking the step (for the oracle)."""
        if self._last is None or self._step >= self.timeline.n_steps:
            raise RuntimeError("preview needs a running episode")
        outcome = self._transition(self.check_action(action), observe=False)
        return outcome["reward"], outcome["info"]

    def measure(self, action: Any) -> dict[str, np.ndarray]:
        """What a deployed chip can measure now: the placement ``action`` run on the
        calibration images with the tiles as they are at the current time (the end of the last
        step, or ``t = 0`` before the first), for deployable controllers such as ``greedy``.

        Measuring changes nothing, and it sees no future: every analog tile is measured at the
        oldest age at which the controller has already seen it, up to the age it will have at
        the end of the coming interval. A layer marked ``ANALOG`` is measured at its current
        age. A layer marked ``REPROGRAM`` will be a fresh tile aged by the coming interval
        ``L``; the controller knows its current tile at ages up to the current one ``a``, so it
        is measured as the current tile at age ``min(L, a)`` (the new draw is unknown until it
        is written). Returns ``losses`` and ``accuracies`` per task and the all-digital
        ``digital_losses``/``digital_accuracies`` on the same calibration images.
        """
        if self._last is None:
            raise RuntimeError("measure needs a running episode (call reset() first)")
        action = self.check_action(action)
        now = self._now_s()
        interval = float(self._times[self._step]) - now if self._step < len(self._times) else 0.0
        states: list[LayerState] = [None] * self.n_layers
        for index in np.flatnonzero(action != DIGITAL):
            chip, age = self._layer_state(int(index), now)
            states[index] = (chip, min(age, interval) if action[index] == REPROGRAM else age)
        measured = self.evaluator.evaluate(states, batch="calibration")
        return {
            "losses": measured.losses,
            "accuracies": measured.accuracies,
            "digital_losses": self._calibration_digital.losses,
            "digital_accuracies": self._calibration_digital.accuracies,
        }

    def cost_ratios(self, action: Any) -> tuple[float, float]:
        """The action's energy per inference and amortised reprogramming energy, both relative
        to all-digital (``energy_ratio`` and ``reprogram_ratio`` of the step's metrics), without
        evaluating the model."""
        action = np.asarray(action)
        energy = self._energy(tuple(action != DIGITAL)).total_pj / self._energy_digital_pj
        return energy, float(self._reprogram_pj[action == REPROGRAM].sum()) / self._serving_pj

    @property
    def step_index(self) -> int:
        """Steps taken in this episode."""
        return self._step

    @property
    def times_s(self) -> np.ndarray:
        """End time of each step (s)."""
        return self._times

    @property
    def all_digital_accuracies(self) -> np.ndarray:
        """Accuracy of each task with every layer digital, on the evaluation batch."""
        return self._all_digital.accuracies

    @property
    def energy_digital_pj(self) -> float:
        """Energy of one all-digital inference (pJ)."""
        return self._energy_digital_pj

    # -- internals ---------------------------------------------------------------------------
    def _now_s(self) -> float:
        """The deployment time now: the end of the last step, or 0 s before the first."""
        return float(self._times[self._step - 1]) if self._step > 0 else 0.0

    def _layer_state(
        self,
        index: int,
        time_s: float,
        programmed_step: np.ndarray | None = None,
        programming_count: np.ndarray | None = None,
    ) -> tuple[int, float]:
        programmed_step = self._programmed_step if programmed_step is None else programmed_step
        count = self._programming_count if programming_count is None else programming_count
        step = programmed_step[index]
        programmed_at = 0.0 if step < 0 else float(self._times[step])
        # The r-th programming of a layer on chip c uses the programming realisation of chip
        # (c + r) in the pool: reprogramming draws fresh noise, from a finite, cacheable set.
        chip = (
            self.chip_offset + (self._chip - self.chip_offset + int(count[index])) % self.chip_pool
        )
        return (chip, time_s - programmed_at)

    def _transition(self, action: np.ndarray, observe: bool = True) -> dict[str, Any]:
        k = self._step
        time_s = float(self._times[k])
        analog = action != DIGITAL
        reprogram = action == REPROGRAM
        programmed_step = np.where(reprogram, k - 1, self._programmed_step)
        programming_count = self._programming_count + reprogram
        tile_states = [
            self._layer_state(i, time_s, programmed_step, programming_count)
            for i in range(self.n_layers)
        ]
        states: list[LayerState] = [
            tile_states[i] if analog[i] else None for i in range(self.n_layers)
        ]
        evaluation = self.evaluator.evaluate(states)
        energy = self._energy(tuple(analog))
        reprogram_pj = float(self._reprogram_pj[reprogram].sum())
        reprogram_ratio = reprogram_pj / self._serving_pj
        metrics = self._metrics(
            evaluation, energy.total_pj, reprogram_ratio, int(reprogram.sum()), time_s, k
        )
        terms = self.reward_weights.terms(metrics) if self.reward_weights else {}
        if self.reward_function is self.reward_weights:
            reward = -float(sum(terms.values()))  # what RewardWeights.__call__ returns
        else:
            reward = float(self.reward_function(metrics))
        info = self._info(metrics, energy, tile_states, reprogram, terms, analog)
        info["reprogram_energy_pj"] = reprogram_pj
        info["reward"] = reward
        outcome = {
            "analog": analog,
            "programmed_step": programmed_step,
            "programming_count": programming_count,
            "reward": reward,
            "info": info,
        }
        if observe:
            outcome["observation"] = self._observation(tile_states, metrics, time_s, analog, k + 1)
        return outcome

    def _energy(self, placement: tuple[bool, ...]) -> Any:
        report = self._energy_cache.get(placement)
        if report is None:
            report = energy_per_inference(self.specs, placement, self.energy_table)
            self._energy_cache[placement] = report
        return report

    def _metrics(
        self,
        evaluation: Any,
        energy_pj: float,
        reprogram_ratio: float,
        n_reprogrammed: int,
        time_s: float,
        step: int,
    ) -> StepMetrics:
        return StepMetrics(
            energy_ratio=energy_pj / self._energy_digital_pj,
            losses=evaluation.losses,
            digital_losses=self._all_digital.losses,
            accuracies=evaluation.accuracies,
            digital_accuracies=self._all_digital.accuracies,
            reprogram_ratio=reprogram_ratio,
            n_reprogrammed=n_reprogrammed,
            time_s=time_s,
            step=step,
        )

    def _observation(
        self,
        tile_states: Sequence[tuple[int, float]],
        metrics: StepMetrics,
        time_s: float,
        analog: np.ndarray | None = None,
        steps_done: int = 0,
    ) -> np.ndarray:
        analog = self._analog if analog is None else analog
        ages = np.array([state[1] for state in tile_states])
        noise = np.array(
            [self.evaluator.layer_noise(i, tile_states[i]) for i in range(self.n_layers)]
        )
        sensitivity = np.array([self._sensitivity(i, tile_states[i]) for i in range(self.n_layers)])
        per_layer = np.column_stack(
            [
                analog.astype(float),
                np.log10(1.0 + ages) / self._log_horizon,
                noise,
                sensitivity,
                self._static_features,
            ]
        )
        global_features = np.concatenate(
            [
                metrics.losses,
                metrics.accuracies,
                metrics.excess_losses,
                [
                    metrics.energy_ratio,
                    np.log10(1.0 + time_s) / self._log_horizon,
                    1.0 - steps_done / self.timeline.n_steps,
                    float(np.mean(analog)),
                ],
            ]
        )
        observation = np.concatenate([per_layer.ravel(), global_features])
        return np.clip(observation, 0.0, MAX_OBSERVATION).astype(np.float32)

    def _sensitivity(self, index: int, tile_state: tuple[int, float]) -> float:
        """Excess calibration cross-entropy (summed over tasks) with only layer ``index`` analog."""
        states: list[LayerState] = [None] * self.n_layers
        states[index] = tile_state
        losses = self.evaluator.evaluate(states, batch="calibration").losses
        return float(np.maximum(losses - self._calibration_digital.losses, 0.0).sum())

    def _info(
        self,
        metrics: StepMetrics,
        energy: Any,
        tile_states: Sequence[tuple[int, float]],
        reprogram: np.ndarray,
        terms: dict[str, float],
        analog: np.ndarray | None = None,
    ) -> dict[str, Any]:
        analog = self._analog if analog is None else analog
        return {
            "step": metrics.step,
            "time_s": metrics.time_s,
            "chip": self._chip,
            "placement": [
                ACTION_NAMES[REPROGRAM] if r else ("analog" if a else "digital")
                for a, r in zip(analog, reprogram, strict=True)
            ],
            "analog": analog.tolist(),
            "reprogrammed": reprogram.tolist(),
            "drift_ages_s": [state[1] for state in tile_states],
            "accuracies": metrics.accuracies.tolist(),
            "losses": metrics.losses.tolist(),
            "digital_accuracies": metrics.digital_accuracies.tolist(),
            "digital_losses": metrics.digital_losses.tolist(),
            "energy_pj": energy.total_pj,
            "energy_ratio": metrics.energy_ratio,
            "energy_breakdown_pj": {layer.name: layer.total_pj for layer in energy.layers},
            "reprogram_energy_pj": 0.0,
            "n_reprogrammed": metrics.n_reprogrammed,
            "reward_terms": terms,
        }


def layer_of(env: HybridPartitionEnv, index: int) -> HybridLayer:
    """The hybrid layer behind action entry ``index`` (forward order)."""
    return dict(hybrid_layers(env.model))[env.layer_names[index]]
