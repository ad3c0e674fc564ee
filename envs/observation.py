"""The observation of the deployment environment, feature by feature: built and read by name.

The environment hands a policy one flat ``float32`` vector (what stable-baselines3 wants). This
module is the only place that knows where each feature sits in it: the environment builds the
vector with :meth:`ObservationLayout.build` from named values, and every reader (heuristics,
tests, analyses) decodes it with :meth:`ObservationLayout.view`, e.g.
``layout.view(observation)["noise"]`` is the measured noise of every layer, in forward order.

Three kinds of features: one value per toggleable layer, one per task, and global ones. The
vector is the per-layer block (layer by layer, the layer features in order), then each task
feature for every task, then the global features. Every value is clipped to
``[0, MAX_OBSERVATION]``; ``info`` carries the raw numbers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

MAX_OBSERVATION = 10.0
"""Upper clip of every observation value (the features are designed to be O(1))."""

SCOPES = ("layer", "task", "global")


@dataclass(frozen=True)
class Feature:
    """One named quantity of the observation.

    Attributes:
        name: the key it is built and read by.
        scope: ``"layer"`` (one value per toggleable layer), ``"task"`` (one per task) or
            ``"global"`` (one value).
        description: what it is, with its unit, in a few words.
        low: the smallest value it takes.
        high: the largest value it takes before clipping (``MAX_OBSERVATION`` if unbounded).
    """

    name: str
    scope: str
    description: str
    low: float = 0.0
    high: float = MAX_OBSERVATION


FEATURES: tuple[Feature, ...] = (
    Feature("is_analog", "layer", "1 if it runs analog, else 0", 0.0, 1.0),
    Feature("drift_age", "layer", "log10(1 + age_s) / log10(1 + horizon_s) of its tiles", 0, 1),
    Feature("noise", "layer", "measured relative output error of its tiles"),
    Feature("sensitivity", "layer", "excess calibration loss with only it analog (nats)"),
    Feature("digital_energy_share", "layer", "its digital energy / all-digital energy", 0, 1),
    Feature("analog_energy_share", "layer", "its analog energy / all-digital energy"),
    Feature("mac_share", "layer", "its share of the network's MACs", 0.0, 1.0),
    Feature("loss", "task", "cross-entropy on the evaluation batch (nats)"),
    Feature("accuracy", "task", "accuracy on the evaluation batch", 0.0, 1.0),
    Feature("excess_loss", "task", "cross-entropy above all-digital's (nats)"),
    Feature("energy_ratio", "global", "energy per inference / all-digital"),
    Feature("elapsed", "global", "log10(1 + t_s) / log10(1 + horizon_s)", 0.0, 1.0),
    Feature("steps_left", "global", "fraction of the episode's steps to come", 0.0, 1.0),
    Feature("analog_fraction", "global", "fraction of the layers running analog", 0.0, 1.0),
)
"""Every feature, in the order of the vector within its scope."""

TILE_FEATURES: tuple[Feature, ...] = (
    Feature("resident", "layer", "1 if it holds analog tiles, else 0", 0.0, 1.0),
    Feature("tile_share", "layer", "tiles it needs / the chip's tile budget"),
    Feature("tile_occupancy", "global", "tiles in use / the chip's tile budget", 0.0, 1.0),
)
"""Added on a chip with a tile budget (``envs.tiles``). A layer without tiles shows drift age,
noise and sensitivity 0: it has no tiles to measure."""
STREAM_FEATURES: tuple[Feature, ...] = (
    Feature("task_mix", "task", "share of the last step's requests", 0.0, 1.0),
    Feature("load", "global", "requests served in the last step / inferences_per_step"),
    Feature("recent_load", "global", "mean requests of the last 6 steps / inferences_per_step"),
    Feature("clock_cos", "global", "(1 + cos(2 pi hour / 24)) / 2 now", 0.0, 1.0),
    Feature("clock_sin", "global", "(1 + sin(2 pi hour / 24)) / 2 now", 0.0, 1.0),
)
"""Added with a request stream (``envs.workloads``): the traffic already served and the clock,
never the draws to come. With a stream, ``accuracy`` and ``loss`` stay on the whole evaluation
batch (the reward scores the requests served, ``info["served_accuracies"]``)."""
RECENT_STEPS = 6
"""Steps ``recent_load`` averages over (12 hours of the streaming scenarios' two-hour steps)."""


def deployment_features(tiles: bool = False, stream: bool = False) -> tuple[Feature, ...]:
    """The features of a deployment environment: :data:`FEATURES`, then the tile features on a
    chip with a tile budget, then the stream features with a workload."""
    return FEATURES + (TILE_FEATURES if tiles else ()) + (STREAM_FEATURES if stream else ())


LAYER_FEATURES = tuple(f.name for f in FEATURES if f.scope == "layer")
TASK_FEATURES = tuple(f.name for f in FEATURES if f.scope == "task")
GLOBAL_FEATURES = tuple(f.name for f in FEATURES if f.scope == "global")


class ObservationView(Mapping[str, Any]):
    """A read-only, by-name view of one observation vector.

    ``view["noise"]`` is an array of one value per layer, ``view["loss"]`` one per task, and
    ``view["energy_ratio"]`` a float.
    """

    def __init__(self, layout: ObservationLayout, observation: np.ndarray) -> None:
        self._layout = layout
        self._observation = observation

    def __getitem__(self, name: str) -> Any:
        where = self._layout.index(name)
        value = self._observation[where]
        return float(value) if isinstance(where, int) else value

    def __iter__(self) -> Iterator[str]:
        return iter(f.name for f in self._layout.features)

    def __len__(self) -> int:
        return len(self._layout.features)


class ObservationLayout:
    """Where each feature sits in the observation vector of a model with ``n_layers`` toggleable
    layers and ``n_tasks`` tasks.

    >>> layout = ObservationLayout(n_layers=6, n_tasks=2)
    >>> layout.size
    52
    >>> layout.index("noise")
    array([ 2,  9, 16, 23, 30, 37])
    >>> layout.view(np.arange(52.0))["energy_ratio"]
    48.0
    """

    def __init__(self, n_layers: int, n_tasks: int, features: Sequence[Feature] = FEATURES) -> None:
        if n_layers < 1 or n_tasks < 1:
            raise ValueError(f"an observation needs layers and tasks, got {n_layers}, {n_tasks}")
        self.n_layers, self.n_tasks = int(n_layers), int(n_tasks)
        self.features: tuple[Feature, ...] = tuple(features)
        """The features, in the order of the vector within their scope (default: the deployment
        environment's :data:`FEATURES`; the training-time environment has its own)."""
        layer_names, task_names, global_names = _names(self.features)
        per_layer = len(layer_names)
        self._index: dict[str, np.ndarray | int] = {}
        for column, name in enumerate(layer_names):
            self._index[name] = column + per_layer * np.arange(self.n_layers)
        start = per_layer * self.n_layers
        for block, name in enumerate(task_names):
            self._index[name] = start + block * self.n_tasks + np.arange(self.n_tasks)
        start += len(task_names) * self.n_tasks
        for offset, name in enumerate(global_names):
            self._index[name] = start + offset
        self.size = start + len(global_names)

    @property
    def space(self) -> spaces.Box:
        """The Gymnasium observation space: every value in ``[0, MAX_OBSERVATION]``."""
        return spaces.Box(0.0, MAX_OBSERVATION, shape=(self.size,), dtype=np.float32)

    def index(self, name: str) -> np.ndarray | int:
        """Positions of feature ``name`` (an array for layer and task features)."""
        if name not in self._index:
            known = ", ".join(self._index)
            raise KeyError(f"unknown observation feature {name!r}; features: {known}")
        return self._index[name]

    def build(self, values: Mapping[str, Any]) -> np.ndarray:
        """The clipped float32 vector from every feature's value(s), given by name."""
        missing = sorted(set(self._index) - set(values))
        unknown = sorted(set(values) - set(self._index))
        if missing or unknown:
            raise ValueError(f"observation features missing {missing}, unknown {unknown}")
        vector = np.empty(self.size, dtype=np.float64)
        for feature in self.features:
            where = self._index[feature.name]
            value = np.asarray(values[feature.name], dtype=np.float64)
            expected = () if isinstance(where, int) else where.shape
            if value.shape != expected:
                raise ValueError(
                    f"observation feature {feature.name!r} needs shape {expected}, got "
                    f"{value.shape}"
                )
            vector[where] = value
        return np.clip(vector, 0.0, MAX_OBSERVATION).astype(np.float32)

    def view(self, observation: np.ndarray) -> ObservationView:
        """Read ``observation`` (one vector of this layout) by feature name."""
        observation = np.asarray(observation)
        if observation.shape != (self.size,):
            raise ValueError(
                f"an observation of this layout has shape ({self.size},), got {observation.shape}"
            )
        return ObservationView(self, observation)


def _names(features: Sequence[Feature]) -> tuple[tuple[str, ...], ...]:
    """The names of the layer, task and global features, each in order."""
    for feature in features:
        if feature.scope not in SCOPES:
            raise ValueError(f"feature {feature.name!r}: scope must be one of {SCOPES}")
    if len({f.name for f in features}) != len(features):
        raise ValueError("observation features need distinct names")
    return tuple(tuple(f.name for f in features if f.scope == scope) for scope in SCOPES)


def describe(features: Sequence[Feature] = FEATURES) -> str:
    """The observation as a Markdown table (Num | Observation | Min | Max) for ``L`` layers and
    ``T`` tasks; ``name[i]`` is layer ``i``'s value, ``name[k]`` task ``k``'s, both counted from
    0. It is the table of the environment's docstring (``features``: the deployment
    environment's by default)."""
    layer_names, task_names, global_names = _names(features)
    per_layer = len(layer_names)
    rows = ["| Num | Observation | Min | Max |", "|---|---|---|---|"]

    def bound(value: float) -> str:
        return f"{value:g}"

    position = 0
    for feature in features:
        if feature.scope == "layer":
            num = f"{per_layer}i" if position == 0 else f"{per_layer}i + {position}"
            what = f"`{feature.name}`[i]: {feature.description}"
        elif feature.scope == "task":
            block = task_names.index(feature.name)
            num = f"{per_layer}L + " + ({0: "", 1: "T + "}.get(block, f"{block}T + ")) + "k"
            what = f"`{feature.name}`[k]: {feature.description}"
        else:
            offset = global_names.index(feature.name)
            num = f"{per_layer}L + {len(task_names)}T" + (f" + {offset}" if offset else "")
            what = f"`{feature.name}`: {feature.description}"
        rows.append(f"| {num} | {what} | {bound(feature.low)} | {bound(feature.high)} |")
        position += feature.scope == "layer"
    return "\n".join(rows)
