"""The partitioning environment: one episode is one deployment of a hybrid analog-digital model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from envs.actions import ANALOG, DIGITAL, REPROGRAM, check_action, n_choices, placement_labels
from envs.chips import ENV_CHIP_POOL, check_chip
from envs.controller_view import ControllerView, TileState
from envs.deployment import Deployment, build_deployment
from envs.observation import ObservationLayout, deployment_features
from envs.options import check_env_options
from envs.rendering import placement_picture
from envs.rewards import RewardFunction, RewardWeights, StepMetrics, resolve_reward
from envs.tiles import TileBudget
from envs.workloads import RequestStream, Workload, get_workload
from hybrid.energy import EnergyReport
from hybrid.simulator import Evaluation, LayerState

REPROGRAM_MIN_AGE_RATIO = 2.0
"""Default of ``reprogram_min_age_ratio`` (dimensionless): ``action_masks`` offers reprogramming a
layer only if it divides the layer's drift age at the end of the coming step by at least this
factor. PCM drift and its read noise grow with log(age) (AIHWKit's PCM model), so a
reprogramming that shortens the age by less than 2x (0.3 decades) buys almost nothing for its
energy. On a log-spaced timeline every step is ~4.8x longer than the one before,
so no reprogramming passes; on the monthly timeline a month-old layer may be refreshed."""

@dataclass(frozen=True)
class Transition:
    """What one action leads to from the current state (for ``step`` and ``preview``)."""

    analog: np.ndarray
    """Per layer, whether it runs analog during the step."""
    programmed_step: np.ndarray
    """Per layer, the step at whose start it was last programmed (-1: at t = 0)."""
    programming_count: np.ndarray
    """Per layer, how often it has been reprogrammed in the episode."""
    tile_states: list[TileState]
    """Per layer, its tiles at the end of the step (used or not; with a tile budget, only the
    resident layers have tiles)."""
    resident: np.ndarray
    """Per layer, whether it holds tiles after the step (all True without a tile budget)."""
    evaluation: Evaluation
    """The step's evaluation on the whole evaluation batch."""
    metrics: StepMetrics
    reward: float
    info: dict[str, Any]


class HybridPartitionEnv(ControllerView, gym.Env):
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
    energy cost). The environment evaluates every task head on a fixed evaluation batch and
    prices the placement with the energy model of ``hybrid.energy``.

    ## Action Space
    ``MultiDiscrete([3] * n_layers)``, one entry per toggleable layer in forward order
    (``envs.actions``): 0 = digital, 1 = analog (keep the programmed weights), 2 = analog and
    reprogram. With ``allow_reprogram=False`` it is ``MultiDiscrete([2] * n_layers)``. A
    reprogrammed layer is written at the start of the step's interval.

    ## Observation Space
    ``Box(0, 10, (7 L + 3 T + 4,), float32)`` for ``L`` layers and ``T`` tasks (52 values for the
    default network), defined once in ``envs.observation``: read it by name with
    ``env.observation_layout.view(observation)["noise"]``. Values are clipped to [0, 10];
    ``info`` carries the raw numbers. A chip with a tile budget adds ``resident``,
    ``tile_share`` and ``tile_occupancy``, a request stream ``task_mix``, ``load``,
    ``recent_load``, ``clock_cos`` and ``clock_sin`` (``envs.observation``; traffic already
    served and the clock, never the draws to come). ``name[i]`` is layer ``i``'s value,
    ``name[k]`` task ``k``'s (both from 0):

    | Num | Observation | Min | Max |
    |---|---|---|---|
    | 7i | `is_analog`[i]: 1 if it runs analog, else 0 | 0 | 1 |
    | 7i + 1 | `drift_age`[i]: log10(1 + age_s) / log10(1 + horizon_s) of its tiles | 0 | 1 |
    | 7i + 2 | `noise`[i]: measured relative output error of its tiles | 0 | 10 |
    | 7i + 3 | `sensitivity`[i]: excess calibration loss with only it analog (nats) | 0 | 10 |
    | 7i + 4 | `digital_energy_share`[i]: its digital energy / all-digital energy | 0 | 1 |
    | 7i + 5 | `analog_energy_share`[i]: its analog energy / all-digital energy | 0 | 10 |
    | 7i + 6 | `mac_share`[i]: its share of the network's MACs | 0 | 1 |
    | 7L + k | `loss`[k]: cross-entropy on the evaluation batch (nats) | 0 | 10 |
    | 7L + T + k | `accuracy`[k]: accuracy on the evaluation batch | 0 | 1 |
    | 7L + 2T + k | `excess_loss`[k]: cross-entropy above all-digital's (nats) | 0 | 10 |
    | 7L + 3T | `energy_ratio`: energy per inference / all-digital | 0 | 10 |
    | 7L + 3T + 1 | `elapsed`: log10(1 + t_s) / log10(1 + horizon_s) | 0 | 1 |
    | 7L + 3T + 2 | `steps_left`: fraction of the episode's steps to come | 0 | 1 |
    | 7L + 3T + 3 | `analog_fraction`: fraction of the layers running analog | 0 | 1 |

    ``noise`` is ||y_analog - y_digital|| / ||y_digital|| of the layer's tiles alone on
    calibration inputs, whether or not the layer runs analog now; ``sensitivity`` is the excess
    cross-entropy, summed over tasks, of the network on the calibration images with only that
    layer analog. Both are what a deployed chip can measure with its calibration images
    (training images kept apart from the reward's evaluation batch).

    ## Rewards
    By default (``envs.rewards``)::

        reward = -( w_energy    * E_inference / E_all_digital
                  + w_task_loss * sum_k task_weight_k * max(0, L_k - L_k_digital)
                  + w_reprogram * E_reprogram / (E_all_digital * inferences_per_step) )

    where ``L_k`` is task ``k``'s error rate, with
    ``RewardWeights(energy=1, task_loss=50, reprogram=1)`` and each task weighted by its own
    ``Task.weight`` (1 for the built-in tasks) unless ``task_weights`` lists one weight per
    task. Any callable mapping ``StepMetrics`` to a float can replace it. With a request stream
    (the streaming scenarios) the energy term is scaled by the step's requests over
    ``inferences_per_step``, each task is scored on the requests it served, weighted by its
    traffic, and the scenario's ``StreamingRewardWeights`` add per-task service levels.

    ## Starting State
    At ``t = 0`` every layer has just been programmed on a chip drawn at random from a pool of
    ``chip_pool`` chips (each chip = one set of programming and read noise draws; the chip
    protocol is ``envs.chips``) and runs analog; the first observation shows that state. On a
    chip with a tile budget only the layers that save the most energy per tile, as many as fit,
    are programmed and run analog; the rest start digital. With a workload the episode's request
    stream is drawn from the environment's ``np_random`` after the chip.

    ## Episode End
    The episode terminates after ``timeline.n_steps`` steps (the end of the deployment). There
    is no truncation.

    ## Arguments
    ``gymnasium.make("HybridPartition-v0", **kwargs)``, every argument optional. The deployment
    (``envs.deployment.build_deployment``, or a built one as ``deployment=``):

    * ``dataset``: ``"digits"`` (embedded default), ``"digits32"``, ``"cifar10"``, or a
      ``hybrid.data.DatasetBundle`` (your own data and tasks, ``multitask_dataset``).
    * ``scenario``: a name from ``envs.scenarios.SCENARIOS`` (hardware + timeline).
    * ``hardware``: a preset name, dict or ``HardwareConfig`` overriding the scenario's.
    * ``noise_scale``, ``drift_scale``: multipliers of the programming/read noise and of drift.
    * ``energy_table``: a preset name, dict or ``EnergyTable`` (``hybrid.energy``).
    * ``timeline``: a ``Timeline`` or dict (horizon_s, n_steps, first_s, spacing,
      inferences_per_step) overriding the scenario's.
    * ``network``: ``"paper"`` (default), ``"resnet20"`` or ``"resnet32"`` (He et al. 2016's
      CIFAR ResNets, one head per task, ``hybrid.resnet``; shipped pretrained for ``digits32``).
    * ``model``: a torch module whose forward returns one logits tensor per task of the dataset,
      in task order (made hybrid if it is not); default: the pretrained paper network.
    * ``model_factory``: instead of ``model``, an import path ``"package.module:function"`` to
      a function returning the model, or ``(model, DatasetBundle)`` (``hybrid.factory``): it
      keeps a run's configuration JSON, and subprocess workers rebuild the same model.
      ``model_options``: keyword arguments for it.
    * ``model_weights``: a file of weights (``torch.save(model.state_dict(), path)``) loaded into
      the model (the factory's, ``model``, or the paper network's, skipping pretraining).
    * ``allow_chance_heads``: deploy even if a head's all-digital accuracy is no better than
      always answering its most frequent class (by default a one-line error: wrong targets).
    * ``pretrain``: ``PretrainConfig`` or dict for the default model.
    * ``eval_split``, ``eval_size``: the fixed evaluation batch (default: the whole validation
      split, 360 digits).
    * ``calibration_size``: training images the observation's per-layer measurements use
      (``noise``, ``sensitivity``), kept apart from the evaluation batch the reward uses.
    * ``data_dir``, ``cache_dir``: where data, pretrained models and light curves live.
    * ``cache_mb``: bound of the evaluation caches in MiB (256: a ResNet-20 process near 2 GB).

    The decision problem:

    * ``reward``: ``RewardWeights``, a dict, a ``"energy=1,task_loss=50"`` string or a callable.
    * ``chip_pool``, ``chip_offset``: chips are drawn from ``[offset, offset + pool)``; evaluate
      on held-out chips with another offset.
    * ``allow_reprogram``: include the reprogram action.
    * ``reprogram_min_age_ratio``: what ``action_masks()`` (for sb3-contrib's MaskablePPO) counts
      as a worthwhile reprogramming (``REPROGRAM_MIN_AGE_RATIO``); 1 masks nothing. The mask is
      advice to a learner: ``step`` accepts every action of the action space.
    * ``tile_budget``: analog tiles on the chip (default: the scenario's; ``envs.tiles``). With
      a budget a layer holds tiles only while it runs analog: moving it onto tiles programs it,
      moving it off frees them, and an action that needs more tiles than the chip has is
      projected (``info["projected"]``).
    * ``workload``: a request stream (a name of ``envs.workloads.WORKLOADS``, or a
      ``Workload``; default: the scenario's). Each step then serves a drawn number of the
      evaluation images as requests of a drawn task mix, and the reward prices what was served
      (``envs.rewards``); the observation adds the traffic served and the clock.
    * ``measurement``: how the observation measures each layer's ``noise`` and
      ``sensitivity`` (``envs.measurement``): ``"full"`` (one calibration evaluation per layer
      and step: cost quadratic in depth), ``"light"`` (noise on a few images, sensitivity
      predicted from it by a per-layer curve measured once: linear in depth) or ``"auto"``
      (full up to 8 layers, light beyond).
    * ``torch_threads``: torch intra-op threads to use (a process-wide setting; default 1, the
      fastest for these small tensors; None leaves it alone).
    * ``seed``: the seed of the first ``reset`` when none is given.

    ## Examples
    >>> import gymnasium, envs
    >>> env = gymnasium.make("HybridPartition-v0", scenario="paper")
    >>> observation, info = env.reset(seed=0)
    >>> view = env.unwrapped.observation_layout.view(observation)
    >>> [round(float(share), 3) for share in view["mac_share"]]
    [0.021, 0.153, 0.542, 0.271, 0.011, 0.002]
    >>> observation, reward, terminated, truncated, info = env.step([0, 0, 1, 1, 0, 0])
    >>> info["placement"]
    ['digital', 'digital', 'analog', 'analog', 'digital', 'digital']
    >>> round(info["energy_ratio"], 3)
    0.359

    ## Version History
    * v0: initial version.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 2}

    def __init__(
        self,
        deployment: Deployment | None = None,
        reward: RewardWeights | dict[str, Any] | str | RewardFunction | None = None,
        chip_pool: int = ENV_CHIP_POOL,
        chip_offset: int = 0,
        allow_reprogram: bool = True,
        reprogram_min_age_ratio: float = REPROGRAM_MIN_AGE_RATIO,
        tile_budget: int | None = None,
        workload: str | Workload | None = None,
        measurement: str = "auto",
        torch_threads: int | None = 1,
        seed: int | None = None,
        render_mode: str | None = None,
        **deployment_options: Any,
    ) -> None:
        super().__init__()
        check_env_options(
            {
                "deployment": deployment,
                "reward": reward,
                "chip_pool": chip_pool,
                "chip_offset": chip_offset,
                "allow_reprogram": allow_reprogram,
                "reprogram_min_age_ratio": reprogram_min_age_ratio,
                "tile_budget": tile_budget,
                "workload": workload,
                "measurement": measurement,
                "torch_threads": torch_threads,
                "seed": seed,
                "render_mode": render_mode,
                **deployment_options,
            }
        )
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}")
        if torch_threads is not None:
            # The simulation works on small tensors: one thread is fastest, and on a loaded
            # 2-core machine torch's default thread pool made a step about 40x slower.
            torch.set_num_threads(int(torch_threads))
        self.render_mode = render_mode
        self.chip_pool, self.chip_offset = int(chip_pool), int(chip_offset)
        self.allow_reprogram = bool(allow_reprogram)
        self.reprogram_min_age_ratio = float(reprogram_min_age_ratio)
        self._default_seed = seed
        if deployment is None:
            deployment = build_deployment(**deployment_options)
        elif deployment_options:
            raise ValueError(
                f"pass either deployment= or deployment options, not both (got "
                f"{', '.join(sorted(deployment_options))})"
            )
        scenario = deployment.scenario
        self.reward_function, self.reward_weights = resolve_reward(reward, scenario.reward)
        self.workload: Workload | None = get_workload(
            workload if workload is not None else scenario.workload
        )
        """The request stream's generator (``envs.workloads``); None: a fixed batch per step."""
        budget = tile_budget if tile_budget is not None else scenario.tile_budget
        self.tiles: TileBudget | None = (
            None
            if budget is None
            else TileBudget.for_layers(budget, deployment.specs, deployment.energy_table)
        )
        """The chip's analog tiles (``envs.tiles``); None: every layer has its own."""
        if self.workload is not None:
            self.workload.check_tasks(deployment.n_tasks)
            if self.reward_weights is not None and self.reward_weights.task_metric != "error":
                raise ValueError(
                    "a request stream scores the requests served by their error rate: use "
                    "task_metric=error (or a scenario without a workload)"
                )
        self.deployment = deployment
        if self.reward_weights is not None:
            # The reward's task weights follow the model's tasks; a count that differs is an
            # error now, not at the first step inside a worker process.
            self.reward_weights = self.reward_weights.for_tasks(
                deployment.task_names, deployment.task_weights
            )
            self.reward_function = self.reward_weights
        self.config = {
            **deployment.config,
            "reward": self.reward_weights.to_dict() if self.reward_weights else "custom",
            "chip_pool": self.chip_pool,
            "chip_offset": self.chip_offset,
            "allow_reprogram": self.allow_reprogram,
            "reprogram_min_age_ratio": self.reprogram_min_age_ratio,
        }
        if self.tiles is not None:
            self.config["tile_budget"] = self.tiles.budget
        if self.workload is not None:
            self.config["workload"] = self.workload.to_dict()
        self.observation_layout = ObservationLayout(
            deployment.n_layers,
            deployment.n_tasks,
            deployment_features(self.tiles is not None, self.workload is not None),
        )
        self.action_space = spaces.MultiDiscrete(
            [n_choices(self.allow_reprogram)] * deployment.n_layers
        )
        self.observation_space = self.observation_layout.space
        self._times = self.timeline.times_s
        self.meter = deployment.layer_meter(measurement, self._times)
        """Measures each layer's noise and sensitivity for the observation (envs.measurement)."""
        if measurement != "auto":
            self.config["measurement"] = measurement
        self._log_horizon = np.log10(1.0 + self.timeline.horizon_s)

        self._step = 0
        self._analog = np.ones(self.n_layers, dtype=bool)
        self._resident = np.ones(self.n_layers, dtype=bool)
        self._programmed_step = np.full(self.n_layers, -1)
        self._programming_count = np.zeros(self.n_layers, dtype=int)
        self._chip = self.chip_offset
        self._stream: RequestStream | None = None
        self._last: dict[str, Any] | None = None
        self._history: list[tuple[list[int], list[float]]] = []

    # -- the deployment, for policies and analyses ---------------------------------------------
    @property
    def model(self) -> Any:
        """The hybrid model (its analog tiles belong to the evaluator)."""
        return self.deployment.model

    @property
    def evaluator(self) -> Any:
        """The deployment's :class:`~hybrid.simulator.CachedEvaluator`."""
        return self.deployment.evaluator

    @property
    def specs(self) -> list[Any]:
        """Crossbar shapes of the toggleable layers, forward order."""
        return self.deployment.specs

    @property
    def layer_names(self) -> tuple[str, ...]:
        """Toggleable layers, forward order (the order of the action's entries)."""
        return self.deployment.layer_names

    @property
    def n_layers(self) -> int:
        """Number of toggleable layers."""
        return self.deployment.n_layers

    @property
    def n_tasks(self) -> int:
        """Number of tasks."""
        return self.deployment.n_tasks

    @property
    def task_names(self) -> tuple[str, ...]:
        """The tasks of the model's heads, in head order (the order of per-task values)."""
        return self.deployment.task_names

    @property
    def scenario(self) -> Any:
        """The deployment's named scenario."""
        return self.deployment.scenario

    @property
    def hardware(self) -> Any:
        """The analog hardware settings."""
        return self.deployment.hardware

    @property
    def timeline(self) -> Any:
        """When decisions are taken."""
        return self.deployment.timeline

    @property
    def energy_table(self) -> Any:
        """The energy prices."""
        return self.deployment.energy_table

    @property
    def n_actions(self) -> int:
        """Choices per layer (3 with the reprogram action, 2 without)."""
        return int(self.action_space.nvec[0])

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
        self._chip = (
            check_chip(chip, self.chip_offset, self.chip_pool)
            if chip is not None
            else self.chip_offset + int(self.np_random.integers(self.chip_pool))
        )
        self._step = 0
        self._history = []
        self._resident = (
            self.tiles.initial() if self.tiles is not None else np.ones(self.n_layers, dtype=bool)
        )
        self._analog = self._resident.copy()
        self._programmed_step = np.full(self.n_layers, -1)
        self._programming_count = np.zeros(self.n_layers, dtype=int)
        self._stream = (
            self.workload.draw(
                self.np_random,
                self._times,
                self.timeline.inferences_per_step,
                len(self.evaluator.targets[0]),
            )
            if self.workload is not None
            else None
        )
        states = [self._layer_state(i, 0.0) for i in range(self.n_layers)]
        evaluation = self.evaluator.evaluate(
            [state if on else None for state, on in zip(states, self._analog, strict=True)]
        )
        energy = self.deployment.energy(self._analog)
        metrics = self._metrics(evaluation, energy.total_pj, 0.0, 0, 0.0, step=-1)
        reprogrammed = np.zeros(self.n_layers, dtype=bool)
        self._last = self._info(metrics, energy, states, self._analog, reprogrammed, evaluation)
        observation = self._observation(
            states, evaluation, metrics, self._analog, self._resident, steps_done=0
        )
        return observation, dict(self._last)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply one placement for the next interval of the deployment."""
        if self._last is None:
            raise RuntimeError("call reset() before step()")
        if self._step >= self.timeline.n_steps:
            raise RuntimeError("the deployment is over: call reset() to start a new episode")
        action = self.check_action(action)
        transition = self._transition(action)
        observation = self._observation(
            transition.tile_states,
            transition.evaluation,
            transition.metrics,
            transition.analog,
            transition.resident,
            self._step + 1,
        )
        self._analog = transition.analog
        self._resident = transition.resident
        self._programmed_step = transition.programmed_step
        self._programming_count = transition.programming_count
        self._step += 1
        self._last = transition.info
        done = np.where(
            transition.info["reprogrammed"], REPROGRAM, np.where(transition.analog, ANALOG, DIGITAL)
        )
        self._history.append((done.tolist(), transition.info["accuracies"]))
        terminated = self._step >= self.timeline.n_steps
        return observation, transition.reward, terminated, False, dict(transition.info)

    def render(self) -> str | np.ndarray | None:
        """The last step: one line of text (``render_mode="ansi"``), or a picture of the episode
        so far (``"rgb_array"``): one row per layer and one column per step, coloured by where
        the layer ran (blue digital, orange analog, red reprogrammed; grey: steps to come),
        then one row per task, from red (accuracy 0) to green (all-digital accuracy)."""
        if self._last is None:
            return None
        if self.render_mode == "rgb_array":
            return self._picture()
        if self.render_mode != "ansi":
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

    def _picture(self) -> np.ndarray:
        digital = np.maximum(self.deployment.all_digital.accuracies, 1e-9)
        history = [(codes, np.asarray(accuracies) / digital) for codes, accuracies in self._history]
        return placement_picture(history, self.n_layers, self.n_tasks, self.timeline.n_steps)

    # -- for planners and baselines ----------------------------------------------------------
    def check_action(self, action: Any) -> np.ndarray:
        """The action as an int array, or a one-line ValueError that says what is expected."""
        return check_action(action, self.n_layers, self.n_actions)

    def action_masks(self) -> np.ndarray:
        """Which choices are worth offering a learner now, flattened layer by layer
        (``n_layers * n_actions`` booleans, the layout sb3-contrib's MaskablePPO expects).

        Digital and analog are always valid. Reprogramming a layer is valid only if it divides
        the layer's drift age at the end of the coming step by at least
        ``reprogram_min_age_ratio``: (age if kept) / (length of the coming interval) >= ratio.
        Only the timeline and the layer's programming history are used: a deployed controller
        knows both.

        On a chip with a tile budget (``envs.tiles``), a layer without tiles is offered analog
        (which programs it) only if it fits in the tiles free now, and never ``REPROGRAM`` (the
        same thing as analog for it). The mask is per layer, as sb3-contrib's MultiDiscrete
        masks are: two layers that each fit but not together are resolved by the projection of
        ``step``, and a swap takes two steps (free the tiles, then program them).
        """
        masks = np.ones((self.n_layers, self.n_actions), dtype=bool)
        if self.n_actions > REPROGRAM and self._step < self.timeline.n_steps:
            now, end = self._now_s(), float(self._times[self._step])
            age_if_kept = np.array([self._layer_state(i, end)[1] for i in range(self.n_layers)])
            masks[:, REPROGRAM] = age_if_kept >= self.reprogram_min_age_ratio * (end - now)
        if self.tiles is not None:
            fits = self.tiles.fits(self._resident)
            masks[:, ANALOG:] &= fits[:, None]
            if self.n_actions > REPROGRAM:
                masks[~self._resident, REPROGRAM] = False
        return masks.reshape(-1)

    # -- internals ---------------------------------------------------------------------------
    def _projected(self, action: np.ndarray) -> np.ndarray:
        """``action`` as the chip can do it now (``envs.tiles``; itself without a budget)."""
        return action if self.tiles is None else self.tiles.project(action, self._resident)

    def _programmed(self, action: np.ndarray) -> np.ndarray:
        """Per layer, whether a (projected) action programs its tiles: ``REPROGRAM``, or, on a
        chip with a tile budget, analog for a layer without tiles."""
        programmed = action == REPROGRAM
        if self.tiles is not None:
            programmed = programmed | ((action != DIGITAL) & ~self._resident)
        return programmed

    def _now_s(self) -> float:
        """The deployment time now: the end of the last step, or 0 s before the first."""
        return float(self._times[self._step - 1]) if self._step > 0 else 0.0

    def _layer_state(
        self,
        index: int,
        time_s: float,
        programmed_step: np.ndarray | None = None,
        programming_count: np.ndarray | None = None,
    ) -> TileState:
        """Layer ``index``'s tiles at ``time_s``: which noise realisation, and how old."""
        programmed_step = self._programmed_step if programmed_step is None else programmed_step
        count = self._programming_count if programming_count is None else programming_count
        step = programmed_step[index]
        programmed_at = 0.0 if step < 0 else float(self._times[step])
        return (self.programming_id(self._chip, count[index]), time_s - programmed_at)

    def _transition(self, requested: np.ndarray) -> Transition:
        k = self._step
        time_s = float(self._times[k])
        action = self._projected(requested)
        analog = action != DIGITAL
        reprogram = self._programmed(action)
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
        energy = self.deployment.energy(analog)
        reprogram_pj = float(self.deployment.reprogram_pj[reprogram].sum())
        reprogram_ratio = reprogram_pj / self.deployment.serving_pj
        metrics = self._metrics(
            evaluation, energy.total_pj, reprogram_ratio, int(reprogram.sum()), time_s, k
        )
        terms = self.reward_weights.terms(metrics) if self.reward_weights else {}
        if self.reward_function is self.reward_weights:
            reward = -float(sum(terms.values()))  # what RewardWeights.__call__ returns
        else:
            reward = float(self.reward_function(metrics))
        info = self._info(metrics, energy, tile_states, analog, reprogram, evaluation, terms)
        info["reprogram_energy_pj"] = reprogram_pj
        info["reward"] = reward
        resident = analog if self.tiles is not None else self._resident
        if self.tiles is not None:
            info.update(
                requested_action=requested.tolist(),
                projected=(requested != action).tolist(),
                resident=resident.tolist(),
                tiles_used=self.tiles.used(resident),
                tile_budget=self.tiles.budget,
                programming_time_s=self.tiles.programming_time_s(reprogram),
            )
        if self._stream is not None:
            volume = int(self._stream.volumes[k])
            info.update(
                volume=volume,
                task_requests=self._stream.requests[k].tolist(),
                burst=bool(self._stream.bursts[k]),
                served_accuracies=metrics.accuracies.tolist(),
                served_digital_accuracies=metrics.digital_accuracies.tolist(),
                served_energy_pj=volume * energy.total_pj + reprogram_pj,
                served_digital_energy_pj=volume * self.deployment.energy_digital_pj,
            )
        return Transition(
            analog,
            programmed_step,
            programming_count,
            tile_states,
            resident,
            evaluation,
            metrics,
            reward,
            info,
        )

    def _metrics(
        self,
        evaluation: Evaluation,
        energy_pj: float,
        reprogram_ratio: float,
        n_reprogrammed: int,
        time_s: float,
        step: int,
    ) -> StepMetrics:
        digital = self.deployment.all_digital
        if self._stream is None or step < 0:
            return StepMetrics(
                energy_ratio=energy_pj / self.deployment.energy_digital_pj,
                losses=evaluation.losses,
                digital_losses=digital.losses,
                accuracies=evaluation.accuracies,
                digital_accuracies=digital.accuracies,
                reprogram_ratio=reprogram_ratio,
                n_reprogrammed=n_reprogrammed,
                time_s=time_s,
                step=step,
            )
        # A request stream: each task scored on the requests it served (Evaluation.correct).
        accuracies, digital_accuracies = [], []
        for task, images in enumerate(self._stream.served(step)):
            if images.size:
                accuracies.append(float(evaluation.correct[task][images].mean()))
                digital_accuracies.append(float(digital.correct[task][images].mean()))
            else:  # no request of this task: nothing to charge (its traffic ratio is 0)
                accuracies.append(float(evaluation.accuracies[task]))
                digital_accuracies.append(float(digital.accuracies[task]))
        reference = self.timeline.inferences_per_step
        return StepMetrics(
            energy_ratio=energy_pj / self.deployment.energy_digital_pj,
            losses=evaluation.losses,
            digital_losses=digital.losses,
            accuracies=np.array(accuracies),
            digital_accuracies=np.array(digital_accuracies),
            reprogram_ratio=reprogram_ratio,
            n_reprogrammed=n_reprogrammed,
            time_s=time_s,
            step=step,
            volume_ratio=float(self._stream.volumes[step]) / reference,
            task_volume_ratios=self._stream.requests[step] / reference,
        )

    def _info(
        self,
        metrics: StepMetrics,
        energy: EnergyReport,
        tile_states: Sequence[TileState],
        analog: np.ndarray,
        reprogram: np.ndarray,
        evaluation: Evaluation,
        terms: dict[str, float] | None = None,
    ) -> dict[str, Any]:
        digital = self.deployment.all_digital
        return {
            "step": metrics.step,
            "time_s": metrics.time_s,
            "chip": self._chip,
            "placement": placement_labels(analog, reprogram),
            "analog": analog.tolist(),
            "reprogrammed": reprogram.tolist(),
            "drift_ages_s": [state[1] for state in tile_states],
            "accuracies": evaluation.accuracies.tolist(),
            "losses": evaluation.losses.tolist(),
            "digital_accuracies": digital.accuracies.tolist(),
            "digital_losses": digital.losses.tolist(),
            "energy_pj": energy.total_pj,
            "energy_ratio": metrics.energy_ratio,
            "energy_breakdown_pj": {layer.name: layer.total_pj for layer in energy.layers},
            "reprogram_energy_pj": 0.0,
            "n_reprogrammed": metrics.n_reprogrammed,
            "reward_terms": terms or {},
        }
