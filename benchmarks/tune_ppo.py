"""A small, documented search over PPO hyperparameters for the default environment.

    python benchmarks/tune_ppo.py [--timesteps 20000] [--episodes 8] [--configs a,b]

Each configuration trains with ``train_agent.py``'s own code for the same number of steps and
seed, then runs deterministically on validation chips (``envs.chips.VALIDATION_CHIP_OFFSET``,
never the held-out test chips); the table ranks them by mean return with a 95% CI. The chosen
defaults of ``agents.training.TrainConfig`` come from this search (see README, Results).
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import gymnasium as gym
import tyro

import envs
from agents.cli import run_main
from agents.evaluation import run_episode
from agents.ppo import PPOPolicy
from agents.reporting import mean_ci95
from agents.training import TrainConfig, train
from envs.chips import VALIDATION_CHIP_OFFSET

CONFIGS: dict[str, dict] = {
    "base": {},
    "lr1e-3": {"learning_rate": 1e-3},
    "lr1e-3-gamma0.5": {"learning_rate": 1e-3, "gamma": 0.5, "ent_coef": 0.0},
    "lr1e-3-short-rollouts": {"learning_rate": 1e-3, "n_steps": 128, "batch_size": 64},
    "lr1e-3-wide": {"learning_rate": 1e-3, "net_arch": (128, 128)},
    "lr3e-3": {"learning_rate": 3e-3, "n_steps": 128, "batch_size": 64},
    "lr1e-3-gamma0.8": {"learning_rate": 1e-3, "gamma": 0.8, "ent_coef": 0.0},
    "lr1e-3-gamma0.5-short": {
        "learning_rate": 1e-3,
        "gamma": 0.5,
        "ent_coef": 0.0,
        "n_steps": 128,
        "batch_size": 64,
    },
    "lr3e-3-gamma0.5": {"learning_rate": 3e-3, "gamma": 0.5, "ent_coef": 0.0},
}


@dataclasses.dataclass
class Options:
    """Train every PPO configuration and rank them on validation chips."""

    timesteps: int = 20_000
    """training steps per configuration"""
    episodes: int = 8
    """validation episodes per configuration"""
    configs: str = ",".join(CONFIGS)
    """comma-separated names of CONFIGS"""
    scenario: str = envs.DEFAULT_SCENARIO
    """the named scenario"""
    out: Path | None = None
    """keep the runs here"""


def main(argv: Sequence[str] | None = None) -> int:
    """Command line (``argv`` for tests); the exit code."""
    options = tyro.cli(Options, args=argv, description=__doc__.split("\n\n")[0])
    return run_main(lambda: search(options))


def search(args: Options) -> None:
    """Train every configuration and print the ranking."""
    root = args.out or Path(tempfile.mkdtemp(prefix="tune_ppo_"))
    rows = []
    for name in args.configs.split(","):
        run_config = dataclasses.replace(
            TrainConfig(),
            timesteps=args.timesteps,
            scenario=args.scenario,
            out=root / name,
            compare_episodes=0,
            progress=False,
            **CONFIGS[name],
        )
        start = time.perf_counter()
        folder = train(run_config)
        wall = time.perf_counter() - start
        env = gym.make(envs.ENV_ID, scenario=args.scenario, chip_offset=VALIDATION_CHIP_OFFSET)
        policy = PPOPolicy(path=folder).bind(env)
        returns = [run_episode(env, policy, seed).episode_return for seed in range(args.episodes)]
        mean, ci = mean_ci95(returns)
        rows.append((name, mean, ci, wall))
        print(f"{name:<24} return {mean:8.2f} ± {ci:5.2f}   train {wall:5.0f} s", flush=True)
    print("\nranking (validation chips):")
    for name, mean, ci, wall in sorted(rows, key=lambda row: -row[1]):
        print(f"  {name:<24} {mean:8.2f} ± {ci:5.2f}  ({wall:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
