"""Named deployment scenarios: the hardware a policy faces and the timeline it lives through.

Measured before this code was written, on the digits network: with the paper's own PCM
settings and global drift compensation, the small digits model loses nothing even with every
layer analog for a year, so the placement decision is trivial there (the right answer is "all
analog"); without compensation, or with stronger drift, accuracy holds for hours and collapses
after days, and the most sensitive layer is not the most expensive one. The default scenario is
one of the latter, where the decision is real.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.rewards import RewardWeights, StreamingRewardWeights
from hybrid.hardware import HardwareConfig, get_hardware
from hybrid.units import SECONDS_PER_DAY, SECONDS_PER_YEAR
from hybrid.variation import ChipVariation

TIME_DIGITS = 12
"""Significant digits of every step time. The simulator seeds each noise draw by the exact drift
age, and np.geomspace's last bit differs between CPUs (its vectorised log/exp), so unrounded
times drew other noise on another machine (docs/results replayed with 121 of 1200 steps
different, most at the one step whose time differed)."""


@dataclass(frozen=True)
class Timeline:
    """When the policy decides, over one deployment.

    Step ``k`` covers the deployment interval ``(t_{k-1}, t_k]`` (``t_{-1}`` = 0 s, when every
    layer was programmed). The action chosen at step ``k`` applies from the start of the
    interval: a reprogrammed layer is written at ``t_{k-1}``. The model is evaluated at the end of
    the interval, ``t_k``, its worst moment (drift only grows with age), so reprogramming cannot
    hide drift by being evaluated at age 0.

    Attributes:
        horizon_s: deployment length, seconds (default one year).
        n_steps: decision steps per episode.
        first_s: time of the first evaluation, seconds (log spacing only).
        spacing: ``"log"`` (geometric, seconds to a year) or ``"linear"`` (equal intervals).
        inferences_per_step: inferences served in each step; spreads the reprogramming energy.
    """

    horizon_s: float = SECONDS_PER_YEAR
    n_steps: int = 12
    first_s: float = 1.0
    spacing: str = "log"
    inferences_per_step: float = 1000.0

    def __post_init__(self) -> None:
        for name in ("horizon_s", "first_s", "inferences_per_step"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ValueError(f"timeline {name} must be a number, got {value!r}")
        if isinstance(self.n_steps, bool) or not isinstance(self.n_steps, numbers.Integral):
            raise ValueError(f"timeline n_steps must be an integer, got {self.n_steps!r}")
        if not 1 <= self.n_steps <= 500:
            raise ValueError(f"timeline n_steps must be in 1..500, got {self.n_steps}")
        if self.spacing not in ("log", "linear"):
            raise ValueError(f"timeline spacing must be 'log' or 'linear', got {self.spacing!r}")
        if not 0 < self.first_s <= self.horizon_s:
            raise ValueError("timeline needs 0 < first_s <= horizon_s")
        if not self.inferences_per_step > 0:
            raise ValueError("timeline inferences_per_step must be > 0")

    @property
    def times_s(self) -> np.ndarray:
        """End time of each step, seconds."""
        if self.spacing == "log":
            times = np.geomspace(self.first_s, self.horizon_s, self.n_steps)
        else:
            times = np.linspace(self.horizon_s / self.n_steps, self.horizon_s, self.n_steps)
        return np.array([float(f"{t:.{TIME_DIGITS}g}") for t in times])

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> Timeline:
        """A copy with some fields changed; an unknown field is a one-line error."""
        valid = [f.name for f in dataclasses.fields(self)]
        unknown = sorted(set(changes) - set(valid))
        if unknown:
            raise ValueError(f"unknown timeline field(s) {unknown}; valid: {', '.join(valid)}")
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Scenario:
    """A named combination of hardware and timeline, and for streaming scenarios a request
    stream and a chip with few tiles.

    Attributes:
        name: the name users pass as ``scenario=``.
        description: one line on what it models and why it exists.
        hardware: the analog hardware preset (or config).
        timeline: the deployment timeline.
        workload: a request stream (a name of ``envs.workloads.WORKLOADS``): each step serves
            a drawn number of requests with a drawn task mix, and is scored on them; None:
            every step serves ``timeline.inferences_per_step`` inferences scored on the whole
            evaluation batch.
        tile_budget: analog tiles on the chip (``envs.tiles``): layers compete for them,
            moving a layer onto tiles programs it and moving it off frees them; None: every
            layer has its own tiles for the whole deployment.
        reward: the scenario's default reward (None: ``envs.rewards.DEFAULT_REWARD_WEIGHTS``).
        discount: the discount factor ``train_agent.py`` uses unless ``--gamma`` is given:
            how far ahead this scenario's decisions pay off.
        chip_variation: how the chips of the scenario differ (``hybrid.variation``): each chip
            draws its own multipliers of the hardware's noise and drift from its number; None:
            every chip has the hardware's statistics (chips differ only in their noise draws).
    """

    name: str
    description: str
    hardware: str | HardwareConfig
    timeline: Timeline = Timeline()
    workload: str | None = None
    tile_budget: int | None = None
    reward: RewardWeights | None = None
    discount: float = 0.5
    chip_variation: ChipVariation | None = None

    def hardware_config(self) -> HardwareConfig:
        """The resolved hardware configuration."""
        return get_hardware(self.hardware)


STREAM_TIMELINE = Timeline(
    horizon_s=3 * SECONDS_PER_DAY, n_steps=36, spacing="linear", inferences_per_step=150.0
)
"""Three days in two-hour steps from midnight, 150 requests in a step at the daily mean (an edge
device serving about 75 requests an hour). At this volume reprogramming fc1 (217 all-digital
inferences' energy) pays back only over several steps of traffic; at data-centre volumes it is
negligible and the decision is per step again."""
STREAM_TILE_BUDGET = 3
"""Tiles of the streaming scenarios' chip: half of the six 256x256 tiles the paper's network
needs (one per layer), as real chips hold fewer tiles than the networks they serve. The three
layers that save the most energy per tile fit (fc1, fc2, conv2 analog: 0.244 of the all-digital
energy per inference, 97% of the largest possible saving; fc1 and fc2 alone: 0.359); the rest
compete for freed tiles, and a layer moved off its tiles must be programmed again."""
STREAM_REWARD = StreamingRewardWeights(service_floors=(0.90, 0.93))
"""The default weights (an extra wrong answer costs 50 all-digital inferences' energy) plus
service levels: each step must serve the 10-class task at >= 90% and the binary task at >= 93%
accuracy (the all-digital model: 96.9% and 97.8% on the evaluation images; the floors sit far
enough below that a step of a few dozen requests served digitally rarely misses them), at 100
per unit of shortfall per reference volume."""
STREAM_FAST_DRIFT_HARDWARE = get_hardware("pcm-compensated-3x").replace(
    name="pcm-compensated-fast-drift",
    description="Global drift compensation, 3x programming and read noise, drift exponents "
    "6.75x the measured devices': fresh tiles of fc1 and fc2 hold for about a day, then fail.",
    drift_scale=6.75,
)
"""A stress setting chosen by measurement (README, "Streaming workloads and a chip with few
tiles"):
with it, fc1 and fc2 left on their tiles degrade over the days, refreshed daily they beat both
that and all-digital, and one programming of both (325 all-digital inferences' energy) pays back
only over several steps of daytime traffic. At 6x drift a daily refresh only ties leaving the
tiles alone; at 7.5x refreshed tiles only tie all-digital."""
STREAM_DISCOUNT = 0.9
"""A programming pays back over about five to ten two-hour steps of traffic, so the learner
looks about ten steps ahead (1 / (1 - 0.9))."""

VARIED_CHIPS = ChipVariation(
    prog_noise_sigma=0.4,
    drift_sigma=0.7,
    read_noise_sigma=0.4,
    stuck_share_max=0.02,
)
"""Chips that differ as dies do (``hybrid.variation``): lognormal chip multipliers of the drift
exponent with sigma 0.7 (the middle two thirds of chips within 0.5x-2x of the median chip, one
in forty beyond 4x either way), of the programming and read noise with sigma 0.4 (0.67x-1.5x),
and up to 2% of devices stuck at zero conductance. A stress setting: die-to-die spreads of PCM
are not published at this detail. With sigma 0.4 for the drift too (the chip-to-chip spread of
the exponent about as large as its device-to-device spread in AIHWKit's PCM fit, 0.01-0.04
around 0.05) the schedule fell behind the per-chip schedules by little more than in the
default scenario (``docs/results/chip_variation/schedule_gap_first_try.txt``); 0.7 makes how
long a layer holds differ by several decision steps between chips."""
WEAK_TILE_CHIPS = ChipVariation(
    prog_noise_sigma=0.2,
    drift_sigma=0.2,
    read_noise_sigma=0.2,
    weak_tile_probability=1.0,
    weak_tile_drift=3.0,
)
"""Every chip has one weak layer, drawn uniformly among the layers: its tiles' drift exponent is
3x the chip's (a region of the die that runs hot or whose devices have a larger amorphous
volume: drift depends on both, Le Gallo et al., Advanced Electronic Materials 2018), so that
layer degrades long before the rest of the chip; a milder chip-to-chip spread (sigma 0.2) on
top. A stress setting, as for ``VARIED_CHIPS``."""

SCENARIOS: dict[str, Scenario] = {
    "paper": Scenario(
        "paper",
        "The paper's PCM settings with global drift compensation: all-analog loses almost "
        "nothing for a year on the small model, so the right policy is near all-analog.",
        "paper-pcm",
    ),
    "no-compensation": Scenario(
        "no-compensation",
        "Paper PCM devices without drift compensation: accurate for hours, degraded after days; "
        "sensitive layers must move to digital as the chip ages.",
        "pcm-no-compensation",
    ),
    "strong-drift": Scenario(
        "strong-drift",
        "No compensation and 2x programming noise, read noise and drift: collapse within a day "
        "unless layers move.",
        "pcm-strong-drift",
    ),
    "compensated-3x": Scenario(
        "compensated-3x",
        "Global drift compensation with 3x noise and drift: slow degradation, first-layer "
        "sensitive.",
        "pcm-compensated-3x",
    ),
    "monthly-refresh": Scenario(
        "monthly-refresh",
        "No compensation, a year in 12 monthly steps: reprogramming resets a layer's age to at "
        "most a month, so refreshing competes with moving layers to digital.",
        "pcm-no-compensation",
        Timeline(spacing="linear"),
    ),
    # Streaming: actions shape the future. README, "Streaming workloads and a chip
    # with few tiles", gives the generator, the budget and the measurements.
    "stream-fast-drift": Scenario(
        "stream-fast-drift",
        "An edge device's three days in two-hour steps (daily cycle, quiet nights, bursts of "
        "the binary task) on a 3-tile chip whose tiles hold for about a day: refreshing pays "
        "only over the traffic that follows, so when to reprogram is a planning decision.",
        STREAM_FAST_DRIFT_HARDWARE,
        STREAM_TIMELINE,
        workload="daily-cycle",
        tile_budget=STREAM_TILE_BUDGET,
        reward=STREAM_REWARD,
        discount=STREAM_DISCOUNT,
    ),
    "stream-strong-drift": Scenario(
        "stream-strong-drift",
        "The same stream and 3-tile chip with the default scenario's devices (no compensation, "
        "2x noise and drift): fc1 and fc2 hold for days but conv2 does not, so the best use of "
        "the tiles is static and a refresh never pays; a control for stream-fast-drift.",
        "pcm-strong-drift",
        STREAM_TIMELINE,
        workload="daily-cycle",
        tile_budget=STREAM_TILE_BUDGET,
        reward=STREAM_REWARD,
        discount=STREAM_DISCOUNT,
    ),
    "varied-chips": Scenario(
        "varied-chips",
        "The default scenario's devices, but every chip has its own drift exponent (lognormal, "
        "sigma 0.7), programming and read noise (sigma 0.4) and up to 2% stuck devices: how "
        "long a layer holds depends on the chip.",
        "pcm-strong-drift",
        chip_variation=VARIED_CHIPS,
    ),
    "weak-tile": Scenario(
        "weak-tile",
        "The default scenario's devices, and on every chip one layer, drawn per chip, sits on "
        "tiles that drift 3x faster: that layer degrades mid-deployment, a different one on "
        "each chip.",
        "pcm-strong-drift",
        chip_variation=WEAK_TILE_CHIPS,
    ),
}

DEFAULT_SCENARIO = "strong-drift"
"""The scenario where the decision is hardest: all-analog collapses within days, all-digital
wastes energy, and the best placement changes over the deployment (``python
benchmarks/scenario_landscape.py`` prints each scenario's landscape)."""


def get_scenario(spec: str | Scenario | None) -> Scenario:
    """A scenario by name (or the default); an unknown name lists the known ones."""
    if spec is None:
        return SCENARIOS[DEFAULT_SCENARIO]
    if isinstance(spec, Scenario):
        return spec
    if spec not in SCENARIOS:
        raise ValueError(f"unknown scenario {spec!r}; known: {', '.join(SCENARIOS)}")
    return SCENARIOS[spec]
