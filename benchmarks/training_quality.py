"""Does the learned training-time policy win? Its targets, measured in one run.

    python benchmarks/training_quality.py --model runs/training-digits-strong-drift-seed0
    python benchmarks/training_quality.py --model RUN_SEED0 RUN_SEED1 RUN_SEED2 --episodes 40 \
        --out quality.json

For each run trained on ``HybridTraining-v0`` it runs the agent and every training-time baseline
on the same distinct held-out chips (``envs.chips.TEST_CHIP_OFFSET``, chips the agent never
trained or was validated on; common random numbers) and prints:

1. every policy's return with its 95% CI, training energy, deployed energy and accuracy;
2. the agent against each baseline: the paired difference of returns with its 95% CI;
3. the same actions replayed on images no policy was scored on (the test split: same chips,
   same training, the deployment scored on unseen images), and the paired differences there;
4. speed: the run's PPO training wall time, and the wall time of one episode per policy.

Given several runs (training seeds of the same environment configuration), the baselines are
run once and, last, the seeds are pooled: per held-out chip the agent's return averaged over the
seeds, minus each baseline's on that chip, with the 95% CI over chips (the training seed counts
as part of the method). The targets are judged on the pooled margins, and the number of seeds
that beat each rival beyond the CI on their own is printed beside them.

It ends with one line per target: met or not, with the measured figure.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tyro

import agents
import envs
from agents.cli import require_int, run_main
from agents.evaluation import EpisodeRecord, replay_episode, run_episode
from agents.hybrid_training.reporting import format_training_table, summarise_training
from agents.ppo import PPOPolicy
from agents.reporting import mean_ci95, paired_ci95, pool_seeds
from agents.run_folder import make_env_from_config, read_run_config
from envs.chips import TEST_CHIP_OFFSET, first_chips, held_out_pool

RIVALS = ("threshold-training", "lionheart-training")
"""The rules the learned policy must beat beyond the CI: the paper's and LionHeart's."""


@dataclass
class Options:
    """Measure trained HybridTraining-v0 agents against the training-time baselines."""

    model: list[Path]
    """HybridTraining-v0 runs (training seeds of one environment configuration)"""
    episodes: int = 20
    """distinct held-out chips"""
    out: Path | None = None
    """write the figures as JSON"""


def held_out_env(config: dict[str, Any], episodes: int, **overrides: Any) -> Any:
    """The run's environment on held-out chips, one distinct chip per episode, every chip its
    own training stream."""
    pool = held_out_pool(config["env_resolved"]["chip_pool"], episodes)
    return make_env_from_config(
        config, chip_offset=TEST_CHIP_OFFSET, chip_pool=pool, training_streams=None, **overrides
    )


def replay(env: Any, record: EpisodeRecord) -> float:
    """The return of ``record``'s actions replayed on ``env`` (same seed, chip and actions)."""
    return sum(replay_episode(env, record.seed, record.chip, [s["action"] for s in record.steps]))


def environment_of(config: dict[str, Any]) -> dict[str, Any]:
    """What a run's baselines depend on: its resolved environment (not its training seed)."""
    return config["env_resolved"]


def measure(
    run: Path,
    episodes: int,
    baselines: dict[str, tuple[list[EpisodeRecord], list[float]]] | None = None,
) -> tuple[dict[str, Any], dict[str, list[EpisodeRecord]]]:
    """Every figure of the module docstring for one trained run, and every policy's episode
    records; ``baselines`` (records and unseen-image returns per baseline, from a run of the
    same environment) are reused."""
    config = read_run_config(run)
    if config.get("env_id") != envs.TRAINING_ENV_ID:
        raise ValueError(
            f"{run} was not trained on {envs.TRAINING_ENV_ID}; pass runs of train_agent.py "
            f"--env {envs.TRAINING_ENV_ID}"
        )
    env = held_out_env(config, episodes)
    unseen_env = held_out_env(config, episodes, eval_split="test")
    names = [n for n in agents.policy_names(envs.TRAINING_ENV_ID) if n != "ppo"]
    policies = {"ppo": PPOPolicy(path=run), **{n: agents.make_policy(n) for n in names}}
    chips = first_chips(TEST_CHIP_OFFSET, episodes)
    records: dict[str, list[EpisodeRecord]] = {}
    unseen: dict[str, list[float]] = {}
    for name, policy in policies.items():
        if baselines is not None and name in baselines:
            records[name], unseen[name] = baselines[name]
        else:
            policy.bind(env)
            records[name] = [
                run_episode(env, policy, seed, chip) for seed, chip in enumerate(chips)
            ]
            unseen[name] = [replay(unseen_env, r) for r in records[name]]
        print(f"  {name}: {np.mean([r.episode_return for r in records[name]]):.2f}", flush=True)
    rows = [summarise_training(name, recs) for name, recs in records.items()]
    print(format_training_table(rows))
    returns = {name: [r.episode_return for r in recs] for name, recs in records.items()}
    margins = {n: paired_ci95(returns["ppo"], returns[n]) for n in names}
    unseen_margins = {n: paired_ci95(unseen["ppo"], unseen[n]) for n in names}
    print(
        "ppo - baseline, paired (evaluation images | unseen test images):\n"
        + "\n".join(
            f"  {n:22s} {margins[n][0]:+7.2f} ± {margins[n][1]:5.2f} | "
            f"{unseen_margins[n][0]:+7.2f} ± {unseen_margins[n][1]:5.2f}"
            for n in names
        )
    )
    print(
        "returns on unseen test images: "
        + ", ".join(f"{n} {np.mean(v):.2f}" for n, v in unseen.items())
    )
    train_s = config.get("result", {}).get("train_wall_s")
    targets = {
        f"beats {n} beyond the CI on held-out chips": margins[n][0] - margins[n][1] > 0
        for n in RIVALS
    }
    targets.update(
        {
            f"beats {n} beyond the CI on unseen images": unseen_margins[n][0] - unseen_margins[n][1]
            > 0
            for n in RIVALS
        }
    )
    targets["PPO training under 20 minutes"] = train_s is not None and train_s < 1200
    for target, met in targets.items():
        print(f"{'MET    ' if met else 'NOT MET'} {target}")
    print(f"PPO training wall time {train_s} s ({config['result'].get('num_timesteps')} steps)")
    return {
        "run": str(run),
        "environment": environment_of(config),
        "returns": returns,
        "unseen_returns": unseen,
        "episodes": episodes,
        "chips": chips,
        "rows": rows,
        "margins": margins,
        "unseen": {n: mean_ci95(v) for n, v in unseen.items()},
        "unseen_margins": unseen_margins,
        "train_wall_s": train_s,
        "num_timesteps": config["result"].get("num_timesteps"),
        "targets": targets,
        "actions": {
            name: [[s["action"] for s in r.steps] for r in recs] for name, recs in records.items()
        },
    }, records


def pool(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The seeds pooled (module docstring): per chip the agent's return averaged over the runs,
    minus each baseline's, with the 95% CI over chips; and per rival the seeds that beat it
    beyond the CI on their own."""
    names = [n for n in results[0]["returns"] if n != "ppo"]
    pooled: dict[str, Any] = {"seeds": len(results)}
    for key, source, alone in (
        ("margins", "returns", "seeds_beyond_ci"),
        ("unseen_margins", "unseen_returns", "unseen_seeds_beyond_ci"),
    ):
        seeds = pool_seeds(
            [r[source]["ppo"] for r in results], {n: results[0][source][n] for n in names}
        )
        if source == "returns":
            pooled["ppo"] = seeds["agent"]
        pooled[key], pooled[alone] = seeds["margins"], seeds["seeds_beyond_ci"]
    print(
        f"{len(results)} seeds pooled, ppo - baseline, paired by chip "
        "(evaluation images | unseen test images; seeds beyond the CI alone):\n"
        + "\n".join(
            f"  {n:22s} {pooled['margins'][n][0]:+7.2f} ± {pooled['margins'][n][1]:5.2f} | "
            f"{pooled['unseen_margins'][n][0]:+7.2f} ± {pooled['unseen_margins'][n][1]:5.2f}"
            f"   ({pooled['seeds_beyond_ci'][n]} | {pooled['unseen_seeds_beyond_ci'][n]}"
            f" of {len(results)})"
            for n in names
        )
    )
    targets = {}
    for n in RIVALS:
        for key, where in (("margins", "held-out chips"), ("unseen_margins", "unseen images")):
            mean, ci = pooled[key][n]
            targets[f"{len(results)} seeds pooled beat {n} beyond the CI on {where}"] = (
                mean - ci > 0
            )
    for target, met in targets.items():
        print(f"{'MET    ' if met else 'NOT MET'} {target}")
    pooled["targets"] = targets
    return pooled


def main(argv: Sequence[str] | None = None) -> int:
    """Command line (``argv`` for tests); the exit code."""
    options = tyro.cli(Options, args=argv, description=__doc__.split("\n\n")[0])
    return run_main(lambda: benchmark(options))


def benchmark(args: Options) -> None:
    """Measure every run (the baselines once), print the tables; with ``--out``, write them."""
    if not args.model:
        raise ValueError("--model takes one or more HybridTraining-v0 runs")
    require_int("episodes", args.episodes, 2)  # a 95% CI needs two chips
    first = environment_of(read_run_config(args.model[0]))
    for run in args.model[1:]:  # the baselines are shared: one environment for every run
        if environment_of(read_run_config(run)) != first:
            raise ValueError(
                f"--model {run}: another environment configuration than {args.model[0]}; "
                "pass the training seeds of one configuration"
            )
    results: list[dict[str, Any]] = []
    baselines = None
    for run in args.model:
        print(f"== {run}", flush=True)
        result, records = measure(run, args.episodes, baselines)
        if baselines is None:
            baselines = {
                n: (records[n], result["unseen_returns"][n]) for n in records if n != "ppo"
            }
        results.append(result)
    output: dict[str, Any] = {"runs": results}
    if len(results) > 1:
        output["pooled"] = pool(results)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(output, indent=2, default=str))


if __name__ == "__main__":
    sys.exit(main())
