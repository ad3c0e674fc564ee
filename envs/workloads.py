"""Request streams: how many inferences each decision step serves, and for which task.

A *streaming* scenario (``envs.scenarios``) serves a stream of inference requests instead of a
fixed batch per step. Its :class:`Workload` is a seeded generator: at every ``reset`` the
environment draws one :class:`RequestStream` for the whole deployment from its own
``np_random``, so the same seed gives the same traffic, and a policy sees only the traffic
already served (the observation's ``load``, ``recent_load`` and ``task_mix``), never the draws to
come.

The generator, per step ``k`` covering the interval ``(t_{k-1}, t_k]``:

* **Daily cycle.** The expected volume is ``reference x profile(h) x day_scale[d] x
  duration / mean_duration``, where ``reference`` is the timeline's ``inferences_per_step``,
  ``h`` the clock hour at the middle of the interval (the deployment starts at
  ``start_hour``), and ``profile`` a quiet night (``night_level``) plus a Gaussian bump per peak
  (``peak_hours``, ``peak_widths_h``, ``peak_heights``, circular in the hour), scaled so its mean
  over a day is 1. Each day ``d`` has its own level, ``day_scale[d] ~ LogNormal(0,
  day_sigma)``.
* **Bursts.** Each day has ``Poisson(burst_rate_per_day)`` bursts, each starting at a uniform
  hour of ``burst_window_h`` and lasting a uniform ``burst_hours``; a step whose middle falls in
  a burst has ``burst_factor`` times the volume, and the burst task (the last one: the binary
  task of the paper's network) dominates its mix (``mix_burst``).
* **Volume and mix.** The step serves ``Poisson(expected)`` requests, split between the tasks by
  a multinomial draw with the hour's mix: ``mix_night`` from ``night_hours[0]`` to
  ``night_hours[1]``, ``mix_day`` otherwise, ``mix_burst`` in a burst.
* **Real inputs.** The requests are the deployment's evaluation images in a per-episode random
  order (a permutation of the batch, cycled when the traffic exceeds it): step ``k`` serves the
  next ``volume[k]`` images of that order, the first ``requests[k, 0]`` of them as task-0
  requests, the next ``requests[k, 1]`` as task-1 requests, and so on. The environment scores
  each task on exactly the images it served (``Evaluation.correct``).

Every default of :data:`WORKLOADS` is documented on the workload; ``python -m envs.workloads``
prints one drawn day.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hybrid.units import SECONDS_PER_HOUR

HOURS_PER_DAY = 24.0
PROFILE_GRID = 1440
"""Points (one per minute) of the day over which the daily profile is normalised to mean 1."""


@dataclass(frozen=True)
class RequestStream:
    """One episode's traffic, drawn by :meth:`Workload.draw`.

    Attributes:
        volumes: requests served in each step.
        requests: per step and task, the requests of that task (rows sum to ``volumes``).
        bursts: per step, whether it falls in a burst.
        hours: per step, the clock hour at its start (when the action is chosen), in [0, 24).
        order: the order in which the evaluation images arrive (a permutation of the batch).
    """

    volumes: np.ndarray
    requests: np.ndarray
    bursts: np.ndarray
    hours: np.ndarray
    order: np.ndarray

    @property
    def n_steps(self) -> int:
        """Steps of the deployment."""
        return int(self.volumes.size)

    def served(self, step: int) -> tuple[np.ndarray, ...]:
        """Per task, the indices (into the evaluation batch) of the images step ``step`` serves
        as that task's requests."""
        start = int(self.volumes[:step].sum())
        counts = self.requests[step]
        positions = start + np.arange(int(counts.sum()))
        images = self.order[positions % self.order.size]
        bounds = np.concatenate([[0], np.cumsum(counts)])
        return tuple(images[bounds[t] : bounds[t + 1]] for t in range(counts.size))

    def mix(self, step: int) -> np.ndarray:
        """Share of each task in step ``step``'s requests (equal shares if it served none)."""
        counts = self.requests[step].astype(float)
        total = counts.sum()
        return counts / total if total > 0 else np.full(counts.size, 1.0 / counts.size)


@dataclass(frozen=True)
class Workload:
    """A seeded generator of request streams (see the module docstring for the model).

    Attributes:
        name: the name scenarios use.
        description: one line on what it models.
        start_hour: clock hour at ``t = 0`` (0 = the deployment starts at midnight).
        night_level: the profile's floor, relative to its peaks' height of about 1 before
            normalisation; sets how quiet the night is.
        peak_hours: clock hours of the daily peaks.
        peak_widths_h: standard deviation of each peak, hours.
        peak_heights: height of each peak above the floor, before normalisation.
        day_sigma: standard deviation of log(day level): how much one day's traffic differs
            from another's.
        burst_rate_per_day: expected bursts per day (Poisson).
        burst_window_h: (first, last) clock hour at which a burst may start.
        burst_hours: (shortest, longest) burst, hours.
        burst_factor: volume multiplier during a burst.
        night_hours: (start, end) clock hours of the night mix.
        mix_day: share of each task's requests by day (one per task; the paper's network:
            10-class task, binary task).
        mix_night: the same at night.
        mix_burst: the same during a burst (the binary task dominates).
    """

    name: str
    description: str
    start_hour: float = 0.0
    night_level: float = 0.08
    peak_hours: tuple[float, ...] = (10.0, 19.0)
    peak_widths_h: tuple[float, ...] = (2.5, 2.0)
    peak_heights: tuple[float, ...] = (1.0, 0.8)
    day_sigma: float = 0.15
    burst_rate_per_day: float = 1.0
    burst_window_h: tuple[float, float] = (8.0, 20.0)
    burst_hours: tuple[float, float] = (2.0, 4.0)
    burst_factor: float = 2.5
    night_hours: tuple[float, float] = (0.0, 6.0)
    mix_day: tuple[float, ...] = (0.65, 0.35)
    mix_night: tuple[float, ...] = (0.5, 0.5)
    mix_burst: tuple[float, ...] = (0.15, 0.85)

    def __post_init__(self) -> None:
        if not 0 <= self.start_hour < HOURS_PER_DAY:
            raise ValueError(f"workload {self.name}: start_hour must be in [0, 24)")
        if not len(self.peak_hours) == len(self.peak_widths_h) == len(self.peak_heights):
            raise ValueError(f"workload {self.name}: give one width and one height per peak hour")
        if self.night_level <= 0 or min(self.peak_widths_h, default=1) <= 0:
            raise ValueError(f"workload {self.name}: night_level and peak widths must be > 0")
        for name in ("day_sigma", "burst_rate_per_day"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"workload {self.name}: {name} must be >= 0")
        if not self.burst_factor > 0:
            raise ValueError(f"workload {self.name}: burst_factor must be > 0")
        mixes = (self.mix_day, self.mix_night, self.mix_burst)
        if len({len(mix) for mix in mixes}) != 1:
            raise ValueError(f"workload {self.name}: the three mixes need one share per task")
        for mix in mixes:
            if min(mix) < 0 or not math.isclose(sum(mix), 1.0, abs_tol=1e-9):
                raise ValueError(
                    f"workload {self.name}: a mix is shares >= 0 summing to 1, got {mix}"
                )

    @property
    def n_tasks(self) -> int:
        """Tasks the mixes describe."""
        return len(self.mix_day)

    def profile(self, hours: np.ndarray | float) -> np.ndarray:
        """Expected volume at clock hour ``hours`` relative to the daily mean (mean 1 over a
        day)."""
        return self._raw_profile(np.asarray(hours, dtype=float)) / self._profile_mean()

    def _raw_profile(self, hours: np.ndarray) -> np.ndarray:
        value = np.full(hours.shape, self.night_level)
        for peak, width, height in zip(
            self.peak_hours, self.peak_widths_h, self.peak_heights, strict=True
        ):
            distance = np.abs((hours - peak + 12.0) % HOURS_PER_DAY - 12.0)
            value = value + height * np.exp(-0.5 * (distance / width) ** 2)
        return value

    def _profile_mean(self) -> float:
        grid = np.arange(PROFILE_GRID) * HOURS_PER_DAY / PROFILE_GRID
        return float(self._raw_profile(grid).mean())

    def check_tasks(self, n_tasks: int) -> None:
        """A one-line ValueError unless the mixes have one share per task of the model."""
        if self.n_tasks != n_tasks:
            raise ValueError(
                f"workload {self.name} mixes {self.n_tasks} tasks but the model has {n_tasks}: "
                "give a Workload with one share per task"
            )

    def draw(
        self,
        rng: np.random.Generator,
        times_s: Sequence[float],
        reference_volume: float,
        batch_size: int,
    ) -> RequestStream:
        """One deployment's traffic for steps ending at ``times_s``, ``reference_volume``
        requests in a step of mean length at the daily mean, images from a batch of
        ``batch_size``. Every draw comes from ``rng`` (the environment's ``np_random``)."""
        ends = np.asarray(times_s, dtype=float)
        starts = np.concatenate([[0.0], ends[:-1]])
        durations = ends - starts
        clock_start_h = self.start_hour + starts / SECONDS_PER_HOUR
        clock_mid_h = self.start_hour + (starts + ends) / 2.0 / SECONDS_PER_HOUR
        days = (clock_mid_h // HOURS_PER_DAY).astype(int)
        n_days = int(days.max()) + 1
        day_scale = np.exp(rng.normal(0.0, self.day_sigma, size=n_days))
        bursts = np.zeros(ends.size, dtype=bool)
        for day in range(n_days):
            for _ in range(int(rng.poisson(self.burst_rate_per_day))):
                begin = day * HOURS_PER_DAY + rng.uniform(*self.burst_window_h)
                length = rng.uniform(*self.burst_hours)
                bursts |= (clock_mid_h >= begin) & (clock_mid_h < begin + length)
        hour_of_day = clock_mid_h % HOURS_PER_DAY
        expected = (
            reference_volume
            * self.profile(hour_of_day)
            * day_scale[days]
            * np.where(bursts, self.burst_factor, 1.0)
            * durations
            / durations.mean()
        )
        volumes = rng.poisson(expected).astype(int)
        night = (hour_of_day >= self.night_hours[0]) & (hour_of_day < self.night_hours[1])
        requests = np.empty((ends.size, self.n_tasks), dtype=int)
        for step, volume in enumerate(volumes):
            mix = self.mix_night if night[step] else self.mix_day
            if bursts[step]:
                mix = self.mix_burst
            requests[step] = rng.multinomial(volume, mix)
        order = rng.permutation(int(batch_size))
        return RequestStream(volumes, requests, bursts, clock_start_h % HOURS_PER_DAY, order)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return dataclasses.asdict(self)


WORKLOADS: dict[str, Workload] = {
    "daily-cycle": Workload(
        "daily-cycle",
        "An edge camera's day: a quiet night (about 1/8 of the daily mean), a morning and an "
        "evening peak (about twice it), day-to-day variation of 15%, and about one burst a day "
        "(2.5x the volume for 2-4 hours) in which the binary task is 85% of the requests.",
    ),
}
"""Named workloads, used by the streaming scenarios."""


def get_workload(spec: str | Workload | None) -> Workload | None:
    """A workload by name (or itself, or None); an unknown name lists the known ones."""
    if spec is None or isinstance(spec, Workload):
        return spec
    if spec not in WORKLOADS:
        raise ValueError(f"unknown workload {spec!r}; known: {', '.join(WORKLOADS)}")
    return WORKLOADS[spec]


def _show(name: str = "daily-cycle") -> None:
    """Print one drawn deployment of ``name`` (two-hour steps over three days)."""
    workload = WORKLOADS[name]
    times = np.arange(1, 37) * 2 * SECONDS_PER_HOUR
    stream = workload.draw(np.random.default_rng(0), times, 150.0, 360)
    for step in range(stream.n_steps):
        mix = "/".join(f"{share:.2f}" for share in stream.mix(step))
        burst = " burst" if stream.bursts[step] else ""
        print(f"{stream.hours[step]:5.1f} h  {stream.volumes[step]:4d} requests  mix {mix}{burst}")


if __name__ == "__main__":
    _show()
