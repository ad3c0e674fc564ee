"""What a controller may see and ask of a running deployment: the observation, and the
queries deployable rules use (``measure``, ``cost_ratios``, the stream so far, ...).

:class:`ControllerView` is a part of :class:`envs.partition_env.HybridPartitionEnv` (which
inherits it): the environment's transition lives there, the controller's side of it here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from envs.actions import DIGITAL, REPROGRAM
from envs.chips import programming_chip
from envs.observation import RECENT_STEPS
from envs.rewards import StepMetrics
from envs.workloads import HOURS_PER_DAY, RequestStream
from hybrid.simulator import Evaluation, LayerState
from hybrid.units import SECONDS_PER_HOUR

TileState = tuple[int, float]
"""Where a layer's analog tiles are: (noise realisation of their last programming, age in s)."""


class ControllerView:
    """The observation and the controller's queries of ``HybridPartitionEnv`` (a mixin: it
    reads the environment's state)."""

    def preview(self, action: Any) -> tuple[float, dict[str, Any]]:
        """Reward and info the action would get now, without taking the step (for the oracle)."""
        if self._last is None or self._step >= self.timeline.n_steps:
            raise RuntimeError("preview needs a running episode")
        transition = self._transition(self.check_action(action))
        return transition.reward, transition.info

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
        is written). On a chip with a tile budget the action is projected first, and a layer
        without tiles that would be programmed is measured like a reprogrammed one, as the last
        tiles it had (a draw that will not be used) at that age. Returns ``losses`` and
        ``accuracies`` per task and the all-digital ``digital_losses``/``digital_accuracies`` on
        the same calibration images.
        """
        if self._last is None:
            raise RuntimeError("measure needs a running episode (call reset() first)")
        action = self._projected(self.check_action(action))
        now = self._now_s()
        interval = float(self._times[self._step]) - now if self._step < len(self._times) else 0.0
        states: list[LayerState] = [None] * self.n_layers
        for index in np.flatnonzero(action != DIGITAL):
            chip, age = self._layer_state(int(index), now)
            fresh = action[index] == REPROGRAM or not self._resident[index]
            states[index] = (chip, min(age, interval) if fresh else age)
        measured = self.evaluator.evaluate(states, batch="calibration")
        digital = self.deployment.calibration_digital
        return {
            "losses": measured.losses,
            "accuracies": measured.accuracies,
            "digital_losses": digital.losses,
            "digital_accuracies": digital.accuracies,
        }

    def cost_ratios(self, action: Any) -> tuple[float, float]:
        """The action's energy per inference and amortised reprogramming energy, both relative
        to all-digital (``energy_ratio`` and ``reprogram_ratio`` of the step's metrics), without
        evaluating the model. On a chip with a tile budget, the action as projected, and every
        programming it implies (layers moved onto tiles) counted."""
        action = self._projected(np.asarray(action))
        deployment = self.deployment
        energy = deployment.energy(action != DIGITAL).total_pj / deployment.energy_digital_pj
        reprogram_pj = float(deployment.reprogram_pj[self._programmed(action)].sum())
        return energy, reprogram_pj / deployment.serving_pj

    def coming_volume_ratio(self) -> float:
        """Requests the coming step will serve / ``timeline.inferences_per_step`` (1 without a
        workload): the factor of the coming step's energy term. Privileged: a deployed
        controller does not know the traffic to come; only references that preview (the
        oracle's exact pruning) use it."""
        if self._stream is None or self._step >= self.timeline.n_steps:
            return 1.0
        return float(self._stream.volumes[self._step]) / self.timeline.inferences_per_step

    @property
    def costs_depend_on_state(self) -> bool:
        """Whether an action's energy and reprogramming terms change during an episode (a tile
        budget: programming a layer without tiles; a workload: the step's traffic)."""
        return self.tiles is not None or self.workload is not None

    @property
    def resident(self) -> np.ndarray:
        """Per layer, whether it holds analog tiles now (all True without a tile budget)."""
        return self._resident.copy()

    @property
    def stream(self) -> RequestStream | None:
        """This episode's request stream (None without a workload). Privileged beyond the steps
        already served: policies read the traffic from the observation."""
        return self._stream

    def programming_id(self, chip: int, programming: int) -> int:
        """The noise realisation a layer's tiles carry after its ``programming``-th programming
        (0: the first, at t = 0) in an episode on ``chip``: the first entry of its
        ``hybrid.simulator.LayerState`` (``envs.chips.programming_chip`` in this pool). With an
        episode's chip and a layer's count of ``info["reprogrammed"]``, the draw it ran with."""
        varied = self.deployment.scenario.chip_variation is not None
        return programming_chip(chip, programming, self.chip_offset, self.chip_pool, varied)

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
        return self.deployment.all_digital.accuracies

    @property
    def energy_digital_pj(self) -> float:
        """Energy of one all-digital inference (pJ)."""
        return self.deployment.energy_digital_pj

    def _observation(
        self,
        tile_states: Sequence[TileState],
        evaluation: Evaluation,
        metrics: StepMetrics,
        analog: np.ndarray,
        resident: np.ndarray,
        steps_done: int,
    ) -> np.ndarray:
        ages = np.array(
            [state[1] if on else 0.0 for state, on in zip(tile_states, resident, strict=True)]
        )
        shares = self.deployment.energy_shares
        digital = self.deployment.all_digital
        noise = [
            self.meter.noise(i, s) if resident[i] else 0.0 for i, s in enumerate(tile_states)
        ]
        values: dict[str, Any] = {
            "is_analog": analog.astype(float),
            "drift_age": np.log10(1.0 + ages) / self._log_horizon,
            "noise": noise,
            "sensitivity": [
                self.meter.sensitivity(i, s, noise[i]) if resident[i] else 0.0
                for i, s in enumerate(tile_states)
            ],
            "digital_energy_share": shares[:, 0],
            "analog_energy_share": shares[:, 1],
            "mac_share": self.deployment.mac_shares,
            "loss": evaluation.losses,
            "accuracy": evaluation.accuracies,
            "excess_loss": np.maximum(evaluation.losses - digital.losses, 0.0),
            "energy_ratio": metrics.energy_ratio,
            "elapsed": np.log10(1.0 + metrics.time_s) / self._log_horizon,
            "steps_left": 1.0 - steps_done / self.timeline.n_steps,
            "analog_fraction": float(np.mean(analog)),
        }
        if self.tiles is not None:
            values["resident"] = resident.astype(float)
            values["tile_share"] = self.tiles.tiles / self.tiles.budget
            values["tile_occupancy"] = self.tiles.used(resident) / self.tiles.budget
        if self._stream is not None:
            values.update(self._traffic_features(steps_done))
        return self.observation_layout.build(values)

    def _traffic_features(self, steps_done: int) -> dict[str, Any]:
        """The stream features after ``steps_done`` steps: traffic served so far and the clock."""
        stream, reference = self._stream, self.timeline.inferences_per_step
        served = stream.volumes[:steps_done]
        recent = served[-RECENT_STEPS:]
        now_s = float(self._times[steps_done - 1]) if steps_done > 0 else 0.0
        hour = (self.workload.start_hour + now_s / SECONDS_PER_HOUR) % HOURS_PER_DAY
        angle = 2.0 * np.pi * hour / HOURS_PER_DAY
        return {
            "task_mix": stream.mix(steps_done - 1)
            if steps_done > 0
            else np.full(self.n_tasks, 1.0 / self.n_tasks),
            "load": float(served[-1]) / reference if steps_done > 0 else 0.0,
            "recent_load": float(recent.mean()) / reference if steps_done > 0 else 0.0,
            "clock_cos": (1.0 + np.cos(angle)) / 2.0,
            "clock_sin": (1.0 + np.sin(angle)) / 2.0,
        }
