"""The rules written for request streams on a chip with few tiles: ``noise-refresh`` and
``scheduled-refresh`` (deployable: they read only the observation and the static layer facts).

They keep a set of layers on tiles (those that save the most energy per tile, as many as fit)
and decide, step by step, when to refresh (reprogram) them against the traffic. Registered by
name like every heuristic (:mod:`agents.heuristics` imports this module, after its own rules,
so the registry's order is unchanged); their defaults are tuned by
``benchmarks/tune_heuristics.py`` on training chips of a streaming scenario.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.base import Policy, register
from envs.actions import ANALOG, DIGITAL, REPROGRAM
from envs.partition_env import HybridPartitionEnv
from hybrid.energy import substrate_cost_table


def _tile_set(env: HybridPartitionEnv, layers: int | None) -> np.ndarray:
    """The layers a stream rule keeps on tiles: those that save energy when analog, in order of
    energy saved per tile, while they fit the chip's budget (all of them without a budget), and
    at most the first ``layers`` of them (None: no limit)."""
    if env.tiles is not None:
        chosen = env.tiles.initial()
        order = [i for i in env.tiles.priority if chosen[i]]
    else:
        costs = substrate_cost_table(env.specs, env.energy_table)
        saving = costs[:, 0] - costs[:, 1]
        order = [int(i) for i in np.argsort(-saving, kind="stable") if saving[i] > 0]
    tile_set = np.zeros(env.n_layers, dtype=bool)
    tile_set[order[:layers]] = True
    return tile_set


def _check_layers(name: str, layers: int | None) -> int | None:
    if layers is None:
        return None
    if isinstance(layers, bool) or not float(layers).is_integer() or layers < 1:
        raise ValueError(f"{name} layers must be an integer >= 1 (or None: all that fit)")
    return int(layers)


def _clock_hour(view: Any) -> float:
    """The clock hour the observation's ``clock_cos``/``clock_sin`` encode, in [0, 24)."""
    angle = np.arctan2(2.0 * view["clock_sin"] - 1.0, 2.0 * view["clock_cos"] - 1.0)
    return float(np.mod(angle * 24.0 / (2.0 * np.pi), 24.0))


STREAM_RULES: tuple[str, ...] = ("noise-refresh", "scheduled-refresh")
"""The rules written for request streams on a chip with few tiles: comparisons list them by
default only in scenarios with a workload (elsewhere they are all-analog with refreshes)."""


@register("noise-refresh")
class NoiseRefreshPolicy(Policy):
    """A practitioner's rule for a request stream: refresh a tile when its measured noise
    crosses a threshold, but only while the traffic can pay for it.

    The tile set is the layers that save energy when analog, in order of energy saved per tile,
    as many as the chip's tiles hold (the chip's initial placement), at most ``layers`` of them.
    At each step, for each layer of the set, from the observation only:

    * on tiles, measured noise (``noise``) at most ``refresh_noise``: analog;
    * on tiles, noise above it, and the last step's load (``load``, requests over the
      reference volume) at least ``min_load``: reprogram;
    * on tiles, noise above it at lower load: digital (its tiles freed until traffic returns);
    * without tiles (``resident``): programmed (analog) once the load is at least
      ``min_load``, digital until then.

    Layers outside the set run digital. Without a workload the load counts as 1, and without a
    tile budget every layer has its tiles. Deployable: it reads the measured noise, the
    placement and the traffic already served.

    Source: the refresh-on-degradation practice of analog in-memory computing (periodic or
    triggered reprogramming against drift, Joshi et al., Nature Communications 2020; Le Gallo et
    al., Nature Electronics 2023), with the refresh deferred to busy hours so that its energy is
    amortised. Defaults: the best of ``benchmarks/tune_heuristics.py``'s sweep on the training
    chips of ``stream-fast-drift``.

    Args:
        refresh_noise: measured relative output noise above which a tile is refreshed.
        min_load: load (last step's requests / reference volume) below which refreshes wait.
        layers: at most this many layers on tiles, those saving most per tile first (None:
            as many as fit).
    """

    def __init__(
        self, refresh_noise: float = 0.55, min_load: float = 1.0, layers: int | None = None
    ) -> None:
        super().__init__()
        self.refresh_noise = float(refresh_noise)
        self.min_load = float(min_load)
        self.layers = _check_layers("noise-refresh", layers)

    def bind(self, env: Any) -> NoiseRefreshPolicy:
        """Work out the tile set."""
        super().bind(env)
        self._set = _tile_set(self.env, self.layers)
        return self

    def act(self, observation: np.ndarray) -> np.ndarray:
        """Analog, reprogram or digital per layer of the tile set; digital elsewhere."""
        env = self._require_env()
        view = env.observation_layout.view(observation)
        busy = (view["load"] if "load" in view else 1.0) >= self.min_load
        resident = view["resident"] > 0.5 if "resident" in view else np.ones(env.n_layers, bool)
        noisy = view["noise"] > self.refresh_noise
        action = np.full(env.n_layers, DIGITAL, dtype=np.int64)
        refresh = REPROGRAM if env.n_actions > REPROGRAM else ANALOG
        action[self._set & resident & ~noisy] = ANALOG
        if busy:
            action[self._set & resident & noisy] = refresh
            action[self._set & ~resident] = ANALOG
        return action


@register("scheduled-refresh")
class ScheduledRefreshPolicy(Policy):
    """A maintenance window: reprogram the tile set once a day at a fixed clock hour.

    The tile set is chosen as by ``noise-refresh`` (at most ``layers`` layers). At the first
    step that starts at or after ``refresh_hour`` each day (clock from the observation's
    ``clock_cos``/``clock_sin``) every layer of the set is reprogrammed (programmed, if it has no
    tiles). Between refreshes a layer of the set on tiles runs analog while its measured noise
    is at most ``max_noise``, and digital (its tiles freed) once it exceeds it, until the next
    window.
    Without a workload (no clock in the observation) it never refreshes. Deployable: it reads
    the clock and the measured noise.

    Source: scheduled recalibration in a low-traffic window, the usual operations practice for
    drifting analog hardware (Joshi et al., Nature Communications 2020 recalibrate PCM
    periodically). Defaults: the best of ``benchmarks/tune_heuristics.py``'s sweep on the
    training chips of ``stream-fast-drift``.

    Args:
        refresh_hour: clock hour of the daily refresh (0-24).
        max_noise: measured relative output noise above which a layer runs digital.
        layers: at most this many layers on tiles, those saving most per tile first (None:
            as many as fit).
    """

    def __init__(
        self, refresh_hour: float = 6.0, max_noise: float = 0.6, layers: int | None = None
    ) -> None:
        super().__init__()
        if not 0 <= refresh_hour < 24:
            raise ValueError(
                f"scheduled-refresh refresh_hour must be a clock hour in [0, 24), got "
                f"{refresh_hour!r}"
            )
        self.refresh_hour = float(refresh_hour)
        self.max_noise = float(max_noise)
        self.layers = _check_layers("scheduled-refresh", layers)
        self._previous_hour: float | None = None

    def bind(self, env: Any) -> ScheduledRefreshPolicy:
        """Work out the tile set."""
        super().bind(env)
        self._set = _tile_set(self.env, self.layers)
        return self

    def reset(self) -> None:
        """A new deployment: its tiles were just programmed."""
        self._previous_hour = None

    def act(self, observation: np.ndarray) -> np.ndarray:
        """Reprogram the set when the clock passes the window, else analog while quiet enough."""
        env = self._require_env()
        view = env.observation_layout.view(observation)
        resident = view["resident"] > 0.5 if "resident" in view else np.ones(env.n_layers, bool)
        quiet = self._set & resident & (view["noise"] <= self.max_noise)
        action = np.where(quiet, ANALOG, DIGITAL).astype(np.int64)
        if "clock_cos" not in view:
            return action
        hour = _clock_hour(view)
        previous, self._previous_hour = self._previous_hour, hour
        if previous is not None:
            # The window lies in (previous, hour]; 1e-3 h absorbs the float32 clock.
            elapsed = (hour - previous) % 24.0
            if 1e-3 < (self.refresh_hour - previous) % 24.0 <= elapsed + 1e-3:
                action[self._set] = REPROGRAM if env.n_actions > REPROGRAM else ANALOG
        return action
