"""A privileged reference at depth: how far ``greedy-preview`` is from the exhaustive oracle where
both run, and what it costs on ResNet-20, where the oracle cannot (3^23 actions a step).

``oracle`` tries every action at every step on the environment's own evaluation images;
``greedy-preview`` (``agents.heuristics``) scores actions on the same images but searches them
greedily (layers moved to analog in order of the energy they save, each move kept if the
previewed reward improves): about ``L`` previews a step instead of ``3^L``. Both are
privileged (they see the reward of an action before taking it): references, not competitors.

Part 1, the paper's six-layer network: both on the same held-out chips, the paired difference
of their returns with a 95 % CI (``agents.reporting.paired_ci95``), and seconds per episode.
Part 2, ResNet-20 on ``digits32``: ``greedy-preview``'s seconds and return per episode against
all-digital's, on held-out chips.

    python benchmarks/depth_reference.py --chips 10 --resnet-chips 2
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import torch
import tyro

import envs  # noqa: F401 - registers the environments
from agents.base import make_policy
from agents.evaluation import run_episode
from agents.reporting import mean_ci95, paired_ci95
from envs.chips import TEST_CHIP_OFFSET


@dataclass
class Options:
    """Compare greedy-preview with the exhaustive oracle, and time it on ResNet-20."""

    chips: int = 10
    """held-out chips of the six-layer comparison (from chip 1000)"""
    resnet_chips: int = 2
    """held-out chips of the ResNet-20 episodes"""
    scenario: str = "strong-drift"
    """the scenario"""
    out: Path = Path("docs/results/depth_reference")
    """output prefix: OUT.txt and OUT.json"""


def _episodes(env: Any, names: list[str], chips: list[int]) -> dict[str, dict[str, list[float]]]:
    results: dict[str, dict[str, list[float]]] = {}
    for name in names:
        policy = make_policy(name, env.unwrapped)
        returns, seconds = [], []
        for seed, chip in enumerate(chips):
            start = time.perf_counter()
            record = run_episode(env, policy, seed, chip=chip)
            seconds.append(time.perf_counter() - start)  # reset included
            returns.append(record.episode_return)
            print(f"  {name} chip {chip}: {returns[-1]:.2f}, {seconds[-1]:.1f} s", flush=True)
        results[name] = {"returns": returns, "seconds": seconds}
    return results


def main(argv: list[str] | None = None) -> int:
    options = tyro.cli(Options, args=argv)
    if options.chips < 2 or options.resnet_chips < 1:
        raise ValueError("--chips must be at least 2 (a paired CI) and --resnet-chips at least 1")
    torch.set_num_threads(1)
    chips = list(range(TEST_CHIP_OFFSET, TEST_CHIP_OFFSET + options.chips))
    print("six layers (paper network, digits):", flush=True)
    small = gymnasium.make(
        "HybridPartition-v0",
        scenario=options.scenario,
        chip_offset=TEST_CHIP_OFFSET,
        chip_pool=options.chips,
    )
    six = _episodes(small, ["oracle", "greedy-preview", "all-digital"], chips)
    gap, gap_ci = paired_ci95(six["greedy-preview"]["returns"], six["oracle"]["returns"])
    print("ResNet-20 (digits32):", flush=True)
    deep_chips = chips[: options.resnet_chips]
    deep = gymnasium.make(
        "HybridPartition-v0",
        scenario=options.scenario,
        network="resnet20",
        dataset="digits32",
        chip_offset=TEST_CHIP_OFFSET,
        chip_pool=max(options.resnet_chips, 2),
    )
    # the light measurement's one-time curves are measured before anything is timed
    deep.reset(seed=0, options={"chip": deep_chips[0]})
    resnet = _episodes(deep, ["all-digital", "greedy-preview"], deep_chips)
    lines = [
        f"python benchmarks/depth_reference.py {' '.join(argv or sys.argv[1:])}",
        f"scenario {options.scenario}; returns on the evaluation images (the images both "
        "references score actions on)",
        "",
        "| network | policy | chips | return (95 % CI) | seconds per episode |",
        "|---|---|---|---|---|",
    ]
    for label, block, used in (("paper (6 layers)", six, chips), ("resnet20", resnet, deep_chips)):
        for name, values in block.items():
            mean, ci = mean_ci95(values["returns"])
            lines.append(
                f"| {label} | {name} | {used[0]}-{used[-1]} | {mean:.2f} ± {ci:.2f} | "
                f"{np.mean(values['seconds']):.1f} |"
            )
    lines += [
        "",
        f"greedy-preview - oracle on the six-layer network, paired over {len(chips)} chips: "
        f"{gap:+.2f} ± {gap_ci:.2f}",
    ]
    text = "\n".join(lines)
    print(text)
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.with_suffix(".txt").write_text(text + "\n")
    report = {
        "command": argv or sys.argv[1:],
        "scenario": options.scenario,
        "six_layers": {"chips": chips, **six},
        "resnet20": {"chips": deep_chips, **resnet},
        "greedy_preview_minus_oracle": [gap, gap_ci],
    }
    options.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    from agents.cli import run_main

    sys.exit(run_main(main))
