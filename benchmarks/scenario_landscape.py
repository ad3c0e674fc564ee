"""When does placement matter? The decision landscape of each named scenario.

    python benchmarks/scenario_landscape.py [--scenarios paper,strong-drift] [--chips 4]
    python benchmarks/scenario_landscape.py --schedule-gap --scenarios strong-drift,varied-chips \
        --held-out 8 --out docs/results/schedule_gap.json

For every scenario it prints the accuracy of the all-analog model (never reprogrammed) at each
step of the deployment, averaged over chips, then enumerates all 2^n fixed placements (never
reprogramming) and prints the returns of all-digital, all-analog and the best fixed placement,
and the best placement at the first and at the last step (by per-step reward averaged over
chips). A benchmark, not a test: it takes about a minute per scenario on 2 cores.

With ``--schedule-gap`` it asks instead how much a chip's own behaviour is worth: the clock rule
``schedule`` is tuned on the training chips (``agents.schedule.tune_schedule``: reset seeds
``0..seeds-1`` of chips 0-15, as ``benchmarks/tune_heuristics.py`` tunes it), then run on
``--held-out`` test chips (``1000..``) next to the best per-chip choices: the schedule tuned on
that chip alone, by the same descent started from the training chips' schedule (the best
clock rule for that chip, measured on the episode it is scored on: a ceiling no deployable rule
reaches; in a scenario whose chips share their statistics it measures what fitting one chip's
noise draws is worth, the baseline of the gap) and the myopic ``oracle`` (previews every action: a
reference), and the deployable rules that measure the chip (``saving-vs-noise``, ``greedy``,
default parameters). Per scenario it prints each chip's variation and returns, and the paired
mean gaps with their 95% CI over the held-out chips. In a scenario whose chips differ, the gap
between the one schedule and the per-chip schedules is what a controller reacting to its chip
could gain.
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
import numpy as np
import tyro

import agents
import envs
from agents.cli import run_main
from agents.evaluation import run_episode
from agents.reporting import paired_ci95
from agents.schedule import tune_schedule
from envs.chips import TEST_CHIP_OFFSET, first_chips

GAP_RULES = ("all-digital", "saving-vs-noise", "greedy")
"""The rules run next to the schedule on the held-out chips (default parameters)."""


@dataclass
class Options:
    """Survey each named scenario's decision landscape, or the schedule's gap to per-chip
    choices."""

    scenarios: str = ",".join(envs.SCENARIOS)
    """comma-separated named scenarios"""
    chips: int = 4
    """chips averaged over"""
    dataset: str = "digits"
    """digits, digits32 or cifar10"""
    schedule_gap: bool = False
    """the schedule against per-chip choices"""
    seeds: int = 5
    """tuning episodes (schedule gap)"""
    held_out: int = 8
    """test chips (schedule gap)"""
    oracle: bool = True
    """run the oracle (schedule gap); --no-oracle skips it"""
    out: Path | None = None
    """write the schedule gap (JSON)"""
    cache_mb: int = 512
    """evaluation caches per environment (MiB)"""


def placement_name(placement: tuple[int, ...], names: tuple[str, ...]) -> str:
    """``conv1:D conv2:A ...`` compactly: the names of the digital layers."""
    digital = [name for name, analog in zip(names, placement, strict=True) if not analog]
    return (
        "all analog"
        if not digital
        else ("all digital" if len(digital) == len(names) else "digital: " + ",".join(digital))
    )


def landscape(scenario: str, chips: int, dataset: str) -> None:
    """Print the landscape of one scenario."""
    env = gym.make(envs.ENV_ID, scenario=scenario, dataset=dataset, cache_mb=4096).unwrapped
    n, steps = env.n_layers, env.timeline.n_steps
    placements = list(itertools.product([0, 1], repeat=n))
    rewards = np.zeros((len(placements), steps))
    accuracy = np.zeros((len(placements), steps, env.n_tasks))
    start = time.perf_counter()
    for chip in range(chips):
        for index, placement in enumerate(placements):
            env.reset(seed=0, options={"chip": chip})
            for step in range(steps):
                _, reward, *_, info = env.step(np.array(placement))
                rewards[index, step] += reward / chips
                accuracy[index, step] += np.array(info["accuracies"]) / chips
    elapsed = time.perf_counter() - start
    times = env.times_s
    print(f"\n== {scenario} ({env.scenario.description})")
    print(
        f"   {len(placements) * steps * chips} steps in {elapsed:.0f} s; digital accuracy "
        + "/".join(f"{a:.3f}" for a in env.all_digital_accuracies)
    )
    print("   all-analog accuracy per step (class/group):")
    for step in range(steps):
        acc = "/".join(f"{a:.3f}" for a in accuracy[-1, step])
        print(f"     t={times[step]:>10.3g} s  {acc}")
    totals = rewards.sum(axis=1)
    best = int(np.argmax(totals))
    first, last = int(np.argmax(rewards[:, 0])), int(np.argmax(rewards[:, -1]))
    print(
        f"   return: all-digital {totals[0]:.2f}, all-analog {totals[-1]:.2f}, "
        f"best fixed {totals[best]:.2f} ({placement_name(placements[best], env.layer_names)})"
    )
    print(
        f"   best at first step: {placement_name(placements[first], env.layer_names)}; "
        f"at last step: {placement_name(placements[last], env.layer_names)}"
    )
    print(f"   per-step best (myopic, no reprogramming) return: {rewards.max(axis=0).sum():.2f}")


def schedule_return(env: Any, setting: dict[str, Any], seeds: Sequence[int], chip: Any) -> float:
    """Mean return of the schedule ``setting`` over reset ``seeds`` (on ``chip``, or the chips
    the seeds draw)."""
    policy = agents.make_policy("schedule", env, **setting)
    return float(np.mean([run_episode(env, policy, s, chip).episode_return for s in seeds]))


def schedule_gap(
    scenario: str, dataset: str, seeds: int, held_out: int, oracle: bool, cache_mb: int = 512
) -> dict[str, Any]:
    """How far the schedule tuned on training chips falls behind the best per-chip choices on
    ``held_out`` test chips (printed, and returned JSON-friendly)."""
    train = gym.make(envs.ENV_ID, scenario=scenario, dataset=dataset, cache_mb=cache_mb)
    start = time.perf_counter()
    fixed, _ = tune_schedule(train, lambda s: schedule_return(train, s, range(seeds), None))
    tune_s = time.perf_counter() - start
    train.close()
    env = gym.make(
        envs.ENV_ID,
        scenario=scenario,
        dataset=dataset,
        cache_mb=cache_mb,
        chip_offset=TEST_CHIP_OFFSET,
        chip_pool=held_out,
    ).unwrapped
    variation = env.evaluator.tile_variation
    print(f"\n== {scenario} ({env.scenario.description})")
    print(f"   schedule tuned on training chips in {tune_s:.0f} s: {fixed['analog_steps']}")
    names = ["schedule", "per-chip schedule", *(["oracle"] if oracle else []), *GAP_RULES]
    returns: dict[str, list[float]] = {name: [] for name in names}
    rows = []
    for chip in first_chips(TEST_CHIP_OFFSET, held_out):
        start = time.perf_counter()
        own, _ = tune_schedule(env, lambda s, c=chip: schedule_return(env, s, [0], c), start=fixed)
        row: dict[str, Any] = {
            "chip": chip,
            "per_chip_schedule": own,
            "variation": None if variation is None else vars(variation.chip_draw(chip)),
        }
        row["schedule"] = schedule_return(env, fixed, [0], chip)
        row["per-chip schedule"] = schedule_return(env, own, [0], chip)
        for name in names[2:]:
            row[name] = run_episode(env, agents.make_policy(name, env), 0, chip).episode_return
        for name in names:
            returns[name].append(row[name])
        rows.append(row)
        draw = row["variation"]
        text = (
            "same statistics"
            if draw is None
            else f"prog x{draw['prog_noise']:.2f} drift x{draw['drift']:.2f} read "
            f"x{draw['read_noise']:.2f} stuck {draw['stuck_share']:.3f} weak layer "
            f"{'-' if draw['weak_layer'] is None else env.layer_names[draw['weak_layer']]}"
        )
        print(
            f"   chip {chip} ({text}; {time.perf_counter() - start:.0f} s): "
            + ", ".join(f"{name} {row[name]:.2f}" for name in names)
        )
        print(f"      its own schedule: {own['analog_steps']}")
    gaps = {
        name: paired_ci95(returns[name], returns["schedule"])
        for name in names
        if name != "schedule"
    }
    print(f"   mean over {held_out} held-out chips, paired 95% CI against the schedule:")
    for name, (mean, ci) in gaps.items():
        print(f"     {name} - schedule: {mean:+.2f} ± {ci:.2f}")
    return {
        "scenario": scenario,
        "schedule": fixed,
        "tune_s": tune_s,
        "chips": rows,
        "mean_return": {name: float(np.mean(values)) for name, values in returns.items()},
        "gap_to_schedule": {name: {"mean": m, "ci95": c} for name, (m, c) in gaps.items()},
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command line (``argv`` for tests); the exit code."""
    options = tyro.cli(Options, args=argv, description=__doc__.split("\n\n")[0])
    command = ["benchmarks/scenario_landscape.py", *(sys.argv[1:] if argv is None else argv)]
    return run_main(lambda: survey(options, command))


def survey(args: Options, command: list[str]) -> None:
    """Every scenario's landscape, or with ``--schedule-gap`` its schedule gap (written to
    ``--out`` with the ``command``)."""
    if not args.schedule_gap:
        for scenario in args.scenarios.split(","):
            landscape(scenario, args.chips, args.dataset)
        return
    if args.held_out < 2:
        raise ValueError("--held-out must be >= 2: the gaps are paired over held-out chips")
    results = [
        schedule_gap(scenario, args.dataset, args.seeds, args.held_out, args.oracle, args.cache_mb)
        for scenario in args.scenarios.split(",")
    ]
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "command": command,
            "results": results,
        }
        args.out.write_text(json.dumps(report, indent=2, default=float) + "\n")
        print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    sys.exit(main())
