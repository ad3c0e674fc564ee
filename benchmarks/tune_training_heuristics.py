"""Sweep the one parameter of each tunable training-time baseline on the training chips.

    python benchmarks/tune_training_heuristics.py [--scenario strong-drift] [--seeds 8]

As ``benchmarks/tune_heuristics.py`` does for the deployment's heuristics: a baseline's default
is its best setting on chips used for training (``HybridTraining-v0``'s own pool, chips
``0..15``), never on the held-out chips every comparison reports. For each policy and value it
prints the mean episode return over reset seeds ``0..seeds-1`` with its 95% CI, the training
energy (relative to training every layer digitally), the deployed inference energy (relative
to all-digital), the layers deployed analog and the wall time; the best value is marked.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import tyro

import agents
import envs
from agents.cli import run_main
from agents.evaluation import run_episode
from agents.reporting import mean_ci95

SWEEPS: dict[str, tuple[str, tuple[float, ...]]] = {
    "threshold-training": ("threshold", (0.8, 0.1, 0.05, 0.04, 0.03, 0.02, 0.0)),
    "lionheart-training": ("tolerance", (0.05, 0.02, 0.01, 0.005, 0.0)),
}
"""Policy -> (parameter, values tried): the paper's 0.8 and LionHeart's 2% among them."""


@dataclass
class Options:
    """Tune each training-time baseline's parameter on the training chips."""

    scenario: str = envs.DEFAULT_SCENARIO
    """the named scenario"""
    seeds: int = 8
    """reset seeds (episodes) per value"""
    policies: str = ",".join(SWEEPS)
    """comma-separated"""
    out: Path | None = None
    """write the results as JSON"""


def main(argv: Sequence[str] | None = None) -> int:
    """Command line (``argv`` for tests); the exit code."""
    options = tyro.cli(Options, args=argv, description=__doc__.split("\n\n")[0])
    return run_main(lambda: tune(options))


def tune(args: Options) -> None:
    """Sweep every policy's parameter and print the table; with ``--out``, write it."""
    env = gym.make(envs.TRAINING_ENV_ID, scenario=args.scenario)
    print(f"{envs.TRAINING_ENV_ID}, scenario {args.scenario}, reset seeds 0-{args.seeds - 1}")
    results: dict[str, list[dict[str, float]]] = {}
    for name in args.policies.split(","):
        if name not in SWEEPS:
            raise ValueError(f"no sweep for {name!r}; choose from {', '.join(SWEEPS)}")
        parameter, values = SWEEPS[name]
        rows = []
        for value in values:
            policy = agents.make_policy(name, env, **{parameter: value})
            start = time.perf_counter()
            records = [run_episode(env, policy, seed) for seed in range(args.seeds)]
            mean, ci = mean_ci95([r.episode_return for r in records])
            last = [r.steps[-1] for r in records]
            rows.append(
                {
                    parameter: value,
                    "return_mean": mean,
                    "return_ci95": ci,
                    "training_energy": float(np.mean([s["training_energy_spent"] for s in last])),
                    "energy_vs_digital": float(np.mean([s["energy_ratio"] for s in last])),
                    "analog_layers_deployed": float(np.mean([sum(s["analog"]) for s in last])),
                    "wall_s": time.perf_counter() - start,
                }
            )
        best = max(rows, key=lambda row: row["return_mean"])[parameter]
        print(f"\n{name} ({parameter})")
        for row in rows:
            mark = "  <- best" if row[parameter] == best else ""
            print(
                f"  {parameter}={row[parameter]:<6g} return {row['return_mean']:8.2f} ± "
                f"{row['return_ci95']:5.2f}  training {row['training_energy']:.3f}  deployed "
                f"{row['energy_vs_digital']:.3f}  analog layers {row['analog_layers_deployed']:.1f}"
                f"  {row['wall_s']:5.1f} s{mark}"
            )
        results[name] = rows
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps(
                {"scenario": args.scenario, "seeds": args.seeds, "results": results}, indent=2
            )
        )


if __name__ == "__main__":
    sys.exit(main())
