"""Throughput of the serial, 1-worker and 2-worker Ray paths, side by side.

    python benchmarks/ray_throughput.py                     # a local Ray with 2 CPUs
    python benchmarks/ray_throughput.py --address auto --workers 1 2 8 32   # on a cluster

Two workloads, each on every path:

* evaluation: every policy of ``--policies`` on ``--episodes`` held-out chips, as
  ``evaluate.py`` runs them (serial: one after another in this process; Ray: episodes as tasks,
  ``--workers`` at a time). The returns of every path are checked equal to the serial ones.
  Each Ray path runs twice: the first pass includes starting the workers and building their
  environments, the second is the steady state a long evaluation sees.
* rollouts: ``--steps`` environment steps per environment with random actions (fresh noise
  draws, so the caches hardly help: the simulation-bound case) through SB3 vectorised
  environments: ``DummyVecEnv`` (1 environment in this process), ``SubprocVecEnv`` and
  :class:`~agents.ray_vec_env.RayVecEnv` with as many environments as workers.

Results (README, "Running on Ray (a cluster)") are wall-clock rates on the machine it ran on.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tyro

import agents
import envs
from agents.cli import require, run_main
from agents.distributed import connect, run_policies
from agents.evaluation import run_episode
from agents.run_folder import make_env_from_config
from agents.training import make_vec_env
from envs.chips import TEST_CHIP_OFFSET, first_chips, held_out_pool


@dataclass
class Options:
    """Time the serial and the Ray paths of evaluation and rollouts."""

    workers: list[int] = field(default_factory=lambda: [1, 2])
    """Ray paths to time: this many workers each"""
    address: str | None = None
    """Ray cluster; default a local Ray"""
    cpus: int = 2
    """CPUs of the local Ray"""
    episodes: int = 6
    """held-out chips per policy (evaluation)"""
    policies: str = "greedy,saving-vs-noise,random"
    """comma-separated policies (evaluation)"""
    steps: int = 48
    """rollout steps per environment"""
    scenario: str = envs.DEFAULT_SCENARIO
    """the named scenario"""


def evaluation(
    env_kwargs: dict[str, Any], names: list[str], episodes: int, paths: list[int], address: Any
) -> list[tuple[str, float, float | None]]:
    """(path, episodes/s, steady-state episodes/s) for the serial path and each worker count."""
    env = make_env_from_config({"env": env_kwargs})
    seeds, chips = list(range(episodes)), first_chips(TEST_CHIP_OFFSET, episodes)
    total = episodes * len(names)
    start = time.perf_counter()
    serial = {}
    for name in names:
        policy = agents.make_policy(name, env)
        serial[name] = [
            run_episode(env, policy, s, c).episode_return for s, c in zip(seeds, chips, strict=True)
        ]
    rows = [("serial (this process)", total / (time.perf_counter() - start), None)]
    for workers in paths:
        rates = []
        for _ in range(2):  # first pass: workers start and build their environments
            policies = {name: agents.make_policy(name) for name in names}
            start = time.perf_counter()
            records = run_policies(env, policies, seeds, chips, workers, address)
            rates.append(total / (time.perf_counter() - start))
            returns = {n: [r.episode_return for r in recs] for n, recs in records.items()}
            if returns != serial:
                raise SystemExit(f"Ray with {workers} workers returned other numbers: {returns}")
        rows.append((f"Ray, {workers} worker{'s' * (workers > 1)}", rates[0], rates[1]))
    return rows


def rollouts(
    env_kwargs: dict[str, Any], steps: int, paths: list[int], address: Any
) -> list[tuple[str, float]]:
    """(path, environment steps/s) with random actions through SB3 vectorised environments."""
    configurations = [("DummyVecEnv, 1 env (this process)", 1, "subproc")]
    configurations += [(f"SubprocVecEnv, {n} envs", n, "subproc") for n in paths if n > 1]
    configurations += [(f"RayVecEnv, {n} actor{'s' * (n > 1)}", n, "ray") for n in paths]
    rows = []
    for label, n_envs, kind in configurations:
        venv = make_vec_env(env_kwargs, n_envs, seed=0, vec_env=kind, address=address)
        rng = np.random.default_rng(0)
        venv.reset()
        venv.step(rng.integers(0, 3, size=(n_envs, venv.action_space.shape[0])))  # warm up
        start = time.perf_counter()
        for _ in range(steps):
            venv.step(rng.integers(0, 3, size=(n_envs, venv.action_space.shape[0])))
        rows.append((label, steps * n_envs / (time.perf_counter() - start)))
        venv.close()
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Command line (``argv`` for tests); the exit code."""
    options = tyro.cli(Options, args=argv, description=__doc__.split("\n\n")[0])
    return run_main(lambda: compare(options))


def compare(args: Options) -> None:
    """Time both workloads on every path and print the rates."""
    require(bool(args.workers), "workers", args.workers, "one or more worker counts")
    connect(args.address, num_cpus=args.cpus, option="ray_throughput.py")
    import ray

    cpus = ray.cluster_resources().get("CPU", 0)
    names = [name.strip() for name in args.policies.split(",") if name.strip()]
    pool = held_out_pool(16, args.episodes)
    held_out = {"scenario": args.scenario, "chip_offset": TEST_CHIP_OFFSET, "chip_pool": pool}
    print(f"Ray cluster: {cpus:g} CPUs; scenario {args.scenario}")
    print(f"\nevaluation: {', '.join(names)} x {args.episodes} held-out chips (episodes/s)")
    for label, rate, steady in evaluation(
        held_out, names, args.episodes, args.workers, args.address
    ):
        steady_text = f"{steady:6.2f} steady" if steady is not None else ""
        print(f"  {label:28s} {rate:6.2f}  {steady_text}")
    print("  (every Ray path returned exactly the serial returns)")
    print(f"\nrollouts: random actions, {args.steps} steps per environment (steps/s)")
    for label, rate in rollouts(
        {"scenario": args.scenario}, args.steps, args.workers, args.address
    ):
        print(f"  {label:36s} {rate:7.1f}")


if __name__ == "__main__":
    sys.exit(main())
