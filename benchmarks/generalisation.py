"""Does a trained agent hold under stronger drift than it trained on? Over several training seeds.

    python benchmarks/generalisation.py runs/gen-seed0 runs/gen-seed1 ... [--episodes 20]
        [--scales 1,2] [--out docs/results/generalisation]

For every run and drift multiplier (relative to the run's own drift) it plays the same held-out
chips (``envs.chips.TEST_CHIP_OFFSET``, never seen in training, validation or tuning) and reset
seeds with: the agent with its shield (``agents.shield``, the default), the bare agent
(``shield=False``), ``all-digital`` and the deployable ``greedy`` rule. It prints each return
with its 95% CI, the agent's paired margin over all-digital (the static safe choice) and how
many layer decisions the shield overrode, then writes ``generalisation.csv`` (one row per run,
scale and policy) and ``generalisation.json`` (the rows and the command) to ``--out``.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import tyro

import agents
from agents.cli import require_int, run_main
from agents.evaluation import run_episode
from agents.ppo import PPOPolicy
from agents.reporting import mean_ci95
from agents.run_folder import make_env_from_config, read_run_config
from envs.chips import TEST_CHIP_OFFSET, episode_chips, held_out_pool

POLICIES = ("ppo", "ppo-bare", "all-digital", "greedy")
"""What each run is compared with: the shielded agent, the bare agent, two rules."""
SCRIPT = "benchmarks/generalisation.py"
"""How the report's ``command`` names this script when ``main`` is given ``argv``."""


@dataclass
class Options:
    """Measure trained agents under stronger drift than they trained on."""

    runs: tyro.conf.Positional[Annotated[list[Path], tyro.conf.arg(metavar="RUN [RUN ...]")]]
    """run folders (one per training seed)"""
    episodes: int = 20
    """held-out chips per run"""
    scales: str = "1,2"
    """drift multipliers, comma-separated"""
    out: Path = Path("docs/results/generalisation")
    """output folder: generalisation.csv and generalisation.json"""


def measure(run: Path, scale: float, episodes: int) -> list[dict[str, Any]]:
    """One row per policy: the run's agent and the rules on held-out chips at ``scale`` x its
    drift."""
    config = read_run_config(run)
    drift = config["env"].get("drift_scale", 1.0) * scale
    pool = held_out_pool(config["env_resolved"]["chip_pool"], episodes)
    env = make_env_from_config(
        config, chip_offset=TEST_CHIP_OFFSET, chip_pool=pool, drift_scale=drift
    )
    policies = {
        "ppo": PPOPolicy(path=run),
        "ppo-bare": PPOPolicy(path=run, shield=False),
        "all-digital": agents.make_policy("all-digital"),
        "greedy": agents.make_policy("greedy"),
    }
    seeds = list(range(episodes))
    chips = episode_chips(TEST_CHIP_OFFSET, pool, seeds[0], episodes)
    returns: dict[str, list[float]] = {}
    energy: dict[str, float] = {}
    for name, policy in policies.items():
        policy.bind(env)
        records = [
            run_episode(env, policy, seed, chip) for seed, chip in zip(seeds, chips, strict=True)
        ]
        returns[name] = [r.episode_return for r in records]
        energy[name] = float(np.mean([r.mean_energy_ratio for r in records]))
    rows = []
    for name in policies:
        mean, ci = mean_ci95(returns[name])
        margin, margin_ci = mean_ci95(
            [a - b for a, b in zip(returns[name], returns["all-digital"], strict=True)]
        )
        rows.append(
            {
                "run": str(run),
                "train_seed": config["args"]["seed"],
                "drift_scale": scale,
                "policy": name,
                "return_mean": mean,
                "return_ci95": ci,
                "minus_all_digital": margin,
                "minus_all_digital_ci95": margin_ci,
                "worst_episode": min(returns[name]),
                "energy_vs_digital": energy[name],
                "shield_overrides": policies[name].shield_count if name == "ppo" else "",
                "episodes": episodes,
            }
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Command line (``argv`` for tests); the exit code."""
    options = tyro.cli(Options, args=argv, description=__doc__.split("\n\n")[0])
    command = sys.argv if argv is None else [SCRIPT, *argv]
    return run_main(lambda: generalise(options, command))


def generalise(args: Options, command: list[str]) -> None:
    """Measure every run at every drift multiplier; print and write the rows."""
    if not args.runs:
        raise ValueError("give one or more run folders (one per training seed)")
    require_int("episodes", args.episodes, 2)  # a 95% CI needs two chips
    scales = [float(s) for s in args.scales.split(",")]
    rows: list[dict[str, Any]] = []
    for run in args.runs:
        for scale in scales:
            start = time.perf_counter()
            found = measure(run, scale, args.episodes)
            rows += found
            line = ", ".join(
                f"{r['policy']} {r['return_mean']:.2f}±{r['return_ci95']:.2f}" for r in found
            )
            shielded, bare = found[0], found[1]
            print(
                f"{run} drift x{scale:g}: {line}; ppo - all-digital "
                f"{shielded['minus_all_digital']:+.2f}±{shielded['minus_all_digital_ci95']:.2f}, "
                f"bare {bare['minus_all_digital']:+.2f}±{bare['minus_all_digital_ci95']:.2f}, "
                f"shield overrides {shielded['shield_overrides']} "
                f"({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "generalisation.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (args.out / "generalisation.json").write_text(
        json.dumps({"command": command, "rows": rows}, indent=2) + "\n"
    )
    print(f"wrote {args.out}/generalisation.csv and .json")


if __name__ == "__main__":
    sys.exit(main())
