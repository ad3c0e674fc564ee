"""Sweep the one parameter of each tunable heuristic on the training chips.

    python benchmarks/tune_heuristics.py [--scenario strong-drift] [--seeds 5] [--chips 0]

A heuristic's default should be its best setting, chosen the way a learned policy's
hyperparameters are: on chips used for training (``--chips``, the first of the pool of 16),
never on the held-out chips every comparison reports (``envs.chips.TEST_CHIP_OFFSET``). For
each policy and value it prints the mean episode return over reset seeds ``0..seeds-1`` with
its 95% CI, the mean energy per inference relative to all-digital, and the wall time; the
best value of each policy is marked.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym

import agents
import envs
from agents.evaluation import run_episode
from agents.reporting import mean_ci95

SWEEPS: dict[str, tuple[str, tuple[float, ...]]] = {
    "greedy": ("tolerance", (0.005, 0.02, 0.04, 0.08, 0.12, 0.2)),
    "greedy-preview": ("tolerance", (0.0, 0.003, 0.005, 0.01, 0.02)),
    "saving-vs-noise": ("noise_weight", (0.25, 0.5, 1.0, 2.0)),
    "threshold": ("threshold", (0.13, 0.15, 0.2, 0.25)),
}
"""Policy -> (parameter, values tried)."""


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default=envs.DEFAULT_SCENARIO)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--seeds", type=int, default=5, help="reset seeds (episodes) per value")
    parser.add_argument("--chips", type=int, default=0, help="chip_offset of the pool of 16")
    parser.add_argument("--policies", default=",".join(SWEEPS), help="comma-separated")
    args = parser.parse_args()

    env = gym.make(
        envs.ENV_ID,
        dataset=args.dataset,
        scenario=args.scenario,
        chip_offset=args.chips,
    )
    print(
        f"{args.dataset}, scenario {args.scenario}, chips {args.chips}-{args.chips + 15}, "
        f"reset seeds 0-{args.seeds - 1}"
    )
    for name in args.policies.split(","):
        if name not in SWEEPS:
            raise SystemExit(f"no sweep for {name!r}; choose from {', '.join(SWEEPS)}")
        parameter, values = SWEEPS[name]
        results = []
        for value in values:
            policy = agents.make_policy(name, env, **{parameter: value})
            start = time.perf_counter()
            records = [run_episode(env, policy, seed) for seed in range(args.seeds)]
            wall = time.perf_counter() - start
            mean, ci = mean_ci95([r.episode_return for r in records])
            energy = sum(r.mean_energy_ratio for r in records) / len(records)
            results.append((value, mean, ci, energy, wall))
        best = max(results, key=lambda row: row[1])[0]
        print(f"\n{name} ({parameter})")
        for value, mean, ci, energy, wall in results:
            mark = "  <- best" if value == best else ""
            print(
                f"  {parameter}={value:<6g} return {mean:8.2f} ± {ci:5.2f}  "
                f"energy {energy:.3f}  {wall:5.1f} s{mark}"
            )


if __name__ == "__main__":
    main()
