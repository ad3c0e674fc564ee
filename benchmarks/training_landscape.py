"""The training-time environment's landscape: why fine-tuning, what placements are worth, speed.

    python benchmarks/training_landscape.py [--seeds 8] [--out landscape.json]

On ``HybridTraining-v0``'s own (training) chips, reset seeds ``0..seeds-1``, it prints:

1. **start**: the default episode (4 steps of 5 mini-batches) from the digital pretrained network
   and from scratch (``schedule={"init": "scratch"}``), trained all-digital and all-analog: the
   return, the deployed accuracy of each task (mean over the deployment ages) and the wall time
   per episode. This is the measurement behind ``TrainingSchedule.init="pretrained"``;
2. **fixed placements**: each of a few placements used for every step (so also deployed):
   return with its 95% CI, training and deployed energy, deployed accuracy;
3. **where to train the deployed network**: the same deployed placements after training every
   layer on its tile first (steps 1-3 all analog), a schedule no fixed placement has;
4. **speed**: the wall time of an episode for a few placements with cold caches, and of the
   same episode again (served from the cache of training states: only the deployment is
   recomputed when the chip changes but the training stream does not).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import tyro

import envs
from agents.cli import run_main
from agents.reporting import mean_ci95


@dataclass
class Options:
    """Survey HybridTraining-v0: where to start, fixed placements, where to train, speed."""

    scenario: str = envs.DEFAULT_SCENARIO
    """the named scenario"""
    seeds: int = 8
    """episodes (reset seeds) per row"""
    out: Path | None = None
    """write the results as JSON"""


PLACEMENTS: dict[str, list[int]] = {
    "all digital": [0, 0, 0, 0, 0, 0],
    "fc1": [0, 0, 1, 0, 0, 0],
    "fc1 fc2": [0, 0, 1, 1, 0, 0],
    "fc1 fc2 heads": [0, 0, 1, 1, 1, 1],
    "conv2 fc1 fc2": [0, 1, 1, 1, 0, 0],
    "all analog": [1, 1, 1, 1, 1, 1],
}
"""Placements (conv1, conv2, fc1, fc2, fc3, fc4; 1 = analog) of the fixed schedules."""


def run_schedule(env: Any, schedule: list[list[int]], seed: int) -> dict[str, Any]:
    """One episode of fixed actions (no rollback); its return, energies, accuracy, wall time."""
    start = time.perf_counter()
    env.reset(seed=seed)
    total = 0.0
    for placement in schedule:
        _, reward, _, _, info = env.step([*placement, 0])
        total += reward
    accuracies = np.array(info["deployed_accuracies"])  # ages, tasks
    return {
        "return": total,
        "training_energy": info["training_energy_spent"],
        "energy_ratio": info["energy_ratio"],
        "accuracy": accuracies.mean(axis=0).tolist(),
        "wall_s": time.perf_counter() - start,
    }


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean (and CI of the return) over episodes."""
    mean, ci = mean_ci95([r["return"] for r in results])
    return {
        "return_mean": mean,
        "return_ci95": ci,
        "training_energy": float(np.mean([r["training_energy"] for r in results])),
        "energy_ratio": float(np.mean([r["energy_ratio"] for r in results])),
        "accuracy": np.mean([r["accuracy"] for r in results], axis=0).tolist(),
        "wall_s": float(np.mean([r["wall_s"] for r in results])),
    }


def show(label: str, row: dict[str, Any]) -> None:
    accuracy = "/".join(f"{a:.3f}" for a in row["accuracy"])
    print(
        f"  {label:34s} return {row['return_mean']:8.2f} ± {row['return_ci95']:5.2f}  training "
        f"{row['training_energy']:.3f}  deployed {row['energy_ratio']:.3f}  accuracy {accuracy}"
        f"  {row['wall_s']:.2f} s/episode"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line (``argv`` for tests); the exit code."""
    options = tyro.cli(Options, args=argv, description=__doc__.split("\n\n")[0])
    return run_main(lambda: survey(options))


def survey(args: Options) -> None:
    """Print the four parts; with ``--out``, write them as JSON."""
    seeds = range(args.seeds)
    result: dict[str, Any] = {"scenario": args.scenario, "seeds": args.seeds}

    print(f"{envs.TRAINING_ENV_ID}, scenario {args.scenario}, {args.seeds} training chips")
    print("1. start: fine-tuning the pretrained network or training from scratch")
    result["start"] = {}
    for init in ("pretrained", "scratch"):
        env = gym.make(envs.TRAINING_ENV_ID, scenario=args.scenario, schedule={"init": init})
        steps = env.unwrapped.n_steps
        for name in ("all digital", "all analog"):
            row = summary([run_schedule(env, [PLACEMENTS[name]] * steps, s) for s in seeds])
            result["start"][f"{init}, {name}"] = row
            show(f"{init}, trained {name}", row)

    env = gym.make(envs.TRAINING_ENV_ID, scenario=args.scenario)
    steps = env.unwrapped.n_steps
    print("2. fixed placements (the same at every step, so also deployed)")
    result["fixed"] = {}
    for name, placement in PLACEMENTS.items():
        row = summary([run_schedule(env, [placement] * steps, s) for s in seeds])
        result["fixed"][name] = row
        show(name, row)

    print("3. every layer trained on its tile first (steps 1-3), then the deployed placement")
    result["analog_first"] = {}
    for name in ("fc1", "fc1 fc2", "fc1 fc2 heads"):
        schedule = [PLACEMENTS["all analog"]] * (steps - 1) + [PLACEMENTS[name]]
        row = summary([run_schedule(env, schedule, s) for s in seeds])
        result["analog_first"][name] = row
        show(f"all analog, then {name}", row)

    print("4. speed: one episode, cold caches, then the same training on another chip")
    result["speed"] = {}
    cold = gym.make(envs.TRAINING_ENV_ID, scenario=args.scenario, cache_mb=0)
    streams = gym.make(envs.TRAINING_ENV_ID, scenario=args.scenario, training_streams=1)
    for name in ("all digital", "fc1 fc2", "all analog"):
        first = run_schedule(cold, [PLACEMENTS[name]] * steps, 100)["wall_s"]
        run_schedule(streams, [PLACEMENTS[name]] * steps, 100)
        cached = run_schedule(streams, [PLACEMENTS[name]] * steps, 101)["wall_s"]
        result["speed"][name] = {"cold_s": first, "cached_training_s": cached}
        print(f"  {name:14s} {first:.2f} s cold, {cached:.2f} s with its training cached")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    sys.exit(main())
