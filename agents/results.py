"""The results folder: what ``evaluate.py`` writes and ``evaluate.py --validate`` reads.

A results folder holds::

    summary.csv      one row per policy and weighting (the table, with the configuration)
    summary.json     the same rows, the seeds and chips, and each weighting's environment
    steps.csv        one row per policy, episode and step: enough to rebuild any figure and to
                     replay the episodes
    pareto.png, placements.png   the figures of :mod:`agents.plots`

This module is the only one that knows those names and the rows of a deployment
(``HybridPartition-v0``); the comparison (:mod:`agents.comparison`), the training-time tables
(:mod:`agents.hybrid_training.comparison`) and Ray (:mod:`agents.distributed`) all import it,
and it imports none of them.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

import envs
from agents.evaluation import EpisodeRecord
from agents.reporting import summarise
from envs.rewards import (
    DEFAULT_REWARD_WEIGHTS,
    RewardWeights,
    StreamingRewardWeights,
    resolve_reward,
)

SUMMARY_FILE, STEPS_FILE = "summary.json", "steps.csv"
SUMMARY_CSV = "summary.csv"


@dataclass
class Weighting:
    """One reward weighting to evaluate: the environment, the policies and the PPO run."""

    label: str
    env_kwargs: dict[str, Any]
    policies: list[str]
    model: Path | None = None
    heuristic_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    sweep_key: str = ""
    sweep_value: float | None = None
    records: dict[str, list[EpisodeRecord]] = field(default_factory=dict)
    env_id: str = envs.ENV_ID
    shield: bool = True


def weights_text(weights: RewardWeights) -> str:
    """The ``--reward-weights`` string of ``weights`` (task weights and metric only if unusual)."""
    text = f"energy={weights.energy:g},task_loss={weights.task_loss:g}"
    text += f",reprogram={weights.reprogram:g}"
    if weights.task_weights is not None:
        text += ",task_weights=" + "/".join(f"{w:g}" for w in weights.task_weights)
    if weights.task_metric != DEFAULT_REWARD_WEIGHTS.task_metric:
        text += f",task_metric={weights.task_metric}"
    if isinstance(weights, StreamingRewardWeights) and weights.service_floors:
        text += f",service={weights.service:g},service_floors="
        text += "/".join(f"{floor:g}" for floor in weights.service_floors)
    return text


def reward_weights(kwargs: Mapping[str, Any]) -> RewardWeights:
    """The weights an environment made with ``kwargs`` uses: its ``reward`` laid over its
    scenario's (``DEFAULT_REWARD_WEIGHTS`` for a custom callable)."""
    default = envs.get_scenario(kwargs.get("scenario")).reward
    return resolve_reward(kwargs.get("reward"), default)[1] or DEFAULT_REWARD_WEIGHTS


def energy_floor(env: Any) -> tuple[float, float]:
    """Energy per inference relative to all-digital: (all-analog, cheapest placement)."""
    unwrapped = env.unwrapped

    def ratio(placement: Sequence[bool]) -> float:
        return unwrapped.cost_ratios(np.asarray(placement, dtype=int))[0]

    all_analog = ratio([True] * unwrapped.n_layers)
    if unwrapped.n_layers > 12:  # 4096 placements is plenty; beyond, all-analog stands in
        return all_analog, all_analog
    cheapest = min(ratio(p) for p in itertools.product([False, True], repeat=unwrapped.n_layers))
    return all_analog, cheapest


def step_rows(weighting: Weighting, layer_names: Sequence[str]) -> list[dict[str, Any]]:
    """One ``steps.csv`` row per policy, episode and step."""
    rows = []
    for name, records in weighting.records.items():
        for episode, record in enumerate(records):
            for step in record.steps:
                row: dict[str, Any] = {
                    "weighting": weighting.label,
                    "policy": name,
                    "episode": episode,
                    "seed": record.seed,
                    "chip": record.chip,
                    "step": step["step"],
                    "time_s": step["time_s"],
                }
                row.update(zip(layer_names, step["placement"], strict=True))
                row["action"] = " ".join(str(int(a)) for a in step["action"])
                for task, accuracy in enumerate(step["accuracies"]):
                    row[f"task{task + 1}_acc"] = accuracy
                for task, loss in enumerate(step["losses"]):
                    row[f"task{task + 1}_loss"] = loss
                row["energy_ratio"] = step["energy_ratio"]
                row["energy_pj"] = step["energy_pj"]
                row["reprogram_energy_pj"] = step["reprogram_energy_pj"]
                row["n_reprogrammed"] = step["n_reprogrammed"]
                row["reward"] = step["reward"]
                rows.append(row)
    return rows


def summary_rows(weighting: Weighting, floor: float, seeds: Sequence[int]) -> list[dict[str, Any]]:
    """One ``summary.csv`` row per policy: reporting.summarise plus the configuration."""
    kwargs = weighting.env_kwargs
    weights = reward_weights(kwargs)
    rows = []
    for name, records in weighting.records.items():
        row = {
            "weighting": weighting.label,
            "sweep_key": weighting.sweep_key,
            "sweep_value": "" if weighting.sweep_value is None else weighting.sweep_value,
            **summarise(name, records),
        }
        # Share of the largest saving any placement could give (docs/references.md).
        row["saving_of_ceiling"] = (1.0 - row["energy_vs_digital"]) / (1.0 - floor)
        row.update(
            reward_weights=weights_text(weights),
            scenario=kwargs["scenario"],
            dataset=kwargs["dataset"],
            model_factory=kwargs.get("model_factory", ""),
            chip_offset=kwargs["chip_offset"],
            seeds=" ".join(str(s) for s in seeds),
            chips=" ".join(str(r.chip) for r in records),
            model=str(weighting.model) if name == "ppo" else "",
        )
        rows.append(row)
    return rows


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Rows as CSV; the header is the union of the keys in first-seen order."""
    header = list(dict.fromkeys(key for row in rows for key in row))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


def write_tables(
    out: Path,
    args: Any,
    weightings: Sequence[Weighting],
    environments: Sequence[Any],
    run_config: dict[str, Any],
    summary: list[dict[str, Any]],
    steps: list[dict[str, Any]],
    fields: dict[str, Any],
    start: float,
) -> None:
    """Write ``summary.csv``, ``steps.csv`` and ``summary.json`` (the options ``args``, then
    ``fields``, each weighting's environment, the run's configuration and the rows)."""
    write_csv(out / SUMMARY_CSV, summary)
    write_csv(out / STEPS_FILE, steps)
    (out / SUMMARY_FILE).write_text(
        json.dumps(
            {
                "created": datetime.now().isoformat(timespec="seconds"),
                "args": json.loads(json.dumps(dataclasses.asdict(args), default=str)),
                **fields,
                "configurations": {
                    w.label: {
                        "env_id": w.env_id,
                        "env": w.env_kwargs,
                        "env_resolved": e.unwrapped.config,
                        "policies": w.policies,
                        "model": None if w.model is None else str(w.model),
                    }
                    for w, e in zip(weightings, environments, strict=True)
                },
                "run_config": run_config,
                "rows": summary,
                "wall_s": round(time.perf_counter() - start, 1),
            },
            indent=2,
            default=str,
        )
    )


def read_configurations(folder: Path) -> dict[str, Any]:
    """The environment of each weighting in ``folder/summary.json``, or a one-line error."""
    summary_path, steps_path = folder / SUMMARY_FILE, folder / STEPS_FILE
    for path in (summary_path, steps_path):
        if not path.exists():
            raise ValueError(
                f"{path} is missing: write it with `python evaluate.py --out {folder}`"
            )
    try:
        return json.loads(summary_path.read_text())["configurations"]
    except (json.JSONDecodeError, KeyError):
        raise ValueError(
            f"{summary_path} is not an evaluate.py summary: re-run the evaluation"
        ) from None


def read_steps(folder: Path) -> list[dict[str, str]]:
    """The rows of ``folder/steps.csv`` as text."""
    with (folder / STEPS_FILE).open(newline="") as handle:
        return list(csv.DictReader(handle))
