"""The training-time environment: one episode is one (short) training run, then a deployment."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from envs.actions import ACTION_NAMES, ANALOG, DIGITAL, check_action
from envs.chips import ENV_CHIP_POOL, check_chip
from envs.hybrid_training.observation import training_layout
from envs.hybrid_training.rewards import (
    TrainingMetrics,
    TrainingRewardFunction,
    TrainingRewardWeights,
    resolve_training_reward,
)
from envs.hybrid_training.run import (
    TRAINING_RUN_OPTIONS,
    TrainingRun,
    TrainingState,
    build_training_run,
)
from envs.observation import ObservationLayout
from envs.rendering import placement_picture
from envs.rewards import StepMetrics
from hybrid.simulator import Evaluation

TRAINING_ENV_ID = "HybridTraining-v0"
ROLLBACK = 1
"""Value of the action's last entry (with ``allow_rollback``) that restores the weights of the
start of the previous step before training this one (LionHeart's rollback from a checkpoint)."""


class HybridTrainingEnv(gym.Env):
    """Choose, at each step of a training run, where each layer of a hybrid network trains.

    ## Description
    The paper's multi-task network (one shared trunk, a 10-class head and a binary head; by
    default the digital pretrained digits network) is fine-tuned for ``schedule.n_steps``
    steps of ``schedule.batches_per_step`` mini-batches each (5 of 100 images by default, about
    half an epoch; ``envs.hybrid_training.run``). At each step the
    policy places every layer for the coming step: digital (SGD on its digital weights, FP16
    energy prices) or analog (trained in the loop on its AIHWKit tile: the tile's forward noise,
    hardware-aware weight modifier and I/O quantisation, ``AnalogSGD``; mixed-precision
    in-memory training energy: analog forward and backward products, digital weight gradients,
    programming pulses for the updates). Moving a layer onto its tile programs it. After the
    last step the network is deployed with the last step's placement on the episode's chip and
    scored at several ages of drift, as ``HybridPartition-v0`` scores a deployment.

    ## Action Space
    ``MultiDiscrete([2] * n_layers + [2])``: one entry per toggleable layer in forward order
    (0 = train digital, 1 = train analog; ``envs.actions``), then a rollback flag (1 = restore
    the weights from the start of the previous step, LionHeart's rollback, before training this
    step; a no-op at the first step). With ``allow_rollback=False`` it is
    ``MultiDiscrete([2] * n_layers)``. The last step's placement is the deployed one.

    ## Observation Space
    ``Box(0, 10, (10 L + 3 T + 4,), float32)`` for ``L`` layers and ``T`` tasks (70 values for
    the default network), defined once in ``envs.hybrid_training.observation``: read it by name with
    ``env.observation_layout.view(observation)["noise"]``. Values are clipped to [0, 10];
    ``info`` carries the raw numbers. ``name[i]`` is layer ``i``'s value, ``name[k]`` task
    ``k``'s (both from 0):

    | Num | Observation | Min | Max |
    |---|---|---|---|
    | 10i | `is_analog`[i]: 1 if it trained analog in the last step, else 0 | 0 | 1 |
    | 10i + 1 | `analog_time`[i]: fraction of the episode's steps it trained analog | 0 | 1 |
    | 10i + 2 | `noise`[i]: measured relative output error of its tile (current weights) | 0 | 10 |
    | 10i + 3 | `sensitivity`[i]: excess monitor loss with only it analog (nats) | 0 | 10 |
    | 10i + 4 | `gradient_norm`[i]: mean norm(gradient) / norm(weight), last step | 0 | 10 |
    | 10i + 5 | `weight_change`[i]: 100 norm(W_after - W_before) / norm(W_before) | 0 | 10 |
    | 10i + 6 | `digital_energy_share`[i]: its digital inference energy / all-digital | 0 | 1 |
    | 10i + 7 | `analog_energy_share`[i]: its analog inference energy / all-digital | 0 | 10 |
    | 10i + 8 | `training_digital_share`[i]: its digital training energy / all-digital | 0 | 1 |
    | 10i + 9 | `training_analog_share`[i]: its analog training energy / all-digital | 0 | 10 |
    | 10L + k | `train_loss`[k]: mean training cross-entropy of the last step (nats) | 0 | 10 |
    | 10L + T + k | `val_loss`[k]: monitor cross-entropy, network digital (nats) | 0 | 10 |
    | 10L + 2T + k | `deployed_loss`[k]: monitor loss, last placement on its tiles (nats) | 0 | 10 |
    | 10L + 3T | `training_energy`: training energy spent / all-digital run's | 0 | 10 |
    | 10L + 3T + 1 | `energy_ratio`: inference energy of the last placement / all-digital | 0 | 10 |
    | 10L + 3T + 2 | `steps_left`: fraction of the episode's steps to come | 0 | 1 |
    | 10L + 3T + 3 | `analog_fraction`: fraction of the layers trained analog | 0 | 1 |

    The chip measures on its monitor images (training images kept out of fine-tuning), with
    every layer's tile programmed with the current weights and read one day later
    (``measure_age_s``): ``noise`` is ||y_analog - y_digital|| / ||y_digital|| of the tile
    alone, ``sensitivity`` the excess cross-entropy (summed over tasks) with only that layer
    analog, ``deployed_loss`` the cross-entropy with the last placement. Training shares are per
    sample (forward, backward, crossings; updates and programming excluded) as a share of the
    all-digital network's.

    ## Rewards
    By default (``envs.hybrid_training.rewards``), summed over the episode::

        return = -( w_training * E_training / E_training_all_digital
                  + sum over deployment ages a of
                      ( w_energy    * E_inference / E_all_digital
                      + w_task_loss * sum_k task_weight_k * max(0, L_k(a) - L_k_digital) ) )

    Each step pays its own training energy (a share of the all-digital run's); the last step
    also pays the deployment's terms, computed as ``HybridPartition-v0`` computes a step's
    (``L_k`` the error rate of task ``k`` on the evaluation images, ``L_k_digital`` the digital
    pretrained network's). ``TrainingRewardWeights(training=1)`` with the deployment's default
    weights (energy 1, task_loss 50). Any callable of ``TrainingMetrics`` can replace it.

    ## Starting State
    The digital pretrained network (``schedule.init="pretrained"``; ``"scratch"`` starts from a
    fixed random initialisation), every layer digital, on a chip drawn at random from a pool of
    ``chip_pool`` chips (``envs.chips``). A chip fixes every draw of the episode: batch order,
    dropout, the tiles' noise during training and measurement (its training stream) and the
    deployment's programming and read noise.

    ## Episode End
    The episode terminates after ``schedule.n_steps`` steps, with the deployment. There is no
    truncation.

    ## Arguments
    ``gymnasium.make("HybridTraining-v0", **kwargs)``, every argument optional. The training run
    (``envs.hybrid_training.run.build_training_run``, or a built one as ``run=``):

    * ``dataset``: ``"digits"`` (embedded default), ``"digits32"`` or ``"cifar10"``.
    * ``scenario``: a name from ``envs.scenarios.SCENARIOS`` (its hardware; default
      ``strong-drift``).
    * ``hardware``: a preset name, dict or ``HardwareConfig`` overriding the scenario's.
    * ``noise_scale``, ``drift_scale``: multipliers of the programming/read noise and of drift.
    * ``energy_table``: inference prices (``hybrid.energy.EnergyTable``: preset, dict).
    * ``training_energy_table``: training prices (``hybrid.energy.TrainingEnergyTable``, dict).
    * ``schedule``: ``TrainingSchedule`` or dict (n_steps, batches_per_step, batch_size,
      learning rates, momentum, task_weights, init, train_size).
    * ``deployment_ages_s``: ages at which the deployment is scored (default 1 s, 316 s,
      1 day, 1 year).
    * ``measure_age_s``: age at which the chip measures tiles during training (1 day).
    * ``pretrain``: ``PretrainConfig`` or dict of the pretrained network.
    * ``eval_split``, ``eval_size``: the evaluation images of the deployment (``"val"``, or
      ``"test"`` for images no policy was scored on).
    * ``monitor_size``: training images kept out of fine-tuning for the chip's measurements.
    * ``data_dir``, ``cache_dir``: where data and pretrained models live.
    * ``cache_mb``: memory bound of the evaluation caches and of the cache of training states.

    The decision problem:

    * ``reward``: ``TrainingRewardWeights``, a dict, a ``"energy=1,task_loss=50,training=1"``
      string or a callable.
    * ``chip_pool``, ``chip_offset``: chips are drawn from ``[offset, offset + pool)``.
    * ``allow_rollback``: include the rollback flag in the action.
    * ``training_streams``: None (default): every chip draws its own training and measurement
      noise; N: the chips of the pool share N training streams (chip ``c`` trains with stream
      ``offset + (c - offset) % N``) and keep their own deployment draws, so repeated
      trajectories of a learner are served from the cache of training states.
      ``train_agent.py`` trains with 8; evaluations always use None.
    * ``torch_threads``: torch intra-op threads (process-wide; default 1; None leaves it).
    * ``seed``: the seed of the first ``reset`` when none is given.

    ## Examples
    >>> import gymnasium, envs
    >>> env = gymnasium.make(
    ...     "HybridTraining-v0", schedule={"n_steps": 2, "train_size": 200}, eval_size=100
    ... )
    >>> observation, info = env.reset(seed=0)
    >>> observation, reward, terminated, truncated, info = env.step([0, 0, 1, 1, 0, 0, 0])
    >>> info["placement"]
    ['digital', 'digital', 'analog', 'analog', 'digital', 'digital']
    >>> observation, reward, terminated, truncated, info = env.step([0, 0, 1, 1, 0, 0, 0])
    >>> terminated, len(info["deployed_accuracies"])
    (True, 4)

    ## Version History
    * v0: initial version.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 2}

    def __init__(
        self,
        run: TrainingRun | None = None,
        reward: TrainingRewardWeights | dict[str, Any] | str | TrainingRewardFunction | None = None,
        chip_pool: int = ENV_CHIP_POOL,
        chip_offset: int = 0,
        allow_rollback: bool = True,
        training_streams: int | None = None,
        torch_threads: int | None = 1,
        seed: int | None = None,
        render_mode: str | None = None,
        **run_options: Any,
    ) -> None:
        super().__init__()
        if torch_threads is not None:
            torch.set_num_threads(int(torch_threads))  # small tensors: one thread is fastest
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}")
        self.render_mode = render_mode
        self.reward_function, self.reward_weights = resolve_training_reward(reward)
        if chip_pool < 1 or chip_offset < 0:
            raise ValueError("chip_pool must be >= 1 and chip_offset >= 0")
        self.chip_pool, self.chip_offset = int(chip_pool), int(chip_offset)
        self.allow_rollback = bool(allow_rollback)
        if training_streams is not None and not 1 <= int(training_streams) <= self.chip_pool:
            raise ValueError(
                f"training_streams must be None or in 1..chip_pool ({self.chip_pool}), got "
                f"{training_streams!r}"
            )
        self.training_streams = None if training_streams is None else int(training_streams)
        self._default_seed = seed
        unknown = sorted(set(run_options) - set(TRAINING_RUN_OPTIONS))
        if unknown:
            raise ValueError(
                f"unknown {TRAINING_ENV_ID} argument(s) {', '.join(unknown)}; see "
                "HybridTrainingEnv's docstring (Arguments) for the valid ones"
            )
        if run is None:
            run = build_training_run(**run_options)
        elif run_options:
            raise ValueError(
                f"pass either run= or training-run options, not both (got "
                f"{', '.join(sorted(run_options))})"
            )
        self.run = run
        self.config = {
            **run.config,
            "reward": self.reward_weights.to_dict() if self.reward_weights else "custom",
            "chip_pool": self.chip_pool,
            "chip_offset": self.chip_offset,
            "allow_rollback": self.allow_rollback,
            "training_streams": self.training_streams,
        }
        self.observation_layout: ObservationLayout = training_layout(run.n_layers, run.n_tasks)
        self.action_space = spaces.MultiDiscrete([2] * (run.n_layers + self.allow_rollback))
        self.observation_space = self.observation_layout.space
        self._chip = self._stream = self.chip_offset
        self._state: TrainingState | None = None
        self._history: tuple = ()
        self._last: dict[str, Any] | None = None

    # -- the run, for policies and analyses ----------------------------------------------------
    @property
    def specs(self) -> list[Any]:
        """Crossbar shapes of the toggleable layers, forward order."""
        return self.run.specs

    @property
    def layer_names(self) -> tuple[str, ...]:
        """Toggleable layers, forward order (the order of the action's entries)."""
        return self.run.layer_names

    @property
    def n_layers(self) -> int:
        """Number of toggleable layers."""
        return self.run.n_layers

    @property
    def n_tasks(self) -> int:
        """Number of tasks."""
        return self.run.n_tasks

    @property
    def task_names(self) -> tuple[str, ...]:
        """The tasks of the model's heads, in head order."""
        return self.run.task_names or tuple(f"task{t + 1}" for t in range(self.n_tasks))

    @property
    def n_steps(self) -> int:
        """Steps per episode."""
        return self.run.schedule.n_steps

    @property
    def n_actions(self) -> int:
        """Choices per layer (2: digital, analog)."""
        return 2

    @property
    def model(self) -> Any:
        """The network as deployed (its analog tiles belong to the evaluator)."""
        return self.run.inference_model

    @property
    def state(self) -> TrainingState:
        """The training run now."""
        if self._state is None:
            raise RuntimeError("call reset() first")
        return self._state

    @property
    def step_index(self) -> int:
        """Steps taken in this episode."""
        return self.state.step

    @property
    def all_digital_accuracies(self) -> np.ndarray:
        """Accuracy of each task of the digital pretrained network on the evaluation images."""
        return self.run.reference.accuracies

    # -- Gymnasium API -------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a training run from the pretrained network on a chip drawn from the pool
        (``options={"chip": c}`` picks one)."""
        if seed is None and self._default_seed is not None and self._np_random is None:
            seed = self._default_seed
        super().reset(seed=seed)
        chip = (options or {}).get("chip")
        self._chip = (
            check_chip(chip, self.chip_offset, self.chip_pool)
            if chip is not None
            else self.chip_offset + int(self.np_random.integers(self.chip_pool))
        )
        self._stream = (
            self._chip
            if self.training_streams is None
            else self.chip_offset + (self._chip - self.chip_offset) % self.training_streams
        )
        self._state = self.run.initial_state
        self._history = ()
        self._last = self._info(self._state, 0.0, {})
        self._start_losses = np.maximum(self._state.measured.val_losses, 1e-9)
        self._picture_history: list[tuple[list[int], np.ndarray]] = []
        return self._observation(self._state), dict(self._last)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Train the network for one step with the action's placement."""
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        if self._state.step >= self.n_steps:
            raise RuntimeError("the training run is over: call reset() to start a new episode")
        codes = self.check_action(action)
        placement = codes[: self.n_layers] == ANALOG
        rollback = self.allow_rollback and codes[-1] == ROLLBACK
        self._history = (*self._history, tuple(int(c) for c in codes))
        state = self.run.advance(self._state, placement, rollback, self._stream, self._history)
        deployment = ()
        if state.step >= self.n_steps:
            deployment = self.run.deployment(state, self._chip, (self._stream, self._history))
        metrics = self._metrics(state, deployment)
        terms: dict[str, float] = {}
        if isinstance(self.reward_function, TrainingRewardWeights):
            terms = self.reward_function.terms(metrics)
            reward = -float(sum(terms.values()))
        else:
            reward = float(self.reward_function(metrics))
        self._state = state
        info = self._info(state, reward, terms, metrics, deployment)
        self._last = info
        codes = [ANALOG if analog else DIGITAL for analog in state.placement]
        self._picture_history.append((codes, self._start_losses / state.measured.val_losses))
        terminated = state.step >= self.n_steps
        return self._observation(state), reward, terminated, False, dict(info)

    def render(self) -> str | np.ndarray | None:
        """The last step: one line of text (``render_mode="ansi"``), or a picture of the episode
        so far (``"rgb_array"``, :func:`envs.rendering.placement_picture`): one row per layer and
        one column per step, blue where the layer trained digital and orange where it trained
        analog (grey: steps to come), then one row per task coloured by the validation loss on
        the monitor images, green at or below the loss the episode started from and towards red
        as it grows (the start's loss over the step's, clipped to [0, 1])."""
        if self._last is None:
            return None
        if self.render_mode == "rgb_array":
            return placement_picture(
                self._picture_history, self.n_layers, self.n_tasks, self.n_steps
            )
        if self.render_mode != "ansi":
            return None
        info = self._last
        placement = " ".join(
            f"{name}:{'A' if analog else 'D'}"
            for name, analog in zip(self.layer_names, info["analog"], strict=True)
        )
        losses = "/".join(f"{loss:.3f}" for loss in info["val_losses"])
        return (
            f"step {info['step']} {placement} val_loss={losses} "
            f"training_energy={info['training_energy_spent']:.3f}x all-digital run"
        )

    # -- for policies and baselines ------------------------------------------------------------
    def check_action(self, action: Any) -> np.ndarray:
        """The action as an int array, or a one-line ValueError that says what is expected."""
        n = self.n_layers + self.allow_rollback
        layers = ", ".join(f"{i}={name}" for i, name in enumerate(ACTION_NAMES[:2]))
        expected = f"an action is {n} integers ({self.n_layers} layers: {layers}" + (
            "; then the rollback flag 0/1)" if self.allow_rollback else ")"
        )
        return check_action(action, n, 2, expected)

    def action_masks(self) -> np.ndarray:
        """Which choices are worth offering a learner now, flattened entry by entry (the
        layout sb3-contrib's MaskablePPO expects): every placement, and a rollback only when
        there is a previous step to roll back."""
        n_entries = self.n_layers + self.allow_rollback
        masks = np.ones((n_entries, 2), dtype=bool)
        if self.allow_rollback:
            masks[-1, ROLLBACK] = self._state is not None and self._state.checkpoint is not None
        return masks.reshape(-1)

    def measure(self, placement: Any, draws: int = 1) -> dict[str, np.ndarray]:
        """What the chip can measure now on its monitor images for the network as trained so
        far, run with ``placement`` (one bool or 0/1 per layer): its analog layers programmed
        (``draws`` programming draws, averaged) and read ``measure_age_s`` later (LionHeart's
        test: one day, 10 draws). Changes nothing; see ``TrainingRun.measure``."""
        placement = np.asarray(placement)
        if placement.shape != (self.n_layers,) or not np.isin(placement, (0, 1)).all():
            raise ValueError(
                f"a placement is {self.n_layers} values 0/1 (1 = analog); got {placement.tolist()}"
            )
        return self.run.measure(self.state, placement.astype(bool), self._stream, draws)

    def cost_ratios(self, action: Any) -> tuple[float, float]:
        """The deployed inference energy of the action's placement relative to all-digital, and
        0 (no reprogramming): ``HybridPartition-v0``'s ``cost_ratios`` for comparisons."""
        placement = np.asarray(action)[: self.n_layers] == ANALOG
        return self.run.inference_energy_ratio(placement), 0.0

    # -- internals -----------------------------------------------------------------------------
    def _metrics(
        self, state: TrainingState, evaluations: tuple[Evaluation, ...]
    ) -> TrainingMetrics:
        run = self.run
        step_pj = state.step_energy.total_pj if state.step_energy is not None else 0.0
        deployment: tuple[StepMetrics, ...] = ()
        if evaluations:
            energy_ratio = run.inference_energy_ratio(state.placement)
            deployment = tuple(
                StepMetrics(
                    energy_ratio=energy_ratio,
                    losses=evaluation.losses,
                    digital_losses=run.reference.losses,
                    accuracies=evaluation.accuracies,
                    digital_accuracies=run.reference.accuracies,
                    reprogram_ratio=0.0,
                    n_reprogrammed=0,
                    time_s=age,
                    step=index,
                )
                for index, (age, evaluation) in enumerate(
                    zip(run.deployment_ages_s, evaluations, strict=True)
                )
            )
        return TrainingMetrics(
            step=state.step - 1,
            n_steps=self.n_steps,
            training_energy_ratio=step_pj / run.training_digital_pj,
            deployment=deployment,
        )

    def _observation(self, state: TrainingState) -> np.ndarray:
        run = self.run
        measured = state.measured
        chunk = state.chunk
        zeros_layers = np.zeros(self.n_layers)
        placement = np.array(state.placement, dtype=float)
        return self.observation_layout.build(
            {
                "is_analog": placement,
                "analog_time": np.array(state.analog_steps) / self.n_steps,
                "noise": measured.noise,
                "sensitivity": measured.sensitivity,
                "gradient_norm": zeros_layers if chunk is None else chunk.gradient_norms,
                "weight_change": zeros_layers if chunk is None else 100 * chunk.weight_changes,
                "digital_energy_share": run.energy_shares[:, 0],
                "analog_energy_share": run.energy_shares[:, 1],
                "training_digital_share": run.training_shares[:, 0],
                "training_analog_share": run.training_shares[:, 1],
                "train_loss": measured.val_losses if chunk is None else chunk.train_losses,
                "val_loss": measured.val_losses,
                "deployed_loss": measured.deployed_losses,
                "training_energy": state.energy_pj / run.training_digital_pj,
                "energy_ratio": run.inference_energy_ratio(state.placement),
                "steps_left": 1.0 - state.step / self.n_steps,
                "analog_fraction": float(placement.mean()),
            }
        )

    def _info(
        self,
        state: TrainingState,
        reward: float,
        terms: dict[str, float],
        metrics: TrainingMetrics | None = None,
        deployment: tuple[Evaluation, ...] = (),
    ) -> dict[str, Any]:
        run = self.run
        analog = list(state.placement)
        info: dict[str, Any] = {
            "step": state.step - 1,
            "samples": state.step * run.samples_per_step,
            "chip": self._chip,
            "placement": [ACTION_NAMES[ANALOG if a else DIGITAL] for a in analog],
            "analog": analog,
            "rolled_back": state.rolled_back,
            "train_losses": None if state.chunk is None else state.chunk.train_losses.tolist(),
            "val_losses": state.measured.val_losses.tolist(),
            "deployed_losses_monitor": state.measured.deployed_losses.tolist(),
            "noise": state.measured.noise.tolist(),
            "sensitivity": state.measured.sensitivity.tolist(),
            "training_energy_pj": 0.0 if state.step_energy is None else state.step_energy.total_pj,
            "training_energy_ratio": 0.0 if metrics is None else metrics.training_energy_ratio,
            "training_energy_spent": state.energy_pj / run.training_digital_pj,
            "training_energy_breakdown_pj": (
                {} if state.step_energy is None else state.step_energy.as_dict()
            ),
            "energy_ratio": run.inference_energy_ratio(state.placement),
            "digital_accuracies": run.reference.accuracies.tolist(),
            "digital_losses": run.reference.losses.tolist(),
            "reward": reward,
            "reward_terms": terms,
        }
        if deployment:
            info["deployment_ages_s"] = list(run.deployment_ages_s)
            info["deployed_accuracies"] = [e.accuracies.tolist() for e in deployment]
            info["deployed_losses"] = [e.losses.tolist() for e in deployment]
        return info
