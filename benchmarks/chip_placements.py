"""Placements on two chips of different variation, side by side, against the schedule's one.

    python benchmarks/chip_placements.py --scenario varied-chips --policy greedy \\
        --out docs/results/chip_placements_varied-chips.png
    python benchmarks/chip_placements.py --model runs/varied --out runs/varied/chips.png

In a scenario whose chips differ (``envs.scenarios``: ``varied-chips``, ``weak-tile``), a policy
that reacts to its chip should place layers differently on a chip whose devices drift slowly
than on one whose devices drift fast; the clock rule ``schedule`` places them the same on
every chip. This script runs ``--policy`` (a rule's name, or the trained agent of ``--model
RUN``) on two held-out chips (``1000..``) and the schedule on the first, and draws them with
``agents.plots.plot_chip_placements``. The two chips are given (``--chips``) or chosen before
any episode is run, from their variation alone: among the first ``--candidates`` held-out chips,
the mildest and the harshest (the smallest and largest product of the chip's multipliers of
programming noise, drift exponent and read noise). The schedule's parameters come from
``--heuristic-params`` (or the run's ``heuristics.json``), else it is tuned here on the training
chips (``agents.schedule.tune_schedule``, reset seeds ``0..seeds-1``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import tyro

import agents
import envs
from agents.cli import run_main
from agents.evaluation import run_episode
from agents.plots import plot_chip_placements, task_titles
from agents.run_folder import env_kwargs_from_config, read_run_config
from agents.schedule import tune_schedule
from envs.chips import TEST_CHIP_OFFSET


@dataclass
class Options:
    """Draw a policy's placements on two held-out chips beside the schedule's."""

    out: Path
    """the figure (PNG)"""
    model: Path | None = None
    """a trained run (its agent)"""
    policy: str | None = None
    """a rule's name (default: the run's ppo)"""
    scenario: str | None = None
    """without --model; default varied-chips"""
    dataset: str | None = None
    """without --model; default digits"""
    chips: str = ""
    """two held-out chips, e.g. 1000,1003"""
    candidates: int = 8
    """held-out chips to choose from"""
    heuristic_params: Path | None = None
    """tuned parameters"""
    seeds: int = 5
    """tuning episodes for the schedule"""


def schedule_setting(args: Options, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The schedule's parameters: from a file, the run's ``heuristics.json``, or tuned now."""
    path = args.heuristic_params
    if path is None and args.model is not None and (args.model / "heuristics.json").is_file():
        path = args.model / "heuristics.json"
    if path is not None:
        params = json.loads(Path(path).read_text()).get("params", {})
        if "schedule" in params:
            return params["schedule"]
    train = gym.make(envs.ENV_ID, **{**kwargs, "chip_offset": 0})

    def mean_return(setting: dict[str, Any]) -> float:
        policy = agents.make_policy("schedule", train, **setting)
        return float(
            np.mean([run_episode(train, policy, s).episode_return for s in range(args.seeds)])
        )

    setting, _ = tune_schedule(train, mean_return)
    print(f"schedule tuned on training chips: {setting}")
    return setting


def chip_label(env: Any, chip: int) -> str:
    """``chip 1003 (drift x1.4, prog x0.8, weak fc2)``: the chip and its variation."""
    variation = env.evaluator.tile_variation
    if variation is None:
        return f"chip {chip}"
    draw = variation.chip_draw(chip)
    weak = "" if draw.weak_layer is None else f", weak {env.layer_names[draw.weak_layer]}"
    return (
        f"chip {chip} (drift x{draw.drift:.2f}, prog x{draw.prog_noise:.2f}, "
        f"read x{draw.read_noise:.2f}{weak})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line (``argv`` for tests); the exit code."""
    options = tyro.cli(Options, args=argv, description=__doc__.split("\n\n")[0])
    return run_main(lambda: place(options))


def place(args: Options) -> None:
    """Run the episodes, draw the figure."""
    if args.model is not None:
        kwargs = env_kwargs_from_config(read_run_config(args.model))
    else:
        kwargs = {"scenario": args.scenario or "varied-chips", "dataset": args.dataset or "digits"}
    policy_name = args.policy or ("ppo" if args.model is not None else None)
    if policy_name is None:
        raise ValueError("give --policy NAME (a rule) or --model RUN (its trained agent)")
    if args.candidates < 2:
        raise ValueError("--candidates must be >= 2: two chips are compared")
    chips = [int(c) for c in args.chips.split(",") if c.strip()]
    if chips and len(chips) != 2:
        raise ValueError("--chips takes exactly two held-out chips, e.g. 1000,1003")
    pool = max(args.candidates, *(c - TEST_CHIP_OFFSET + 1 for c in chips)) if chips else None
    env = gym.make(
        envs.ENV_ID,
        **{**kwargs, "chip_offset": TEST_CHIP_OFFSET, "chip_pool": pool or args.candidates},
    ).unwrapped
    if not chips:
        variation = env.evaluator.tile_variation
        if variation is None:
            raise ValueError(
                f"scenario {env.scenario.name} has no chip variation: choose --chips, or a "
                "scenario whose chips differ (varied-chips, weak-tile)"
            )
        candidates = range(TEST_CHIP_OFFSET, TEST_CHIP_OFFSET + args.candidates)
        severity = {
            chip: np.log(d.prog_noise * d.drift * d.read_noise)
            for chip, d in ((c, variation.chip_draw(c)) for c in candidates)
        }
        chips = [min(severity, key=severity.get), max(severity, key=severity.get)]
    setting = schedule_setting(args, kwargs)
    extra = {"path": args.model} if policy_name == "ppo" else {}
    policy = agents.make_policy(policy_name, env, **extra)
    per_chip = {}
    for chip in chips:
        record = run_episode(env, policy, 0, chip)
        per_chip[chip_label(env, chip)] = record
        print(f"{policy_name} on {chip_label(env, chip)}: return {record.episode_return:.2f}")
        for step in record.steps:
            print(f"   {step['action']}")
    schedule = run_episode(env, agents.make_policy("schedule", env, **setting), 0, chips[0])
    print(f"schedule on chip {chips[0]}: return {schedule.episode_return:.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    plot_chip_placements(
        args.out,
        policy_name,
        per_chip,
        schedule,
        env.layer_names,
        env.times_s,
        task_titles(env),
        env.all_digital_accuracies,
        f"scenario {env.scenario.name}: {policy_name} on two held-out chips of different "
        "variation, the schedule (tuned on training chips) on the first",
    )
    print(f"written to {args.out}")


if __name__ == "__main__":
    sys.exit(main())
