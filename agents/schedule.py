"""The best fixed schedule: a deployable rule that reads nothing but the clock.

``schedule`` runs each layer analog for its first ``k`` decision steps and digital after them
(optionally reprogramming it every ``r`` steps while it is analog). It never looks at the chip:
the same placements on every chip of a scenario, so it is the reference a policy that reacts to
what its chip does has to beat. Its integers are tuned by :func:`tune_schedule` (coordinate
descent on the training chips with the run's own reward), which ``benchmarks/tune_heuristics.py``
runs with the other rules' sweeps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from agents.base import Policy, register
from envs.actions import ANALOG, DIGITAL, REPROGRAM
from hybrid.energy import substrate_cost_table

__all__ = ["DEFAULT_ANALOG_STEPS", "FixedSchedulePolicy", "schedule_candidates", "tune_schedule"]

DEFAULT_ANALOG_STEPS: dict[str, int] = {
    "conv1": 1,
    "conv2": 0,
    "fc1": 10,
    "fc2": 8,
    "fc3": 1,
    "fc4": 0,
}
"""Steps each layer of the paper's digits network runs analog by default: the choice of
``benchmarks/tune_heuristics.py --policies schedule`` on the training chips of the default
scenario (strong-drift, 12 log-spaced steps from 1 s to a year): fc1 analog for 16 days, fc2
for 3.3 days, conv1 and fc3 for the first second, conv2 and fc4 always digital (mean return
-8.32 on reset seeds 0-4 of chips 0-15, all-digital -12; 180 settings in 13 s). A layer not
named runs digital from the start."""


def _per_layer(
    name: str, values: Mapping[str, int] | Sequence[int] | None, layers: Sequence[str]
) -> np.ndarray:
    """Per-layer integers from a mapping by layer name (missing layers: 0) or a sequence in
    layer order; a wrong name or length is a one-line error."""
    if values is None:
        return np.zeros(len(layers), dtype=np.int64)
    if isinstance(values, Mapping):
        unknown = sorted(set(values) - set(layers))
        if unknown:
            raise ValueError(
                f"schedule {name} names unknown layer(s) {unknown}; layers: {', '.join(layers)}"
            )
        result = [values.get(layer, 0) for layer in layers]
    else:
        result = list(values)
        if len(result) != len(layers):
            raise ValueError(
                f"schedule {name} has {len(result)} values for {len(layers)} layers: give one per "
                f"layer ({', '.join(layers)}) or a mapping by name"
            )
    for value in result:
        if isinstance(value, bool) or not float(value).is_integer() or value < 0:
            raise ValueError(f"schedule {name} must be whole numbers of steps >= 0, got {value!r}")
    return np.array([int(v) for v in result], dtype=np.int64)


@register("schedule")
class FixedSchedulePolicy(Policy):
    """Per layer, analog for the first ``analog_steps`` steps of the deployment, then digital;
    deployable, and blind to the chip.

    At decision step ``s`` (0 for the first action after reset), layer ``i`` runs analog if
    ``s < analog_steps[i]``, else digital for the rest of the episode. With
    ``reprogram_every[i] = r > 0`` (and the reprogram action in the action space) an analog
    layer is reprogrammed at steps ``r, 2r, ..``. The rule reads only its own step counter (the
    clock): no observation, no measurement, the same placements on every chip. It is what a
    fixed maintenance plan written in advance can do, and the reference the learned policy's
    per-chip reactions are measured against.

    Source: the fixed schedule the paper's notebook applies (layers moved to digital in a fixed
    order; docs/references.md), with the moments chosen for the deployment instead of
    hand-set. Default: ``DEFAULT_ANALOG_STEPS``, tuned for the default digits network and
    scenario; ``benchmarks/tune_heuristics.py`` tunes it for another model, reward or scenario
    (:func:`tune_schedule`).

    Args:
        analog_steps: steps each layer runs analog from the start, as a mapping by layer name
            (a layer not named: 0, digital from the start) or one integer per layer; None: the
            default (by the paper network's layer names).
        reprogram_every: per layer, reprogram it every this many steps while analog (0 or a
            layer not named: never); same forms as ``analog_steps``.
    """

    def __init__(
        self,
        analog_steps: Mapping[str, int] | Sequence[int] | None = None,
        reprogram_every: Mapping[str, int] | Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        self.analog_steps = DEFAULT_ANALOG_STEPS if analog_steps is None else analog_steps
        self.reprogram_every = reprogram_every
        self._step = 0

    def bind(self, env: Any) -> FixedSchedulePolicy:
        """Resolve the per-layer integers against the environment's layers."""
        super().bind(env)
        names = list(self.env.layer_names)
        analog_steps = self.analog_steps
        if analog_steps is DEFAULT_ANALOG_STEPS:
            # Another model's layers: the default names only the layers it shares.
            analog_steps = {k: v for k, v in analog_steps.items() if k in names}
        self._analog_steps = _per_layer("analog_steps", analog_steps, names)
        self._reprogram_every = _per_layer("reprogram_every", self.reprogram_every, names)
        return self

    def reset(self) -> None:
        """A new deployment: the clock restarts."""
        self._step = 0

    def act(self, observation: np.ndarray) -> np.ndarray:
        """The placement the schedule gives the current step (the observation is not read)."""
        env = self._require_env()
        step, self._step = self._step, self._step + 1
        return self.action_at(step, env.n_actions > REPROGRAM)

    def action_at(self, step: int, reprogram: bool = True) -> np.ndarray:
        """The action of decision step ``step`` (0-based)."""
        analog = step < self._analog_steps
        action = np.where(analog, ANALOG, DIGITAL).astype(np.int64)
        if reprogram and step > 0:
            period = self._reprogram_every
            refresh = analog & (period > 0) & (step % np.maximum(period, 1) == 0)
            action[refresh] = REPROGRAM
        return action

    def setting(self) -> dict[str, dict[str, int]]:
        """The parameters as a JSON-friendly mapping by layer name (``make_policy`` takes it)."""
        names = self._require_env().layer_names
        setting = {"analog_steps": dict(zip(names, map(int, self._analog_steps), strict=True))}
        if np.any(self._reprogram_every > 0):
            setting["reprogram_every"] = dict(
                zip(names, map(int, self._reprogram_every), strict=True)
            )
        return setting


def schedule_candidates(n_steps: int, most: int = 16) -> list[int]:
    """The step counts tried for one layer: every count ``0..n_steps`` on a short timeline,
    else ``most`` counts spread evenly over it (0 and ``n_steps`` always among them)."""
    if n_steps + 1 <= most:
        return list(range(n_steps + 1))
    return sorted({int(round(v)) for v in np.linspace(0, n_steps, most)})


REPROGRAM_PERIODS: tuple[int, ...] = (0, 1, 2, 3, 4, 6, 12)
"""Reprogramming periods (steps; 0 = never) tried per layer where the tuning includes them."""


def tune_schedule(
    env: Any,
    evaluate: Callable[[dict[str, Any]], float],
    reprogram: bool | None = None,
    max_rounds: int = 3,
    log: Callable[[str], None] | None = None,
    start: Mapping[str, Any] | None = None,
    max_settings: int | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The best schedule by coordinate descent on ``evaluate`` (a setting's mean return on the
    training chips).

    Starting from ``start`` (a setting; None: all digital, every ``analog_steps`` 0, so the
    result is never worse than all-digital on those episodes), each layer in turn, in order of
    the energy it saves when analog, gets the step count (``schedule_candidates``) that
    maximises ``evaluate`` with the others held; rounds repeat until none changes or
    ``max_rounds`` is reached. With ``reprogram`` (None: where the action space has the
    reprogram action and the timeline is linear, so a period means a fixed interval) each
    analog layer's reprogramming period (``REPROGRAM_PERIODS``) is descended the same way after
    its step count. A change is kept only if it improves the mean return by more than 1e-9
    (ties keep the earlier value). With ``max_settings`` (a tuning budget: settings evaluated,
    each one episode per reset seed) the descent stops when that many were evaluated and
    returns the best so far; on a deep network a full round costs hours, and the layers are
    visited in order of the energy they save, so a budget spends it where the most is at stake.

    Returns:
        the best setting (``make_policy("schedule", env, **setting)``) and one row per
        evaluated setting (its parameters, mean return and wall time).
    """
    env = getattr(env, "unwrapped", env)
    names = list(env.layer_names)
    n_steps = int(env.timeline.n_steps)
    if reprogram is None:
        reprogram = env.n_actions > REPROGRAM and env.timeline.spacing == "linear"
    costs = substrate_cost_table(env.specs, env.energy_table)
    order = [names[i] for i in np.argsort(-(costs[:, 0] - costs[:, 1]), kind="stable")]
    steps = dict.fromkeys(names, 0)
    periods = dict.fromkeys(names, 0)
    if start is not None:
        steps.update(start.get("analog_steps", {}))
        periods.update(start.get("reprogram_every", {}) or {})
    rows: list[dict[str, Any]] = []
    cache: dict[tuple, float] = {}
    if max_settings is not None and max_settings < 1:
        raise ValueError(f"max_settings must be at least 1, got {max_settings}")

    class _BudgetSpent(Exception):
        """The budget of evaluated settings is spent."""

    def score() -> float:
        key = (tuple(steps.values()), tuple(periods.values()))
        if key not in cache:
            if max_settings is not None and len(rows) >= max_settings:
                raise _BudgetSpent
            setting = {"analog_steps": dict(steps), "reprogram_every": dict(periods)}
            start = time.perf_counter()
            cache[key] = float(evaluate(setting))
            rows.append({**setting, "return": cache[key], "wall_s": time.perf_counter() - start})
        return cache[key]

    def descend(values: dict[str, int], layer: str, candidates: Sequence[int]) -> None:
        best_value, best = values[layer], score()
        try:
            for candidate in candidates:
                values[layer] = candidate
                value = score()
                if value > best + 1e-9:
                    best_value, best = candidate, value
        finally:  # the budget ran out mid-layer: keep the best value seen
            values[layer] = best_value

    try:
        for round_index in range(max_rounds):
            before = (dict(steps), dict(periods))
            for layer in order:
                descend(steps, layer, schedule_candidates(n_steps))
                if reprogram and steps[layer] > 1:
                    descend(periods, layer, [p for p in REPROGRAM_PERIODS if p < steps[layer]])
                elif periods[layer]:
                    periods[layer] = 0
            if log is not None:
                refresh = f" reprogram every {periods}" if reprogram else ""
                log(f"  round {round_index + 1}: {steps}{refresh} return {score():.3f}")
            if (steps, periods) == before:
                break
    except _BudgetSpent:
        if log is not None:
            log(f"  budget of {max_settings} settings spent: {steps} return {score():.3f}")
    setting: dict[str, Any] = {"analog_steps": dict(steps)}
    if any(periods.values()):
        setting["reprogram_every"] = dict(periods)
    return setting, rows
