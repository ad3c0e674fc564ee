"""Sweep the parameters of each tunable heuristic on the training chips of a model.

    python benchmarks/tune_heuristics.py [--scenario strong-drift] [--seeds 5] [--chips 0]
    python benchmarks/tune_heuristics.py --model runs/three-tasks \\
        --out runs/three-tasks/heuristics.json
    python benchmarks/tune_heuristics.py --model-factory examples.three_tasks:build \\
        --model-weights three_tasks.pt --reward-weights energy=2,task_loss=50,reprogram=1
    python benchmarks/tune_heuristics.py --scenario stream-fast-drift \\
        --out runs/quality/digits-stream-fast-drift/heuristics.json

A heuristic's default should be its best setting, chosen the way a learned policy's
hyperparameters are: on chips used for training (``--chips``: the first chip of the pool the
environment draws from), never on the held-out chips every comparison reports
(``envs.chips.TEST_CHIP_OFFSET``). The defaults in ``agents/heuristics.py`` are this command's
choice for the default digits network; for another model or reward, run it on that one
(``--model RUN`` takes the run's model, data, scenario and reward) and give ``--out FILE``:
``evaluate.py`` uses those values (``--heuristic-params FILE``; a run's own ``heuristics.json``
is read without asking). For each policy and value it prints the mean episode return over reset
seeds ``0..seeds-1`` with its 95% CI, the mean energy per inference relative to all-digital, and
the wall time; the best setting of each policy (every combination of its grid) is marked.
The clock rule ``schedule`` has one integer per layer (and per layer a reprogramming period on
a linear timeline), too many for a grid: it is tuned by coordinate descent on the same episodes
(``agents.schedule.tune_schedule``, starting from all digital), which prints each round.
``benchmarks/policy_quality.py`` runs the rules with a run's ``heuristics.json`` too, so the
rules get a tuning budget of their own scenario, as the agent does.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import tyro

import agents
import envs
from agents.cli import run_main
from agents.environments import model_kwargs, read_env_config, reward_kwarg
from agents.evaluation import run_episode
from agents.reporting import mean_ci95
from agents.run_folder import env_kwargs_from_config, read_run_config
from agents.schedule import tune_schedule

SWEEPS: dict[str, dict[str, tuple[float, ...]]] = {
    # The last value of each makes the rule all-digital in effect: tuning can always choose it.
    "greedy": {"error_per_nat": (0.025, 0.05, 0.1, 0.2, 0.4, 0.8, float("inf"))},
    "saving-vs-noise": {"error_per_noise": (0.0025, 0.005, 0.01, 0.02, 100.0)},
    "threshold": {"threshold": (0.0, 0.002, 0.005, 0.01, 0.02, 0.05)},
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
"""Policy -> each parameter and the values tried (every combination). ``greedy-preview`` and
``oracle`` have no parameter; the stream rules are tuned only where there is a stream."""
STREAM_RULES = ("noise-refresh", "scheduled-refresh")
DESCENTS = ("schedule",)
"""Rules tuned by coordinate descent over per-layer integers (``agents.schedule.tune_schedule``)
instead of a grid, on the same episodes (reset seeds and chips) as the sweeps."""
SCRIPT = "benchmarks/tune_heuristics.py"
"""How the report's ``command`` names this script when ``main`` is given ``argv``."""


@dataclass
class Options:
    """Tune each heuristic's parameters on a model's training chips."""

    model: Path | None = None
    """tune for this run's model"""
    scenario: str | None = None
    """named scenario (default: the run's with --model, else envs.DEFAULT_SCENARIO)"""
    dataset: str | None = None
    """default: the run's with --model, else digits"""
    network: str | None = None
    """paper, resnet20 or resnet32"""
    model_factory: str | None = None
    """package.module:function"""
    model_weights: str | None = None
    """weights file for the model"""
    reward_weights: str = ""
    """e.g. energy=2,task_loss=50"""
    env_config: str | None = None
    """JSON file of environment options"""
    seeds: int = 5
    """reset seeds (episodes) per value"""
    chips: int = 0
    """chip_offset of the training pool"""
    policies: str = ""
    """comma-separated; empty: every tunable rule that acts"""
    schedule_budget: int | None = None
    """settings the schedule descent may evaluate, each one episode per reset seed (default: no
    limit; on ResNet-20 a setting costs up to a minute, a full round hours)"""
    out: Path | None = None
    """write the best values (JSON)"""


def mean_return(env: Any, name: str, setting: dict[str, Any], seeds: int) -> float:
    """The mean episode return of rule ``name`` with ``setting`` over reset seeds
    ``0..seeds-1``: the score every sweep and descent maximises."""
    policy = agents.make_policy(name, env, **setting)
    records = [run_episode(env, policy, seed) for seed in range(seeds)]
    return sum(r.episode_return for r in records) / len(records)


def descend(
    env: Any, name: str, seeds: int, budget: int | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]], float]:
    """Tune a descent rule (at most ``budget`` settings); prints its rounds and returns its
    best setting, every setting tried and the wall time."""
    start = time.perf_counter()
    best, rows = tune_schedule(
        env,
        lambda setting: mean_return(env, name, setting, seeds),
        log=print,
        max_settings=budget,
    )
    return best, rows, time.perf_counter() - start


def environment_kwargs(args: Options) -> dict[str, Any]:
    """The environment to tune in: a run's, or the one the options describe."""
    kwargs: dict[str, Any] = {}
    if args.model is not None:
        kwargs = env_kwargs_from_config(read_run_config(args.model))
    if args.env_config is not None:
        kwargs.update(read_env_config(Path(args.env_config), envs.ENV_ID))
    for key in ("dataset", "scenario"):
        if getattr(args, key) is not None:
            kwargs[key] = getattr(args, key)
    kwargs.update(model_kwargs(args.model_factory, args.model_weights, args.network))
    if args.reward_weights:
        kwargs["reward"] = reward_kwarg(envs.ENV_ID, args.reward_weights, kwargs.get("scenario"))
    kwargs["chip_offset"] = args.chips
    return kwargs


def main(argv: Sequence[str] | None = None) -> int:
    """Command line (``argv`` for tests); the exit code."""
    options = tyro.cli(Options, args=argv, description=__doc__.split("\n\n")[0])
    command = sys.argv if argv is None else [SCRIPT, *argv]
    return run_main(lambda: tune(options, command))


def tune(args: Options, command: list[str]) -> None:
    """Sweep (or descend) every policy; with ``--out``, write the best settings and the
    ``command``."""
    kwargs = environment_kwargs(args)
    env = gym.make(envs.ENV_ID, **kwargs)
    unwrapped = env.unwrapped
    print(
        f"{unwrapped.config['dataset']}, scenario {unwrapped.config['scenario']}, chips "
        f"{args.chips}-{args.chips + unwrapped.chip_pool - 1}, reset seeds 0-{args.seeds - 1}, "
        f"reward {unwrapped.config['reward']}"
    )
    streaming = unwrapped.workload is not None
    names = [n for n in args.policies.split(",") if n] or [
        *(n for n in SWEEPS if streaming or n not in STREAM_RULES),
        *DESCENTS,
    ]
    unknown = [n for n in names if n not in SWEEPS and n not in DESCENTS]
    if unknown:
        raise ValueError(
            f"no sweep for {unknown[0]!r}; choose from {', '.join([*SWEEPS, *DESCENTS])}"
        )
    best_settings: dict[str, dict[str, Any]] = {}
    table: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        if name in DESCENTS:
            print(f"\n{name} (coordinate descent over per-layer step counts)")
            best, rows, wall = descend(env, name, args.seeds, args.schedule_budget)
            best_settings[name], table[name] = best, rows
            score = max(row["return"] for row in rows)
            print(f"  best {best} return {score:.2f}: {len(rows)} settings in {wall:.1f} s")
            continue
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
            "command": command,
            "params": best_settings,
            "tuned_on": {
                "env": kwargs,
                "chips": [args.chips, args.chips + unwrapped.chip_pool - 1],
                "seeds": args.seeds,
                "schedule_budget": args.schedule_budget,
            },
            "sweeps": table,
        }
        args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"\nbest settings written to {args.out}")


if __name__ == "__main__":
    sys.exit(main())
