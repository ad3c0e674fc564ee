"""Sweep the parameters of each tunable heuristic on the training chips.

    python benchmarks/tune_heuristics.py [--scenario strong-drift] [--seeds 5] [--chips 0]
    python benchmarks/tune_heuristics.py --scenario stream-fast-drift \
        --out runs/quality/digits-stream-fast-drift/heuristics.json

A heuristic's default should be its best setting, chosen the way a learned policy's
hyperparameters are: on chips used for training (``--chips``, the first of the pool of 16),
never on the held-out chips every comparison reports (``envs.chips.TEST_CHIP_OFFSET``). For
each policy and setting it prints the mean episode return over reset seeds ``0..seeds-1`` with
its 95% CI, the mean energy per inference relative to all-digital, and the wall time; the
best setting of each policy is marked. ``--out FILE`` writes the best settings as
``{"params": {policy: {parameter: value}}}``: put it in a run folder as ``heuristics.json`` and
``benchmarks/policy_quality.py`` runs the rules with them on that run's scenario, so the rules
get a tuning budget of their own scenario, as the agent does.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import gymnasium as gym

import agents
import envs
from agents.evaluation import run_episode
from agents.reporting import mean_ci95

SWEEPS: dict[str, dict[str, tuple[float, ...]]] = {
    "greedy": {"tolerance": (0.005, 0.02, 0.04, 0.08, 0.12, 0.2)},
    "greedy-preview": {"tolerance": (0.0, 0.003, 0.005, 0.01, 0.02)},
    "saving-vs-noise": {"noise_weight": (0.25, 0.5, 1.0, 2.0)},
    "threshold": {"threshold": (0.13, 0.15, 0.2, 0.25)},
    # Measured noise of fc1/fc2/conv2 on the streaming chips: about 0.4 two hours after
    # programming, 0.55 after 12 h, 0.7 after 3 days; 10 never triggers.
    "noise-refresh": {
        "refresh_noise": (0.45, 0.5, 0.55, 0.6, 10.0),
        "min_load": (0.5, 1.0),
        "layers": (1, 2, 3),
    },
    "scheduled-refresh": {
        "refresh_hour": (4.0, 6.0, 8.0),
        "max_noise": (0.5, 0.6, 10.0),
        "layers": (1, 2, 3),
    },
}
"""Policy -> each parameter and the values tried (every combination)."""


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default=envs.DEFAULT_SCENARIO)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--seeds", type=int, default=5, help="reset seeds (episodes) per value")
    parser.add_argument("--chips", type=int, default=0, help="chip_offset of the pool of 16")
    parser.add_argument("--policies", default=",".join(SWEEPS), help="comma-separated")
    parser.add_argument("--out", type=Path, default=None, help="JSON file of the best settings")
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
    best_settings: dict[str, dict[str, float]] = {}
    table: dict[str, list[dict[str, float]]] = {}
    for name in args.policies.split(","):
        if name not in SWEEPS:
            raise SystemExit(f"no sweep for {name!r}; choose from {', '.join(SWEEPS)}")
        grid = SWEEPS[name]
        results = []
        for values in itertools.product(*grid.values()):
            setting = dict(zip(grid, values, strict=True))
            policy = agents.make_policy(name, env, **setting)
            start = time.perf_counter()
            records = [run_episode(env, policy, seed) for seed in range(args.seeds)]
            wall = time.perf_counter() - start
            mean, ci = mean_ci95([r.episode_return for r in records])
            energy = sum(r.mean_energy_ratio for r in records) / len(records)
            results.append((setting, mean, ci, energy, wall))
        best = max(results, key=lambda row: row[1])[0]
        best_settings[name] = best
        table[name] = [
            {**setting, "return": mean, "ci95": ci, "energy": energy}
            for setting, mean, ci, energy, _ in results
        ]
        print(f"\n{name} ({', '.join(grid)})")
        for setting, mean, ci, energy, wall in results:
            mark = "  <- best" if setting == best else ""
            text = " ".join(f"{key}={value:<6g}" for key, value in setting.items())
            print(
                f"  {text} return {mean:8.2f} ± {ci:5.2f}  energy {energy:.3f}  {wall:5.1f} s{mark}"
            )
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "command": sys.argv,
            "scenario": args.scenario,
            "dataset": args.dataset,
            "chips": [args.chips, args.chips + 15],
            "seeds": args.seeds,
            "params": best_settings,
            "sweeps": table,
        }
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
