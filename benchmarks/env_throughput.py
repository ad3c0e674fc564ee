"""Throughput of the partitioning environment against a naive full analog re-simulation.

For the embedded default model (``digits``, 1x8x8 inputs) and the CIFAR-10-sized network
(``digits32``: the paper's CIFAR network on 3x32x32 inputs, evaluated on 256 images), prints:

(a) the cost of one naive evaluation without any cache: fresh AIHWKit programming of every layer,
    drift of every layer to one age, and a full forward pass with every layer analog, on the
    environment's own evaluation batch (the all-digital forward is shown for reference);
(b) environment steps per second with random actions on a fresh environment (cold cache), and
    with a fixed policy cycling through a few placements, replayed over many episodes (warm
    cache); resets are included in the time;
(c) the ratio naive cost / environment step cost.

It also prints the evaluator's cache hit counts. Torch runs the environment's way: one intra-op
thread per process (``--threads`` changes it).

    python benchmarks/env_throughput.py [--steps N] [--warm-episodes N] [--threads N]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import gymnasium
import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

import envs
from hybrid.layers import hybrid_layers, set_placement
from hybrid.pretrain import PretrainedModel, load_or_pretrain
from hybrid.simulator import CacheStats

DIGITAL, ANALOG = 0, 1
EVAL_SIZES: dict[str, int | None] = {"digits": None, "digits32": 256}
"""Evaluation batch per dataset: the whole digits validation split (360), 256 for digits32."""


@dataclass
class Args:
    """Every setting of the benchmark; this dataclass is the command line."""

    steps: int = field(
        default=240, metadata={"help": "random-action steps per dataset (cold cache)"}
    )
    warm_episodes: int = field(
        default=50, metadata={"help": "episodes of the cycling policy per dataset (warm cache)"}
    )
    naive_repeats: int = field(
        default=5, metadata={"help": "naive full re-evaluations timed per dataset (median)"}
    )
    threads: int = field(
        default=1, metadata={"help": "torch intra-op threads (the environment runs one)"}
    )
    datasets: str = field(
        default="digits,digits32", metadata={"help": "comma-separated datasets to measure"}
    )
    seed: int = field(default=0, metadata={"help": "seed of the random actions and resets"})


@dataclass(frozen=True)
class NaiveCost:
    """Median seconds of one uncached evaluation, by phase."""

    program_s: float
    drift_s: float
    forward_s: float
    digital_forward_s: float

    @property
    def total_s(self) -> float:
        """Programming + drift + analog forward."""
        return self.program_s + self.drift_s + self.forward_s


@dataclass(frozen=True)
class Throughput:
    """Steps per second of one run and the cache counters it moved."""

    steps: int
    seconds: float
    stats: dict[str, int]

    @property
    def steps_per_s(self) -> float:
        """Environment steps per second (resets included in the time)."""
        return self.steps / self.seconds

    @property
    def step_s(self) -> float:
        """Seconds per step."""
        return self.seconds / self.steps


def parse_args(argv: Sequence[str] | None = None) -> Args:
    """The command line, generated from :class:`Args`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for option in dataclasses.fields(Args):
        parser.add_argument(
            f"--{option.name.replace('_', '-')}",
            type=type(option.default),
            default=option.default,
            help=f"{option.metadata['help']} (default {option.default})",
        )
    return Args(**vars(parser.parse_args(argv)))


def naive_cost(
    env: envs.HybridPartitionEnv, pretrained: PretrainedModel, repeats: int
) -> NaiveCost:
    """Time the uncached evaluation on a separate copy of the environment's model (the
    environment's own tiles belong to its evaluator's cache and must not be touched)."""
    model = pretrained.instantiate(env.hardware).eval()
    layers = [layer for _, layer in hybrid_layers(model)]
    images, targets = env.evaluator.images, env.evaluator.targets
    age_s = float(env.times_s[-1])

    def evaluate() -> None:
        for logits, target in zip(model(images), targets, strict=True):
            F.cross_entropy(logits, target).item()
            (logits.argmax(dim=1) == target).float().mean().item()

    phases: dict[str, list[float]] = {"program": [], "drift": [], "forward": [], "digital": []}
    with torch.no_grad():
        for repeat in range(repeats + 1):  # the first round warms up allocators and kernels
            set_placement(model, [False] * len(layers))
            start = time.perf_counter()
            evaluate()
            digital_done = time.perf_counter()
            set_placement(model, [True] * len(layers))
            program_start = time.perf_counter()
            for layer in layers:
                layer.program()
            programmed = time.perf_counter()
            for layer in layers:
                layer.drift_to(age_s)
            drifted = time.perf_counter()
            evaluate()
            done = time.perf_counter()
            if repeat:
                phases["digital"].append(digital_done - start)
                phases["program"].append(programmed - program_start)
                phases["drift"].append(drifted - programmed)
                phases["forward"].append(done - drifted)
    median = {name: statistics.median(values) for name, values in phases.items()}
    return NaiveCost(median["program"], median["drift"], median["forward"], median["digital"])


def stats_delta(before: CacheStats, after: CacheStats) -> dict[str, int]:
    """Counter increments between two snapshots of the evaluator's statistics."""
    old, new = dataclasses.asdict(before), dataclasses.asdict(after)
    return {key: new[key] - old[key] for key in new if key != "extra"}


def run_steps(
    env: gymnasium.Env,
    policy: Callable[[int], np.ndarray],
    n_steps: int,
    reset_seed: Callable[[int], int],
    label: str,
) -> Throughput:
    """Step ``env`` ``n_steps`` times with ``policy(step_in_episode)``, resetting at each
    episode end with ``reset_seed(episode)``; time everything."""
    evaluator = env.unwrapped.evaluator
    before = dataclasses.replace(evaluator.stats)
    episode, step_in_episode = 0, 0
    start = time.perf_counter()
    env.reset(seed=reset_seed(episode))
    for _ in tqdm(range(n_steps), desc=label, leave=False):
        _, _, terminated, _, _ = env.step(policy(step_in_episode))
        step_in_episode += 1
        if terminated:
            episode, step_in_episode = episode + 1, 0
            env.reset(seed=reset_seed(episode))
    seconds = time.perf_counter() - start
    return Throughput(n_steps, seconds, stats_delta(before, evaluator.stats))


def measure(dataset: str, args: Args) -> tuple[NaiveCost, Throughput, Throughput, int]:
    """Naive cost, cold and warm throughput, and the evaluation batch size of one dataset."""
    # Trained here, with a progress bar, if it is not cached yet; the environment then loads it.
    pretrained = load_or_pretrain(dataset, progress=True)
    env = gymnasium.make(envs.ENV_ID, dataset=dataset, eval_size=EVAL_SIZES.get(dataset))
    unwrapped: envs.HybridPartitionEnv = env.unwrapped
    n_layers, n_steps = unwrapped.n_layers, unwrapped.timeline.n_steps
    naive = naive_cost(unwrapped, pretrained, args.naive_repeats)

    # Cold: a fresh evaluator, random actions (reprogramming included), a new chip draw per
    # episode.
    env.action_space.seed(args.seed)
    cold = run_steps(
        env, lambda _: env.action_space.sample(), args.steps, lambda e: args.seed + e, "cold"
    )

    # Warm: a deterministic policy cycling through a few placements, the same chip every
    # episode. One episode fills the cache; the timed ones replay it.
    cycle = np.array(
        [
            [ANALOG] * n_layers,
            [DIGITAL] + [ANALOG] * (n_layers - 1),
            [DIGITAL, DIGITAL] + [ANALOG] * (n_layers - 2),
            [DIGITAL] * n_layers,
        ]
    )

    def cycling(step: int) -> np.ndarray:
        return cycle[step % len(cycle)]

    run_steps(env, cycling, n_steps, lambda _: args.seed, "warm-up")
    warm = run_steps(env, cycling, args.warm_episodes * n_steps, lambda _: args.seed, "warm")
    env.close()
    return naive, cold, warm, len(unwrapped.evaluator.images)


def main(argv: Sequence[str] | None = None) -> None:
    """Measure every requested dataset and print the tables."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    datasets = [name.strip() for name in args.datasets.split(",") if name.strip()]
    results = {dataset: measure(dataset, args) for dataset in datasets}

    print(f"\ntorch intra-op threads: {torch.get_num_threads()}; scenario {envs.DEFAULT_SCENARIO}")
    print("\n(a) one naive evaluation: program + drift every layer, forward all-analog, no cache")
    header = (
        f"{'dataset':<9} {'batch':>5} {'program':>9} {'drift':>9} {'fwd analog':>11} "
        f"{'naive total':>12} {'fwd digital':>12}"
    )
    print(header)
    for dataset, (naive, _, _, batch) in results.items():
        print(
            f"{dataset:<9} {batch:>5} {_ms(naive.program_s):>9} {_ms(naive.drift_s):>9} "
            f"{_ms(naive.forward_s):>11} {_ms(naive.total_s):>12} "
            f"{_ms(naive.digital_forward_s):>12}"
        )

    print("program includes AIHWKit's read at 0 s; drift is to the last step's age (1 year)")

    print("\n(b, c) environment steps (resets included) and naive cost / step cost")
    header = (
        f"{'dataset':<9} {'run':<5} {'steps':>6} {'steps/s':>9} {'ms/step':>9} {'naive/step':>11}"
    )
    print(header)
    for dataset, (naive, cold, warm, _) in results.items():
        for name, run in (("cold", cold), ("warm", warm)):
            print(
                f"{dataset:<9} {name:<5} {run.steps:>6} {run.steps_per_s:>9.1f} "
                f"{run.step_s * 1e3:>9.2f} {naive.total_s / run.step_s:>10.1f}x"
            )

    print("cold: random actions, reprogramming included, a new chip draw per episode, fresh cache")
    print("warm: 4 placements in turn, the same chip every episode, after one warm-up episode")

    print("\ncache counters moved by each run (env.unwrapped.evaluator.stats)")
    keys = list(next(iter(results.values()))[1].stats)
    print(f"{'dataset':<9} {'run':<5} " + " ".join(f"{key:>18}" for key in keys))
    for dataset, (_, cold, warm, _) in results.items():
        for name, run in (("cold", cold), ("warm", warm)):
            print(f"{dataset:<9} {name:<5} " + " ".join(f"{run.stats[k]:>18}" for k in keys))


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


if __name__ == "__main__":
    main()
