"""Does the learned policy win? The four targets of the policy-quality issue, measured in one run.

    python benchmarks/policy_quality.py                               # train, then measure
    python benchmarks/policy_quality.py --model runs/digits-strong-drift-seed0   # measure only
    python benchmarks/policy_quality.py --scenarios paper,strong-drift
    python benchmarks/policy_quality.py --model runs/digits32-strong-drift-seed0 --episodes 10
    python benchmarks/policy_quality.py --scenarios stream-fast-drift,stream-strong-drift
    python benchmarks/policy_quality.py --model RUN_SEED0 RUN_SEED1 RUN_SEED2   # seeds pooled

For every (dataset, scenario) it trains the agent with ``train_agent.py``'s defaults (timing the
wall clock) unless runs are given, then runs the agent and every heuristic on the same held-out
chips (common random numbers) and prints:

1. quality, headline first: every policy's actions replayed on images no policy, tuning or
   training reward used (the test split; same chips, tile states and request streams), the
   agent against every heuristic with the paired 95% CI of the difference. Then, secondary,
   the same on the evaluation images the reward (and the agent's training) used, and the gap to
   the myopic oracle. Deployable heuristics (observation and calibration measurements only) are
   the rivals; the privileged ones (``greedy-preview``, ``oracle``: they score candidates on
   the reward's own images at the end of the coming interval) are references; the part of
   their lead that vanishes on unseen images was selection on the evaluation images. A run
   folder's ``heuristics.json`` (``benchmarks/tune_heuristics.py --out``: each rule's best
   parameters on that scenario's training chips) sets the rules' parameters;
2. energy and accuracy: energy per inference relative to all-digital, the saving as a fraction
   of the best possible one (all layers analog), and the worst step of each task's accuracy
   against all-digital (mean over episodes, with its CI);
3. speed: training wall time next to the oracle's search time for the same episodes;
4. generalisation: the agent of the default scenario under a 2x stronger drift, against the
   static heuristics, and how its behaviour changes (reprogramming, digital layers).

Given several runs (``--model RUN_SEED0 RUN_SEED1 ...``: training seeds of one scenario, e.g.
with and without ``train_agent.py --imitate``'s seed), the rules run once and the seeds are
pooled: per held-out chip the agent's return averaged over the seeds minus each rule's, with the
95% CI over chips, and how many seeds beat each rule on their own (``agents.reporting.pool_seeds``,
as ``benchmarks/training_quality.py`` does).

It ends with one line per target: met or not met, and the measured figure. A benchmark, not a
test: a full run trains one agent per (dataset, scenario) and takes many minutes.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tyro

import agents
import envs
from agents.cli import require_int, run_main
from agents.evaluation import EpisodeRecord, replay_episode, run_episode
from agents.heuristics import STREAM_RULES
from agents.ppo import PPOPolicy
from agents.reporting import beyond_ci, format_table, mean_ci95, paired_ci95, pool_seeds, summarise
from agents.run_folder import HEURISTICS_FILE, make_env_from_config, read_run_config
from agents.training import TrainConfig, train
from envs.chips import TEST_CHIP_OFFSET, first_chips, held_out_pool

SCRIPT = "benchmarks/policy_quality.py"
"""How the report's ``command`` names this script."""
STATIC = ("all-digital", "all-analog", "keep-first-last-digital")
"""Placements that never change over the deployment."""


@dataclasses.dataclass
class Options:
    """Measure the learned policy against every heuristic, and the four targets."""

    datasets: str = "digits"
    """comma-separated; digits32 trains from scratch in about ten minutes on 2 cores (README,
    Speed)"""
    scenarios: str = ",".join(envs.SCENARIOS)
    """comma-separated named scenarios: one run is trained and measured per dataset and
    scenario"""
    model: list[Path] | None = None
    """measure this run only (skips training); several runs: training seeds of one scenario, the
    rules run once and the seeds pooled"""
    runs: Path = Path("runs/quality")
    """where trained runs go (reused when present)"""
    episodes: int = 20
    """held-out chips per policy (20: paired CIs of about ±0.4 on the embedded dataset)"""
    timesteps: int | None = None
    """training steps (default: train_agent.py's)"""
    drift_scale: float = 2.0
    """target 4 (generalisation): the default scenario's agent under this times its drift"""
    generalise: bool = True
    """measure target 4 (--no-generalise leaves it out: on ResNet-20 its episodes, the static
    placements under the stronger drift, cost as much as the rest of the run)"""
    out: Path = Path("results/policy_quality.json")
    """JSON file of every measured figure, the target lines and each run's configuration"""
    skip: str = ""
    """comma-separated heuristics to leave out (e.g. oracle, whose exhaustive search takes about
    20 s per episode on the CIFAR-sized network here); a skipped oracle makes target 1
    unmeasured"""
    workers: int = 0
    """run the episodes as Ray tasks, this many at a time (same numbers; needs pip install -e
    '.[ray]'); 0: in this process. Sweeps over seeds: python -m agents.sweep"""
    address: str | None = None
    """with --workers: the Ray cluster (auto, HOST:PORT)"""


@dataclasses.dataclass(frozen=True)
class RayOptions:
    """Where the episodes run: ``workers`` Ray tasks at a time (0: in this process), on the
    cluster at ``address`` (None: RAY_ADDRESS or a local Ray)."""

    workers: int = 0
    address: str | None = None


def held_out_env(config: dict[str, Any], episodes: int, **overrides: Any) -> Any:
    """The run's environment on held-out chips, its pool large enough that every episode gets
    a distinct chip."""
    pool = held_out_pool(config["env_resolved"]["chip_pool"], episodes)
    return make_env_from_config(config, chip_offset=TEST_CHIP_OFFSET, chip_pool=pool, **overrides)


def run_all(
    env: Any, policies: dict[str, agents.Policy], episodes: int, ray: RayOptions | None = None
) -> dict[str, list]:
    """Every policy on the same distinct held-out chips; records by policy name (with ``ray``,
    the episodes run as Ray tasks, with the same numbers)."""
    chips = first_chips(TEST_CHIP_OFFSET, episodes)
    if ray is not None and ray.workers > 0:
        from agents.distributed import run_policies

        return run_policies(env, policies, range(episodes), chips, ray.workers, ray.address)
    records: dict[str, list[EpisodeRecord]] = {}
    for name, policy in policies.items():
        policy.bind(env)
        records[name] = [run_episode(env, policy, seed, chip) for seed, chip in enumerate(chips)]
    return records


def replay(env: Any, record: EpisodeRecord) -> float:
    """The return of ``record``'s actions replayed on ``env`` (same seed, chip and actions)."""
    return sum(replay_episode(env, record.seed, record.chip, [s["action"] for s in record.steps]))


def gap(reference: float, mine: float) -> float:
    """How far ``mine`` falls short of ``reference``, as a fraction of it (NaN: no reference)."""
    return (reference - mine) / abs(reference)


def paired(a: list[EpisodeRecord], b: list[EpisodeRecord]) -> tuple[float, float]:
    """Mean and 95% CI half-width of the per-episode return difference a - b."""
    return paired_ci95([x.episode_return for x in a], [y.episode_return for y in b])


def tuned_parameters(run: Path) -> dict[str, dict[str, Any]]:
    """The rules' parameters tuned for this run's scenario on training chips
    (``RUN/heuristics.json``, written by ``benchmarks/tune_heuristics.py --out``); empty when
    the run has none (every rule at its default)."""
    path = run / HEURISTICS_FILE
    if not path.exists():
        return {}
    params = json.loads(path.read_text())["params"]
    print(f"  rule parameters tuned on training chips ({path}): {params}")
    return params


def measure(
    run: Path,
    episodes: int,
    skip: tuple[str, ...] = (),
    ray: RayOptions | None = None,
    rules: dict[str, tuple[list[EpisodeRecord], list[float]]] | None = None,
) -> dict[str, Any]:
    """Targets 1-3 for one trained run (``skip``: heuristics left out, e.g. the oracle to save
    its search time; ``ray``: episodes as Ray tasks; ``rules``: every heuristic's records and
    unseen-image returns from another seed of the same environment, reused instead of rerun)."""
    config = read_run_config(run)
    env = held_out_env(config, episodes)
    names = [n for n in agents.policy_names(envs.ENV_ID) if n != "ppo" and n not in skip]
    if env.unwrapped.workload is None:  # the stream rules act on request streams only
        names = [n for n in names if n not in STREAM_RULES]
    params = tuned_parameters(run)
    policies = {
        "ppo": PPOPolicy(path=run),
        **{n: agents.make_policy(n, **params.get(n, {})) for n in names},
    }
    to_run = {n: p for n, p in policies.items() if rules is None or n not in rules}
    records = run_all(env, to_run, episodes, ray)
    if rules is not None:
        records.update({n: rules[n][0] for n in policies if n in rules})
        records = {n: records[n] for n in policies}  # the agent first, as when run together
    rows = [summarise(name, recs) for name, recs in records.items()]
    result: dict[str, Any] = {"run": str(run), "rows": rows, "records": records, "config": config}
    ppo = records["ppo"]
    privileged = [n for n in names if policies[n].uses_preview]
    deployable = [n for n in names if n not in privileged]
    margins = {n: paired(ppo, records[n]) for n in names}
    result["beats"] = {n: beyond_ci(margins[n]) for n in deployable}
    result["privileged"] = {n: margins[n] for n in privileged}
    result["margins"] = margins
    returns = {name: np.mean([r.episode_return for r in recs]) for name, recs in records.items()}
    result["oracle_gap"] = gap(returns.get("oracle", np.nan), returns["ppo"])

    # The same actions on images nobody chose them on.
    unseen_env = held_out_env(config, episodes, eval_split="test")
    unseen = {
        name: rules[name][1]
        if rules is not None and name in rules
        else [replay(unseen_env, r) for r in recs]
        for name, recs in records.items()
    }
    result["returns"] = {n: [r.episode_return for r in recs] for n, recs in records.items()}
    result["unseen_returns"] = unseen
    result["unseen"] = {name: mean_ci95(values) for name, values in unseen.items()}
    result["unseen_margins"] = {n: paired_ci95(unseen["ppo"], unseen[n]) for n in names}
    result["beats_unseen"] = {n: beyond_ci(result["unseen_margins"][n]) for n in deployable}
    result["unseen_oracle_gap"] = gap(
        result["unseen"].get("oracle", (np.nan,))[0], result["unseen"]["ppo"][0]
    )

    floor = env.unwrapped.cost_ratios(np.ones(env.unwrapped.n_layers, dtype=int))[0]
    energy = np.mean([r.mean_energy_ratio for r in ppo])
    result["energy"] = energy
    result["saving_of_ceiling"] = (1 - energy) / (1 - floor)
    digital = np.array(ppo[0].steps[0]["digital_accuracies"])
    per_step = np.stack([r.accuracies for r in ppo])  # episodes, steps, tasks
    mean_acc = per_step.mean(axis=0)
    result["worst_drop"] = float((digital - mean_acc).max())
    result["worst_drop_ci"] = [
        mean_ci95(per_step[:, s, t])
        for s in range(per_step.shape[1])
        for t in range(per_step.shape[2])
    ]
    result["oracle_s"] = float(np.mean([r.wall_s for r in records.get("oracle", [])] or [np.nan]))
    result["ppo_s"] = float(np.mean([r.wall_s for r in ppo]))
    if "served_energy_vs_digital" in rows[0]:
        result["served_energy"] = {row["policy"]: row["served_energy_vs_digital"] for row in rows}
    print(
        f"  headline: unseen images (test split), held-out chips {TEST_CHIP_OFFSET}.."
        f"{TEST_CHIP_OFFSET + episodes - 1}, the same actions as below"
    )
    print(headline_table(result, privileged))
    print("  secondary: the evaluation images (the reward's own, which training also used)")
    print(format_table(rows))
    print(
        "  ppo vs deployable heuristics (paired mean diff ± CI): "
        + ", ".join(f"{n} {margins[n][0]:+.2f}±{margins[n][1]:.2f}" for n in deployable)
    )
    print(
        "  ppo vs privileged references: "
        + ", ".join(f"{n} {margins[n][0]:+.2f}±{margins[n][1]:.2f}" for n in privileged)
    )
    print(
        f"  gap to oracle {result['oracle_gap']:.1%} ({result['unseen_oracle_gap']:.1%} on "
        f"unseen images); energy {energy:.3f} of digital, "
        f"{result['saving_of_ceiling']:.0%} of the possible saving; worst mean accuracy drop "
        f"{result['worst_drop'] * 100:.2f} points"
    )
    return result


def headline_table(result: dict[str, Any], privileged: list[str]) -> str:
    """The unseen-image table: every policy's replayed return and the agent's paired margin."""
    served = result.get("served_energy", {})
    header = ["policy", "kind", "return, unseen images", "ppo − it", "energy/digital"]
    lines = []
    for name, (mean, ci) in result["unseen"].items():
        kind = "learned" if name == "ppo" else "privileged" if name in privileged else "rule"
        margin = result["unseen_margins"].get(name)
        beaten = "" if margin is None else " (beaten)" if beyond_ci(margin) else ""
        energy = served.get(name)
        if energy is None:
            energy = next(r["energy_vs_digital"] for r in result["rows"] if r["policy"] == name)
        lines.append(
            [
                name,
                kind,
                f"{mean:.2f} ± {ci:.2f}",
                "" if margin is None else f"{margin[0]:+.2f} ± {margin[1]:.2f}{beaten}",
                f"{energy:.3f}",
            ]
        )
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]

    def render(cells: list[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))

    return "\n".join([render(header), render(["-" * w for w in widths]), *map(render, lines)])


def summary_table(results: dict[tuple[str, str], dict[str, Any]]) -> str:
    """One line per scenario, unseen images first (the headline), evaluation images after."""
    lines = [
        "| scenario | ppo, unseen images | best deployable rule (ppo − it; rules beaten) | "
        "ppo − oracle, unseen | ppo − best rule, evaluation images |",
        "|---|---|---|---|---|",
    ]
    for (dataset, scenario), r in results.items():
        rules = list(r["beats_unseen"])
        best = max(rules, key=lambda n: r["unseen"][n][0])
        margin = r["unseen_margins"][best]
        best_eval = max(rules, key=lambda n: -r["margins"][n][0])
        eval_margin = r["margins"][best_eval]
        oracle = r["unseen_margins"].get("oracle")
        lines.append(
            f"| {scenario} ({dataset}) | {r['unseen']['ppo'][0]:.2f} ± {r['unseen']['ppo'][1]:.2f} "
            f"| {best} {r['unseen'][best][0]:.2f} ({margin[0]:+.2f} ± {margin[1]:.2f}; "
            f"{sum(r['beats_unseen'].values())}/{len(rules)}) "
            f"| {'not run' if oracle is None else f'{oracle[0]:+.2f} ± {oracle[1]:.2f}'} "
            f"| {best_eval} ({eval_margin[0]:+.2f} ± {eval_margin[1]:.2f}; "
            f"{sum(r['beats'].values())}/{len(rules)}) |"
        )
    return "\n".join(lines)


def pool(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Training seeds of one scenario pooled: per held-out chip the agent's return averaged over
    the seeds, minus each rule's (the rules ran once, on the same chips), on unseen images (the
    headline) and on the evaluation images, with the 95% CI over chips; and per rule how many
    seeds beat it beyond the CI on their own."""
    first = results[0]
    names = [n for n in first["unseen_returns"] if n != "ppo"]
    deployable = list(first["beats_unseen"])
    pooled: dict[str, Any] = {
        "runs": [r["run"] for r in results],
        "per_seed": [
            {
                "run": r["run"],
                "unseen": r["unseen"]["ppo"],
                "evaluation": mean_ci95(r["returns"]["ppo"]),
                "energy": r["energy"],
                "served_energy": r.get("served_energy", {}).get("ppo"),
            }
            for r in results
        ],
    }
    for key, source in (("unseen", "unseen_returns"), ("evaluation", "returns")):
        pooled[key] = pool_seeds(
            [r[source]["ppo"] for r in results], {n: first[source][n] for n in names}
        )
    pooled["beats_unseen"] = {n: beyond_ci(pooled["unseen"]["margins"][n]) for n in deployable}
    pooled["beats"] = {n: beyond_ci(pooled["evaluation"]["margins"][n]) for n in deployable}
    agent = pooled["unseen"]["agent"]
    print(
        f"\n== {len(results)} training seeds pooled, held-out chips (paired by chip): ppo "
        f"{agent[0]:.2f} ± {agent[1]:.2f} on unseen images\n"
        "| policy | kind | return, unseen images | ppo − it, unseen (seeds beyond the CI alone) "
        "| ppo − it, evaluation images |\n|---|---|---|---|---|\n"
        + "\n".join(
            f"| {n} | {'rule' if n in deployable else 'privileged'} "
            f"| {np.mean(first['unseen_returns'][n]):.2f} "
            f"| {pooled['unseen']['margins'][n][0]:+.2f} ± {pooled['unseen']['margins'][n][1]:.2f}"
            f" ({pooled['unseen']['seeds_beyond_ci'][n]}/{len(results)}) "
            f"| {pooled['evaluation']['margins'][n][0]:+.2f} ± "
            f"{pooled['evaluation']['margins'][n][1]:.2f} |"
            for n in names
        )
    )
    return pooled


def pooled_view(first: dict[str, Any], pooled: dict[str, Any]) -> dict[str, Any]:
    """The first seed's result with the agent's return, margins and verdicts of the seeds
    pooled: what the headline summary shows when several training seeds were measured."""
    return {
        **first,
        "unseen": {**first["unseen"], "ppo": pooled["unseen"]["agent"]},
        "unseen_margins": pooled["unseen"]["margins"],
        "beats_unseen": pooled["beats_unseen"],
        "margins": pooled["evaluation"]["margins"],
        "beats": pooled["beats"],
    }


def generalisation(
    run: Path, episodes: int, drift_scale: float, ray: RayOptions | None = None
) -> dict[str, Any]:
    """Target 4: the agent under a stronger drift than it was trained with."""
    config = read_run_config(run)
    out: dict[str, Any] = {}
    for label, scale in (("nominal", 1.0), ("stronger", drift_scale)):
        base = config["env"].get("drift_scale", 1.0)
        env = held_out_env(config, episodes, drift_scale=base * scale)
        policies = {"ppo": PPOPolicy(path=run), **{n: agents.make_policy(n) for n in STATIC}}
        records = run_all(env, policies, episodes, ray)
        ppo = records["ppo"]
        out[label] = {
            "returns": {
                n: mean_ci95([r.episode_return for r in recs]) for n, recs in records.items()
            },
            "reprogrammings": float(np.mean([r.n_reprogrammed for r in ppo])),
            "digital_layers": float(
                np.mean([sum(1 for a in step["analog"] if not a) for r in ppo for step in r.steps])
            ),
            "margins": {n: paired(ppo, records[n]) for n in STATIC},
        }
        print(
            f"  drift x{scale:g}: "
            + ", ".join(f"{n} {m[0]:.2f}±{m[1]:.2f}" for n, m in out[label]["returns"].items())
            + f"; ppo reprograms {out[label]['reprogrammings']:.1f}/episode, "
            f"{out[label]['digital_layers']:.2f} digital layers/step"
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: bad input exits with code 2 and one line (``agents.cli.run_main``)."""
    options = tyro.cli(Options, args=argv, description=__doc__.split("\n\n")[0])
    command = [SCRIPT, *(sys.argv[1:] if argv is None else argv)]
    return run_main(lambda: benchmark(options, command))


def benchmark(args: Options, command: list[str]) -> None:
    """Measure (training what is missing), print the tables and targets, write ``args.out``
    with the ``command`` that produced it."""
    if args.model is not None and not args.model:
        raise ValueError("--model takes one or more run folders")
    require_int("episodes", args.episodes, 2)  # a 95% CI needs two chips
    ray = RayOptions(args.workers, args.address)

    runs: dict[tuple[str, str], Path] = {}
    train_wall: dict[tuple[str, str], float] = {}
    if args.model is not None:
        config = read_run_config(args.model[0])
        for run in args.model[1:]:  # the rules run once: one environment for every seed
            if read_run_config(run)["env_resolved"] != config["env_resolved"]:
                raise ValueError(
                    f"--model {run}: another environment configuration than {args.model[0]}; "
                    "pass the training seeds of one scenario"
                )
        runs[(config["env"]["dataset"], config["env"]["scenario"])] = args.model[0]
    else:
        for dataset in args.datasets.split(","):
            for scenario in args.scenarios.split(","):
                folder = args.runs / f"{dataset}-{scenario}"
                if not (folder / "model.zip").exists():
                    run_config = dataclasses.replace(
                        TrainConfig(),
                        dataset=dataset,
                        scenario=scenario,
                        out=folder,
                        timesteps=args.timesteps,
                        compare_episodes=0,
                        progress=False,
                    )
                    start = time.perf_counter()
                    train(run_config)
                    train_wall[(dataset, scenario)] = time.perf_counter() - start
                runs[(dataset, scenario)] = folder

    results = {}
    skip = tuple(filter(None, args.skip.split(",")))
    for key, run in runs.items():
        print(f"\n== {key[0]}, scenario {key[1]} ({run})")
        results[key] = measure(run, args.episodes, skip, ray)
    pooled = None
    if args.model is not None and len(args.model) > 1:
        first = next(iter(results.values()))
        rules = {
            n: (first["records"][n], first["unseen_returns"][n])
            for n in first["records"]
            if n != "ppo"
        }
        seeds = [first]
        for run in args.model[1:]:
            print(f"\n== {run} (the rules' episodes reused)")
            seeds.append(measure(run, args.episodes, skip, ray, rules))
        pooled = pool(seeds)
    print("\n== headline: every scenario on unseen images (test split), held-out chips")
    if pooled is None:
        print(summary_table(results))
    else:
        key = next(iter(results))
        print(summary_table({key: pooled_view(results[key], pooled)}))
    default_key = next((k for k in runs if k[1] == envs.DEFAULT_SCENARIO), next(iter(runs)))
    general = None
    if args.generalise:
        print(f"\n== generalisation: {default_key} agent under drift x{args.drift_scale:g}")
        general = generalisation(runs[default_key], args.episodes, args.drift_scale, ray)

    print("\n== targets")
    # A NaN gap (oracle skipped) compares False: the target is then not met.
    quality = all(all(r["beats"].values()) and r["oracle_gap"] <= 0.02 for r in results.values())
    detail = "; ".join(
        f"{k[0]}/{k[1]}: beats {sum(r['beats'].values())}/{len(r['beats'])} deployable "
        f"heuristics beyond the CI ({sum(r['beats_unseen'].values())}/{len(r['beats_unseen'])} "
        "on unseen images)"
        + "".join(f", vs {n} {m[0]:+.2f}±{m[1]:.2f}" for n, m in r["privileged"].items())
        + f", oracle gap {r['oracle_gap']:.1%} ({r['unseen_oracle_gap']:.1%} on unseen images)"
        for k, r in results.items()
    )
    # With several seeds, targets 1-4 measure the first seed's run: say so.
    alone = "" if pooled is None else f", {args.model[0]} alone"
    lines = [f"target 1 (quality){alone}: {'met' if quality else 'not met'}: {detail}"]
    default = results[default_key]
    paper = [r for k, r in results.items() if k[1] == "paper"]
    energy_ok = default["energy"] <= 0.5 and default["worst_drop"] <= 0.01
    paper_text = "".join(
        f"; paper scenario saving {r['saving_of_ceiling']:.0%} of the ceiling" for r in paper
    )
    lines.append(
        f"target 2 (energy){alone}: {'met' if energy_ok else 'not met'}: "
        f"{default['energy']:.3f} of all-digital ({default['saving_of_ceiling']:.0%} of the "
        f"possible saving), worst mean accuracy drop {default['worst_drop'] * 100:.2f} points"
        f"{paper_text}"
    )
    wall = train_wall.get(default_key)
    speed_ok = default_key[0] == "digits" and quality and wall is not None and wall <= 600
    wall_text = f"{wall:.0f} s" if wall is not None else "not timed (given --model)"
    lines.append(
        f"target 3 (speed){alone}: {'met' if speed_ok else 'not met'}: training {wall_text}; "
        f"oracle search {default['oracle_s']:.1f} s/episode vs agent {default['ppo_s']:.2f} s"
    )
    if general is None:
        lines.append(f"target 4 (generalisation){alone}: not measured (--no-generalise)")
    else:
        stronger = general["stronger"]
        general_ok = all(map(beyond_ci, stronger["margins"].values()))
        lines.append(
            f"target 4 (generalisation){alone}: {'met' if general_ok else 'not met'}: under "
            f"drift x{args.drift_scale:g} ppo vs static: "
            + ", ".join(f"{n} {m[0]:+.2f}±{m[1]:.2f}" for n, m in stronger["margins"].items())
            + f"; reprogrammings {general['nominal']['reprogrammings']:.1f} -> "
            f"{stronger['reprogrammings']:.1f}, digital layers/step "
            f"{general['nominal']['digital_layers']:.2f} -> {stronger['digital_layers']:.2f}"
        )
    if pooled is not None:
        beaten = sum(pooled["beats_unseen"].values())
        lines.append(
            f"pooled ({pooled['unseen']['seeds']} training seeds): beats {beaten}/"
            f"{len(pooled['beats_unseen'])} deployable rules beyond the CI on unseen images "
            f"({sum(pooled['beats'].values())} on evaluation images)"
        )
    print("\n".join(lines))
    write_report(args, command, results, general, train_wall, lines, pooled)


def write_report(
    args: Options,
    command: list[str],
    results: dict[tuple[str, str], dict[str, Any]],
    general: dict[str, Any] | None,
    train_wall: dict[tuple[str, str], float],
    lines: list[str],
    pooled: dict[str, Any] | None = None,
) -> None:
    """Every figure of the run as JSON (per-episode records left out), with what produced it;
    with several training seeds, their pooled margins."""
    report = {
        "command": command,
        "seeds": [result["config"]["args"]["seed"] for result in results.values()]
        if pooled is None
        else [read_run_config(run)["args"]["seed"] for run in args.model or ()],
        "episodes": args.episodes,
        "targets": lines,
        "generalisation": general,
        "runs": [
            {
                "dataset": key[0],
                "scenario": key[1],
                "train_wall_s": train_wall.get(key),
                **{name: value for name, value in result.items() if name != "records"},
            }
            for key, result in results.items()
        ],
    }
    if pooled is not None:
        report["pooled"] = pooled
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=_jsonable) + "\n")
    print(f"wrote {args.out}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
