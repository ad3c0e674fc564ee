"""Throughput of the partitioning environment against a naive full analog re-simulation.

For the embedded default model (``digits``, 1x8x8 inputs) and the CIFAR-10-sized network
(``digits32``: the paper's CIFAR network on 3x32x32 inputs, evaluated on 256 images), prints:

(a) the cost of one naive evaluation without any cache: fresh AIHWKit programming of every layer,
    drift of every layer to one age, and a full forward pass with every layer analog, on the
    environment's own evaluation batch (the all-digital forward is shown for reference);
(b) environment steps per second with random actions on a fresh environment (cold cache), and
    with a fixed policy cycling through a few placements, replayed over many episodes (warm
    cache); resets are included in the time;
(c) the ratio naive cost / environment step cost;
(d) the analog forward itself, per layer and for the whole model, every layer programmed and
    drifted to one hour: the digital forward, AIHWKit's own analog forward (the unmodified
    ``AnalogConv2d``/``AnalogLinear``, the reference) and the project's evaluation path
    (``hybrid.fast_analog``, which gives AIHWKit's outputs bit for bit; for a whole model, a
    ``CachedEvaluator`` evaluation of new tile states), as times and ratios to digital;
(e) where a cold environment step's time goes: the reward's evaluation, the observation's
    per-layer measurements (one-layer-analog calibration evaluations and layer noise), tile
    states (AIHWKit programming and drift) and the rest;
(f) the privileged oracle's seconds per episode on a fresh environment (it scores every
    candidate placement at every step), beside the same episode with the evaluator running the
    model's own forward (no memo of the operations between layers), returns checked identical;
(g) PPO training steps per second: ``train_agent.py``'s defaults (two environment processes)
    for ``--ppo-steps`` steps from scratch, and the minutes 50,000 steps would take at that
    rate (an upper bound: later steps find warmer caches).

It also prints the evaluator's cache hit counts. Torch runs the environment's way: one intra-op
thread per process (``--threads`` changes it).

    python benchmarks/env_throughput.py [--steps N] [--warm-episodes N] [--threads N]
    python benchmarks/env_throughput.py --datasets digits --steps 24 --ppo-steps 0
"""

from __future__ import annotations

import dataclasses
import functools
import statistics
import sys
import tempfile
import time
import unittest.mock
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import gymnasium
import numpy as np
import torch
import torch.nn.functional as F
import tyro
from tqdm.auto import tqdm

import agents
import envs
from agents.cli import run_main
from agents.evaluation import run_episode
from agents.run_folder import read_run_config
from agents.training import TrainConfig, train
from hybrid import fast_analog
from hybrid.layers import HybridLayer, hybrid_layers, set_placement
from hybrid.pretrain import PretrainedModel, load_or_pretrain
from hybrid.simulator import CachedEvaluator, CacheStats

DIGITAL, ANALOG = 0, 1
EVAL_SIZES: dict[str, int | None] = {"digits": None, "digits32": 256}
"""Evaluation batch per dataset: the whole digits validation split (360), 256 for digits32."""
FORWARD_AGE_S = 3600.0
"""Drift age of every tile in the forward measurements (d): one hour."""


@dataclass
class Args:
    """Every setting of the benchmark; this dataclass is the command line."""

    steps: int = 240
    """random-action steps per dataset (cold cache)"""
    warm_episodes: int = 50
    """episodes of the cycling policy per dataset (warm cache)"""
    naive_repeats: int = 5
    """naive full re-evaluations timed per dataset (median)"""
    threads: int = 1
    """torch intra-op threads (the environment runs one)"""
    datasets: str = "digits,digits32"
    """comma-separated datasets to measure"""
    seed: int = 0
    """seed of the random actions and resets"""
    forward_repeats: int = 7
    """timed repeats of each forward in (d) (best of)"""
    oracle_episodes: int = 1
    """oracle episodes per dataset and path in (f); 0 skips"""
    ppo_steps: int = 2048
    """PPO training steps per dataset in (g); 0 skips"""


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


@dataclass(frozen=True)
class LayerForward:
    """Seconds of one layer's forward on its all-analog input, by path (best of repeats)."""

    name: str
    input_shape: tuple[int, ...]
    digital_s: float
    aihwkit_s: float
    fast_s: float
    """hybrid.fast_analog with the layer's input already prepared (a new tile state)."""
    fast_with_input_s: float
    """hybrid.fast_analog including the input side (an input seen for the first time)."""


@dataclass(frozen=True)
class ForwardCost:
    """Analog forward costs of one network, per layer and whole (section d)."""

    layers: tuple[LayerForward, ...]
    digital_s: float
    aihwkit_s: float
    evaluator_new_chip_s: float
    """CachedEvaluator, all layers analog in tile states it has not evaluated (a new chip),
    tile states computed beforehand, the batch's conv1 input prepared by an earlier chip."""
    evaluator_first_s: float
    """The same, for an evaluator's first evaluation (no input prepared yet)."""


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


def _best_in_turn(functions: Sequence[Callable[[], object]], repeats: int) -> list[float]:
    """Least wall time of each function over ``repeats`` rounds that call them in turn, after
    one warm-up round: calling them in turn puts a shared machine's changing load on all alike,
    and the least disturbed run is the comparable one."""
    for function in functions:
        function()
    best = [float("inf")] * len(functions)
    for _ in range(repeats):
        for index, function in enumerate(functions):
            start = time.perf_counter()
            function()
            best[index] = min(best[index], time.perf_counter() - start)
    return best


def forward_cost(
    env: envs.HybridPartitionEnv, pretrained: PretrainedModel, repeats: int, seed: int
) -> ForwardCost:
    """Section (d), on separate copies of the environment's network and its evaluation batch."""
    images, targets = env.evaluator.images, env.evaluator.targets
    n_layers = len(env.layer_names)
    digital = pretrained.instantiate(env.hardware).eval()
    analog = pretrained.instantiate(env.hardware).eval()
    named = dict(hybrid_layers(analog))
    layers: list[HybridLayer] = [named[name] for name in env.layer_names]
    # The evaluation path on fresh evaluators, every tile state computed beforehand (layer_noise
    # puts a state in the tile cache) so that only evaluations are timed: chips 1.. of the
    # first evaluator reuse conv1's prepared input (the batch), each evaluator's first
    # evaluation prepares everything.
    evaluators = [
        CachedEvaluator(
            pretrained.instantiate(env.hardware),
            images,
            targets,
            seed=seed + trial,
            layer_names=env.layer_names,
        )
        for trial in range(repeats + 2)
    ]
    new_chips = iter(range(1, repeats + 2))
    firsts = iter(evaluators[1:])
    for evaluator, chips in zip(evaluators, [repeats + 2] + [1] * (repeats + 1), strict=True):
        for chip in range(chips):
            for index in range(n_layers):
                evaluator.layer_noise(index, (chip, FORWARD_AGE_S))

    def new_chip() -> None:
        evaluators[0].evaluate([(next(new_chips), FORWARD_AGE_S)] * n_layers)

    def first() -> None:
        next(firsts).evaluate([(0, FORWARD_AGE_S)] * n_layers)

    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(seed)
        set_placement(analog, [True] * n_layers)
        for layer in layers:
            layer.drift_to(FORWARD_AGE_S)
        inputs = _layer_inputs(analog, layers, images)
        per_layer = [
            _layer_forward(name, layer, x, repeats)
            for name, layer, x in zip(env.layer_names, layers, inputs, strict=True)
        ]
        evaluators[0].evaluate([(0, FORWARD_AGE_S)] * n_layers)  # prepares conv1's input
        digital_s, aihwkit_s, new_chip_s, first_s = _best_in_turn(
            [lambda: digital(images), lambda: analog(images), new_chip, first], repeats
        )
    return ForwardCost(tuple(per_layer), digital_s, aihwkit_s, new_chip_s, first_s)


def _layer_forward(name: str, layer: HybridLayer, x: torch.Tensor, repeats: int) -> LayerForward:
    """One layer's row of section (d), its tiles in their current state."""
    module = layer.analog
    prepared = fast_analog.prepare_input(module, x)

    def fast_with_input() -> torch.Tensor:
        return fast_analog.analog_forward(module, fast_analog.prepare_input(module, x))

    times = _best_in_turn(
        [
            lambda: layer.digital(x),
            lambda: module(x),
            lambda: fast_analog.analog_forward(module, prepared),
            fast_with_input,
        ],
        repeats,
    )
    return LayerForward(name, tuple(x.shape), *times)


def _layer_inputs(
    model: torch.nn.Module, layers: Sequence[HybridLayer], images: torch.Tensor
) -> list[torch.Tensor]:
    """Each layer's input in one forward of ``model`` as it is placed now."""
    inputs: dict[int, torch.Tensor] = {}

    def record(position: int, layer: HybridLayer, x: torch.Tensor) -> torch.Tensor:
        inputs[position] = x
        layer.forward_override = None
        try:
            return layer(x)
        finally:
            layer.forward_override = functools.partial(record, position)

    for position, layer in enumerate(layers):
        layer.forward_override = functools.partial(record, position)
    try:
        model(images)
    finally:
        for layer in layers:
            layer.forward_override = None
    return [inputs[position] for position in range(len(layers))]


class PhaseClock:
    """Exclusive wall time per phase of nested, instrumented calls (section e)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._stack: list[str] = []
        self._since = 0.0

    def wrap(self, phase: str | Callable[..., str], function: Callable) -> Callable:
        """``function``, timed under ``phase`` (or ``phase(*args, **kwargs)``)."""

        @functools.wraps(function)
        def timed(*args, **kwargs):
            name = phase if isinstance(phase, str) else phase(*args, **kwargs)
            self._switch(lambda: self._stack.append(name))
            try:
                return function(*args, **kwargs)
            finally:
                self._switch(self._stack.pop)

        return timed

    def _switch(self, change: Callable[[], object]) -> None:
        now = time.perf_counter()
        if self._stack:
            self.seconds[self._stack[-1]] += now - self._since
        change()
        self._since = now


@contextmanager
def instrumented(env: envs.HybridPartitionEnv, clock: PhaseClock) -> Iterator[None]:
    """Time the evaluator's calls and the layers' AIHWKit tile operations of ``env``."""
    evaluator = env.evaluator

    def evaluation_phase(states: object, batch: str = "eval") -> str:
        return "reward evaluation" if batch == "eval" else "calibration evaluations"

    patched: list[tuple[object, str]] = [
        (evaluator, "evaluate"),
        (evaluator, "layer_noise"),
    ]
    evaluator.evaluate = clock.wrap(evaluation_phase, evaluator.evaluate)
    evaluator.layer_noise = clock.wrap("layer noise (probe)", evaluator.layer_noise)
    for layer in evaluator.layers:
        for method in ("program", "drift_to"):
            setattr(layer, method, clock.wrap("tile states", getattr(layer, method)))
            patched.append((layer, method))
    try:
        yield
    finally:
        for owner, name in patched:
            if isinstance(owner, torch.nn.Module):
                owner.__dict__.pop(name, None)
            else:
                delattr(owner, name)


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


@dataclass(frozen=True)
class OracleCost:
    """Seconds per oracle episode on a fresh environment, on each evaluation path."""

    graph_s: float
    model_forward_s: float
    same_returns: bool


def oracle_cost(dataset: str, episodes: int, seed: int) -> OracleCost | None:
    """Oracle episodes (chips 0.., fresh environments) with the evaluator on its traced graph
    and on the model's own forward, in turn; None for 0 episodes."""
    if episodes < 1:
        return None
    seconds = [0.0, 0.0]
    returns: list[list[float]] = [[], []]
    for episode in range(episodes):
        for path in (0, 1):
            env = gymnasium.make(envs.ENV_ID, dataset=dataset, eval_size=EVAL_SIZES.get(dataset))
            if path == 1:
                env.unwrapped.evaluator.run_model_forward()
            policy = agents.make_policy("oracle")
            policy.bind(env.unwrapped)
            start = time.perf_counter()
            record = run_episode(env.unwrapped, policy, seed + episode, episode)
            seconds[path] += time.perf_counter() - start
            returns[path].append(record.episode_return)
            env.close()
    return OracleCost(seconds[0] / episodes, seconds[1] / episodes, returns[0] == returns[1])


def ppo_rate(dataset: str, steps: int, seed: int) -> float | None:
    """Environment steps per second of ``train_agent.py``'s training loop (its defaults,
    ``steps`` steps from scratch, no comparison or envelope after it); None for 0 steps."""
    if steps < 1:
        return None
    with tempfile.TemporaryDirectory() as folder:
        config = TrainConfig(
            dataset=dataset,
            timesteps=steps,
            seed=seed,
            out=Path(folder) / "run",
            compare_episodes=0,
            envelope_chips=0,
            progress=False,
        )
        run = train(config)
        result = read_run_config(run)["result"]
    return result["num_timesteps"] / result["train_wall_s"]


@contextmanager
def aihwkit_forward() -> Iterator[None]:
    """The evaluator as it was before hybrid.fast_analog: every analog layer through AIHWKit's
    own forward (``layer.analog(x)``), for a side-by-side reference."""
    with unittest.mock.patch.object(fast_analog, "supports", lambda module: False):
        yield


def run_cold(
    runs: Sequence[tuple[gymnasium.Env, Callable[[], AbstractContextManager]]],
    n_steps: int,
    seed: int,
) -> tuple[list[Throughput], bool]:
    """Random actions on fresh environments, a new chip draw per episode, reprogramming
    included, episode by episode in turn on each ``(env, context)`` so that a shared machine's
    load falls on all alike. Returns each run's throughput and whether every run got the same
    rewards (same seeds, same actions)."""
    episode_steps = runs[0][0].unwrapped.timeline.n_steps
    episodes = max(1, -(-n_steps // episode_steps))
    seconds = [0.0] * len(runs)
    rewards: list[list[float]] = [[] for _ in runs]
    befores = [dataclasses.replace(env.unwrapped.evaluator.stats) for env, _ in runs]
    for env, _ in runs:
        env.action_space.seed(seed)
    for episode in tqdm(range(episodes), desc="cold", leave=False):
        for index, (env, context) in enumerate(runs):
            with context():
                start = time.perf_counter()
                env.reset(seed=seed + episode)
                terminated = False
                while not terminated:
                    _, reward, terminated, _, _ = env.step(env.action_space.sample())
                    rewards[index].append(reward)
                seconds[index] += time.perf_counter() - start
    throughputs = [
        Throughput(
            episodes * episode_steps, spent, stats_delta(before, env.unwrapped.evaluator.stats)
        )
        for (env, _), spent, before in zip(runs, seconds, befores, strict=True)
    ]
    return throughputs, all(r == rewards[0] for r in rewards)


@dataclass(frozen=True)
class DatasetResult:
    """Everything measured on one dataset."""

    naive: NaiveCost
    cold: Throughput
    cold_aihwkit: Throughput
    """The same cold run with the evaluator on AIHWKit's own forward (as before the fast path)."""
    same_rewards: bool
    warm: Throughput
    batch: int
    forward: ForwardCost
    cold_phases: dict[str, float]
    """Exclusive seconds per phase over the cold run (section e)."""
    oracle: OracleCost | None
    ppo_steps_per_s: float | None


def measure(dataset: str, args: Args) -> DatasetResult:
    """Every section's measurements on one dataset."""
    # Trained here, with a progress bar, if it is not cached yet; the environment then loads it.
    pretrained = load_or_pretrain(dataset, progress=True)
    env = gymnasium.make(envs.ENV_ID, dataset=dataset, eval_size=EVAL_SIZES.get(dataset))
    unwrapped: envs.HybridPartitionEnv = env.unwrapped
    n_layers, n_steps = unwrapped.n_layers, unwrapped.timeline.n_steps
    naive = naive_cost(unwrapped, pretrained, args.naive_repeats)
    forward = forward_cost(unwrapped, pretrained, args.forward_repeats, args.seed)

    # Cold: a fresh evaluator, random actions (reprogramming included), a new chip draw per
    # episode; beside it the same run on AIHWKit's own forward.
    reference = gymnasium.make(envs.ENV_ID, dataset=dataset, eval_size=EVAL_SIZES.get(dataset))
    reference.unwrapped.evaluator.run_model_forward()  # no fast path, with the line below
    clock = PhaseClock()
    (cold, cold_aihwkit), same_rewards = run_cold(
        [(env, functools.partial(instrumented, unwrapped, clock)), (reference, aihwkit_forward)],
        args.steps,
        args.seed,
    )
    reference.close()

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
    return DatasetResult(
        naive,
        cold,
        cold_aihwkit,
        same_rewards,
        warm,
        len(unwrapped.evaluator.images),
        forward,
        dict(clock.seconds),
        oracle_cost(dataset, args.oracle_episodes, args.seed),
        ppo_rate(dataset, args.ppo_steps, args.seed),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line (``argv`` for tests); the exit code."""
    args = tyro.cli(Args, args=argv, description=__doc__.split("\n\n")[0])
    return run_main(lambda: report(args))


def report(args: Args) -> None:
    """Measure every requested dataset and print the tables."""
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
    for dataset, result in results.items():
        naive = result.naive
        print(
            f"{dataset:<9} {result.batch:>5} {_ms(naive.program_s):>9} {_ms(naive.drift_s):>9} "
            f"{_ms(naive.forward_s):>11} {_ms(naive.total_s):>12} "
            f"{_ms(naive.digital_forward_s):>12}"
        )

    print("program includes AIHWKit's read at 0 s; drift is to the last step's age (1 year)")

    print("\n(b, c) environment steps (resets included) and naive cost / step cost")
    header = (
        f"{'dataset':<9} {'run':<5} {'steps':>6} {'steps/s':>9} {'ms/step':>9} {'naive/step':>11}"
    )
    print(header)
    for dataset, result in results.items():
        runs = (("cold", result.cold), ("cold*", result.cold_aihwkit), ("warm", result.warm))
        for name, run in runs:
            print(
                f"{dataset:<9} {name:<5} {run.steps:>6} {run.steps_per_s:>9.1f} "
                f"{run.step_s * 1e3:>9.2f} {result.naive.total_s / run.step_s:>10.1f}x"
            )
        same = "identical" if result.same_rewards else "DIFFERENT"
        print(
            f"{dataset:<9} cold step {result.cold_aihwkit.step_s / result.cold.step_s:.2f}x "
            f"faster than with AIHWKit's forward; rewards of the two runs: {same}"
        )

    print("cold: random actions, reprogramming included, a new chip draw per episode, fresh cache")
    print("cold*: the same run, episode by episode in turn with it, the evaluator's analog layers")
    print("  on AIHWKit's own forward and the rest on the model's forward (no fast path)")
    print("warm: 4 placements in turn, the same chip every episode, after one warm-up episode")

    print("\ncache counters moved by each run (env.unwrapped.evaluator.stats)")
    keys = list(next(iter(results.values())).cold.stats)
    print(f"{'dataset':<9} {'run':<5} " + " ".join(f"{key:>18}" for key in keys))
    for dataset, result in results.items():
        for name, run in (
            ("cold", result.cold),
            ("cold*", result.cold_aihwkit),
            ("warm", result.warm),
        ):
            print(f"{dataset:<9} {name:<5} " + " ".join(f"{run.stats[k]:>18}" for k in keys))

    print(
        f"\n(d) analog forward, every tile drifted to {FORWARD_AGE_S:g} s, best of "
        f"{args.forward_repeats} taken in turn; ratios to the digital forward"
    )
    for dataset, result in results.items():
        _print_forward(dataset, result.batch, result.forward)
    print("AIHWKit: the unmodified AnalogConv2d/AnalogLinear forward (the reference)")
    print("fast: hybrid.fast_analog, bit-identical to AIHWKit; 'input ready' = the layer's input")
    print("  already prepared (a new tile state of a seen input), '+input' = preparing it too")
    print("evaluator: CachedEvaluator.evaluate of all-analog tile states it has not evaluated")
    print("  (states computed beforehand); 'new chip' = another chip after the first, which")
    print("  reuses conv1's prepared input (the batch itself); 'first' = nothing prepared")

    print("\n(e) where a cold step's time goes (exclusive time, share of the cold run)")
    phases = [
        "reward evaluation",
        "calibration evaluations",
        "layer noise (probe)",
        "tile states",
    ]
    print(f"{'dataset':<9} {'ms/step':>8} " + " ".join(f"{p:>24}" for p in [*phases, "rest"]))
    for dataset, result in results.items():
        total = result.cold.seconds
        spent = [result.cold_phases.get(phase, 0.0) for phase in phases]
        spent.append(total - sum(spent))
        cells = [f"{s / result.cold.steps * 1e3:7.2f} ms {s / total:5.0%}" for s in spent]
        print(
            f"{dataset:<9} {result.cold.step_s * 1e3:>8.2f} " + " ".join(f"{c:>24}" for c in cells)
        )
    print("calibration evaluations: the observation's one-layer-analog sensitivities (and")
    print("  env.measure); layer noise: the observation's per-layer output error on probe")
    print("  images; tile states: AIHWKit programming and drift (read noise, compensation)")

    print("\n(f) the oracle, seconds per episode from a fresh environment (every candidate scored)")
    print(f"{'dataset':<9} {'traced graph':>13} {'model forward':>14} {'speed-up':>9}  returns")
    for dataset, result in results.items():
        oracle = result.oracle
        if oracle is None:
            continue
        same = "identical" if oracle.same_returns else "DIFFERENT"
        print(
            f"{dataset:<9} {oracle.graph_s:>11.1f} s {oracle.model_forward_s:>12.1f} s "
            f"{oracle.model_forward_s / oracle.graph_s:>8.2f}x  {same}"
        )
    print("traced graph: the evaluator runs the model's torch.fx graph and memoises the values")
    print("  between layers; model forward: the same evaluator on the model's own forward")

    print(f"\n(g) PPO training (train_agent.py defaults, {args.ppo_steps} steps from scratch)")
    print(f"{'dataset':<9} {'steps/s':>8} {'50,000 steps':>13}")
    for dataset, result in results.items():
        if result.ppo_steps_per_s is None:
            continue
        minutes = 50_000 / result.ppo_steps_per_s / 60
        print(f"{dataset:<9} {result.ppo_steps_per_s:>8.1f} {minutes:>9.1f} min")
    print("at the first steps' rate: an upper bound, later steps find the caches warmer")


def _print_forward(dataset: str, batch: int, cost: ForwardCost) -> None:
    """One dataset's table of section (d)."""
    print(f"{dataset}, {batch} images")
    print(
        f"  {'layer':<12} {'input':<16} {'digital':>9} {'AIHWKit':>16} "
        f"{'fast, input ready':>20} {'fast +input':>16}"
    )
    for layer in cost.layers:
        print(
            f"  {layer.name:<12} {'x'.join(map(str, layer.input_shape)):<16} "
            f"{_ms(layer.digital_s):>9} {_vs(layer.aihwkit_s, layer.digital_s):>16} "
            f"{_vs(layer.fast_s, layer.digital_s):>20} "
            f"{_vs(layer.fast_with_input_s, layer.digital_s):>16}"
        )
    digital = sum(layer.digital_s for layer in cost.layers)
    print(
        f"  {'sum of layers':<29} {_ms(digital):>9} "
        f"{_vs(sum(layer.aihwkit_s for layer in cost.layers), digital):>16} "
        f"{_vs(sum(layer.fast_s for layer in cost.layers), digital):>20} "
        f"{_vs(sum(layer.fast_with_input_s for layer in cost.layers), digital):>16}"
    )
    print(
        f"  {'whole model':<29} {_ms(cost.digital_s):>9} "
        f"{_vs(cost.aihwkit_s, cost.digital_s):>16} "
        f"{'evaluator, new chip ' + _vs(cost.evaluator_new_chip_s, cost.digital_s):>37} "
        f"  first {_vs(cost.evaluator_first_s, cost.digital_s)}"
    )


def _vs(seconds: float, digital_s: float) -> str:
    return f"{seconds * 1e3:.1f} ms {seconds / digital_s:4.1f}x"


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


if __name__ == "__main__":
    sys.exit(main())
