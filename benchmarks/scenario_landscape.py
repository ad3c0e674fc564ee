"""When does placement matter? The decision landscape of each named scenario.

    python benchmarks/scenario_landscape.py [--scenarios paper,strong-drift] [--chips 4]

For every scenario it prints the accuracy of the all-analog model (never reprogrammed) at each
step of the deployment, averaged over chips, then enumerates all 2^n fixed placements (never
reprogramming) and prints the returns of all-digital, all-analog and the best fixed placement,
and the best placement at the first and at the last step (by per-step reward averaged over
chips). A benchmark, not a test: it takes about a minute per scenario on 2 cores.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time

import gymnasium as gym
import numpy as np

import envs
from agents.cli import run_main


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


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default=",".join(envs.SCENARIOS))
    parser.add_argument("--chips", type=int, default=4, help="chips averaged over")
    parser.add_argument("--dataset", default="digits")
    args = parser.parse_args()
    for scenario in args.scenarios.split(","):
        landscape(scenario, args.chips, args.dataset)


if __name__ == "__main__":
    sys.exit(run_main(main))
