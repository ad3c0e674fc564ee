"""Step cost against depth: the paper's network, the CIFAR-sized one and ResNet-20, side by side.

For each network, in one process and one run (so every ratio compares times taken under the
same machine load), on the environment's evaluation images and one torch thread:

* one digital forward pass of the whole model (the unit of every ratio);
* AIHWKit's own analog forward of the whole model (``module(x)`` of every layer, all analog);
* this project's analog forward of each layer (``hybrid.fast_analog`` with the fused input
  kernel) against AIHWKit's and the digital layer, on the layer's digital input;
* environment steps: the first episode on a new chip placing every layer digital (it includes
  the one-time costs: programming, and for a light measurement its sensitivity curves), first
  in a process that measures the curves (an empty curve cache) and then in a fresh one that
  reads them back (what every later process on the machine pays), a later all-digital
  episode on another new chip, cold steps (random placements, each step's tile states new)
  and warm steps (the same episode again: everything cached);
* the peak resident memory of the process (one per network) after the environment's episodes,
  before AIHWKit's own forwards.

Writes a text table and JSON (``--out``, default ``docs/results/depth_throughput``)::

    python benchmarks/depth_throughput.py                      # all three networks
    python benchmarks/depth_throughput.py --networks resnet20  # one
"""

from __future__ import annotations

import copy
import json
import multiprocessing
import platform
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import torch
import tyro

import envs  # noqa: F401 - registers the environments
from hybrid import fast_analog, fused_unfold
from hybrid.simulator import seeded

NETWORKS = {
    "paper-digits": {"dataset": "digits"},
    "paper-digits32": {"dataset": "digits32"},
    "resnet20": {"dataset": "digits32", "network": "resnet20"},
    "resnet32": {"dataset": "digits32", "network": "resnet32"},
}


@dataclass
class Options:
    """Measure environment step cost against network depth."""

    networks: list[str] = field(
        default_factory=lambda: ["paper-digits", "paper-digits32", "resnet20"]
    )
    """which networks: paper-digits (6 layers, 8x8), paper-digits32 (the CIFAR-sized paper
    network), resnet20, resnet32"""
    cold_steps: int = 12
    """random placements timed for the cold-step median"""
    scenario: str = "strong-drift"
    """the scenario (hardware and timeline)"""
    out: Path = Path("docs/results/depth_throughput")
    """output prefix: OUT.txt and OUT.json"""


def _best_of(function: Any, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def _episode(env: Any, chip: int, actions: list[np.ndarray] | None) -> tuple[float, list[float]]:
    """Seconds for a whole episode (reset included) and each step's seconds."""
    start = time.perf_counter()
    env.reset(options={"chip": chip})
    steps, k, done = [], 0, False
    while not done:
        action = actions[k] if actions is not None else np.zeros(env.n_layers, dtype=int)
        begin = time.perf_counter()
        _, _, terminated, truncated, _ = env.step(action)
        steps.append(time.perf_counter() - begin)
        done, k = terminated or truncated, k + 1
    return time.perf_counter() - start, steps


def _layer_times(env: Any) -> list[dict[str, Any]]:
    """Per layer: digital, AIHWKit analog and fast analog forward seconds on its digital input."""
    model = copy.deepcopy(env.deployment.model).eval()
    from hybrid.layers import hybrid_layers

    layers = dict(hybrid_layers(model))
    inputs: dict[str, torch.Tensor] = {}
    handles = [
        layers[name].register_forward_pre_hook(
            lambda module, args, name=name: inputs.__setitem__(name, args[0])
        )
        for name in env.layer_names
    ]
    with torch.no_grad():
        model(env.evaluator.images)
    for handle in handles:
        handle.remove()
    rows = []
    for index, name in enumerate(env.layer_names):
        layer, x = layers[name], inputs[name]
        with seeded(index):
            layer.program()
            layer.drift_to(3600.0)
        module = layer.analog
        with torch.no_grad():
            digital = _best_of(lambda layer=layer, x=x: layer.digital(x))
            aihwkit = _best_of(lambda module=module, x=x: module(x), repeats=2)

            def fast(module=module, x=x) -> None:
                fast_analog.analog_forward(module, fast_analog.prepare_input(module, x))

            ours = _best_of(fast, repeats=2) if fast_analog.supports(module) else float("nan")
        rows.append({"layer": name, "digital_s": digital, "aihwkit_s": aihwkit, "fast_s": ours})
    return rows


def _first_episode_measuring_curves(kwargs: dict[str, Any], scenario: str, curves: str) -> float:
    """Seconds of the first all-digital episode of a process whose light curves are measured
    (an empty curve cache at ``curves``, which it fills): the first process on a machine."""
    torch.set_num_threads(1)
    fused_unfold.available()
    env = gymnasium.make("HybridPartition-v0", scenario=scenario, **kwargs).unwrapped
    env.deployment.curve_cache_dir = Path(curves)
    seconds, _ = _episode(env, chip=0, actions=None)
    env.close()
    return seconds


def _measure(
    label: str, kwargs: dict[str, Any], options: Options, curves: str, first_episode_s: float
) -> dict[str, Any]:
    torch.set_num_threads(1)
    fused_unfold.available()  # compiled or loaded once, before anything is timed
    start = time.perf_counter()
    env = gymnasium.make("HybridPartition-v0", scenario=options.scenario, **kwargs).unwrapped
    built_s = time.perf_counter() - start
    # Every later process: the same deployment, its light curves read back from the cache.
    env.deployment.curve_cache_dir = Path(curves)
    evaluator = env.evaluator
    with torch.no_grad():
        digital_s = _best_of(lambda: evaluator.model(evaluator.images))
    cached_episode_s, _ = _episode(env, chip=0, actions=None)
    digital_episode_s, _ = _episode(env, chip=1, actions=None)
    rng = np.random.default_rng(0)
    actions = [rng.integers(0, 2, env.n_layers) for _ in range(env.timeline.n_steps)]
    cold: list[float] = []
    chip = 2
    while len(cold) < options.cold_steps:
        _, steps = _episode(env, chip=chip, actions=actions)
        cold.extend(steps)
        chip += 1
    cold = cold[: options.cold_steps]
    _, warm = _episode(env, chip=2, actions=actions)
    # The environment's peak, before AIHWKit's own forwards (whose unfolded tensors are larger)
    env_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    layer_rows = _layer_times(env)
    aihwkit_model = copy.deepcopy(env.deployment.model).eval()
    from hybrid.layers import hybrid_layers

    for index, (_, layer) in enumerate(hybrid_layers(aihwkit_model)):
        layer.set_analog(True)
        with seeded(index):
            layer.program()
            layer.drift_to(3600.0)
    with torch.no_grad():
        aihwkit_s = _best_of(lambda: aihwkit_model(evaluator.images), repeats=1)
    result = {
        "network": label,
        "env_kwargs": kwargs,
        "layers": env.n_layers,
        "measurement": env.meter.measurement,
        "eval_images": int(len(evaluator.images)),
        "built_s": built_s,
        "digital_pass_s": digital_s,
        "aihwkit_all_analog_pass_s": aihwkit_s,
        "first_all_digital_episode_s": first_episode_s,
        "first_all_digital_episode_curves_cached_s": cached_episode_s,
        "all_digital_episode_s": digital_episode_s,
        "cold_step_median_s": statistics.median(cold),
        "cold_steps_s": cold,
        "warm_step_median_s": statistics.median(warm),
        "per_layer": layer_rows,
        "env_peak_rss_mb": env_peak_mb,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    env.close()
    return result


def _table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| network | layers | measurement | digital pass | AIHWKit all-analog pass | "
        "median cold step | warm step | all-digital episode (first: curves measured / first: "
        "curves read back / later) | built | "
        "environment peak RSS |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        d = r["digital_pass_s"]
        lines.append(
            f"| {r['network']} | {r['layers']} | {r['measurement']} | {d * 1e3:.0f} ms | "
            f"{r['aihwkit_all_analog_pass_s'] / d:.1f}x | {r['cold_step_median_s'] / d:.1f}x "
            f"({r['cold_step_median_s']:.2f} s) | {r['warm_step_median_s'] / d:.2f}x | "
            f"{r['first_all_digital_episode_s']:.1f} s / "
            f"{r['first_all_digital_episode_curves_cached_s']:.1f} s / "
            f"{r['all_digital_episode_s']:.1f} s | "
            f"{r['built_s']:.1f} s | {r['env_peak_rss_mb']:.0f} MB |"
        )
    lines.append("")
    lines.append("Per layer, analog forward / digital forward of the same layer on its input:")
    lines.append("")
    lines.append("| network | layer | AIHWKit | this project |")
    lines.append("|---|---|---|---|")
    for r in results:
        for row in r["per_layer"]:
            lines.append(
                f"| {r['network']} | {row['layer']} | {row['aihwkit_s'] / row['digital_s']:.1f}x "
                f"| {row['fast_s'] / row['digital_s']:.1f}x |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    options = tyro.cli(Options, args=argv)
    unknown = sorted(set(options.networks) - set(NETWORKS))
    if unknown:
        raise ValueError(f"unknown network(s) {unknown}; choose from {', '.join(NETWORKS)}")
    torch.set_num_threads(1)
    fused_unfold.available()  # compiled or loaded once, before anything is timed
    results = []
    for label in options.networks:
        print(f"measuring {label} ...", flush=True)
        # Fresh processes per network: their caches and peak memory are their own; the first
        # measures the light curves into an empty cache, the second reads them back.
        context = multiprocessing.get_context("spawn")
        with tempfile.TemporaryDirectory() as curves:
            kwargs = NETWORKS[label]
            with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                first = pool.submit(
                    _first_episode_measuring_curves, kwargs, options.scenario, curves
                ).result()
            with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                measured = pool.submit(_measure, label, kwargs, options, curves, first)
                results.append(measured.result())
        print(_table(results[-1:]).split("\n\n")[0], flush=True)
    table = _table(results)
    options.out.parent.mkdir(parents=True, exist_ok=True)
    header = (
        f"python benchmarks/depth_throughput.py {' '.join(argv or sys.argv[1:])}\n"
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread, "
        f"fused kernel {'on' if fused_unfold.available() else 'off'}; ratios are to one digital "
        "pass of the same network over its evaluation images, measured in the same run\n\n"
    )
    options.out.with_suffix(".txt").write_text(header + table + "\n")
    options.out.with_suffix(".json").write_text(
        json.dumps({"command": argv or sys.argv[1:], "results": results}, indent=2) + "\n"
    )
    print(table)
    return 0


if __name__ == "__main__":
    from agents.cli import run_main

    sys.exit(run_main(main))
