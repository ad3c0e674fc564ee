"""The results folder of a comparison on ``HybridTraining-v0``: what ``evaluate.py`` writes there.

``agents.comparison.evaluate`` plans and runs the comparison for both environments (the same
seeds, held-out chips, weightings and sweeps); on the training-time environment it hands the
records to :func:`write_training_results`, which writes the same files as for a deployment
(``summary.csv``, ``summary.json``, ``steps.csv``, ``pareto.png``, ``placements.png``) with the
training-time columns: the training energy beside the deployed energy, the deployed network's
accuracy over the deployment ages, and, per step, where each layer trained. ``evaluate.py
--validate`` replays ``steps.csv`` as for a deployment.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agents.hybrid_training.reporting import format_training_table, summarise_training
from agents.plots import MAIN, plot_pareto, plot_training_placements, task_titles
from agents.results import Weighting, energy_floor, write_tables
from envs.hybrid_training.rewards import TrainingRewardWeights
from hybrid.units import time_label


def weights_text(weights: TrainingRewardWeights) -> str:
    """The ``--reward-weights`` string of training-time weights."""
    deployment = weights.deployment
    text = f"energy={deployment.energy:g},task_loss={deployment.task_loss:g}"
    text += f",training={weights.training:g}"
    if deployment.reprogram != 1.0:
        text += f",reprogram={deployment.reprogram:g}"
    task_weights = deployment.task_weights
    if task_weights is not None and tuple(task_weights) != (1.0,) * len(task_weights):
        text += ",task_weights=" + "/".join(f"{w:g}" for w in deployment.task_weights)
    if deployment.task_metric != "error":
        text += f",task_metric={deployment.task_metric}"
    return text


def _weights(kwargs: dict[str, Any]) -> TrainingRewardWeights:
    reward = kwargs.get("reward")
    return TrainingRewardWeights.from_dict(reward) if reward else TrainingRewardWeights()


def summary_rows(weighting: Weighting, seeds: Sequence[int]) -> list[dict[str, Any]]:
    """One ``summary.csv`` row per policy: ``summarise_training`` plus the configuration."""
    kwargs = weighting.env_kwargs
    rows = []
    for name, records in weighting.records.items():
        row = {
            "weighting": weighting.label,
            "sweep_key": weighting.sweep_key,
            "sweep_value": "" if weighting.sweep_value is None else weighting.sweep_value,
            **summarise_training(name, records),
        }
        row.update(
            reward_weights=weights_text(_weights(kwargs)),
            env_id=weighting.env_id,
            scenario=kwargs["scenario"],
            dataset=kwargs["dataset"],
            chip_offset=kwargs["chip_offset"],
            seeds=" ".join(str(s) for s in seeds),
            chips=" ".join(str(r.chip) for r in records),
            model=str(weighting.model) if name == "ppo" else "",
        )
        rows.append(row)
    return rows


def step_rows(weighting: Weighting, layer_names: Sequence[str]) -> list[dict[str, Any]]:
    """One ``steps.csv`` row per policy, episode and step: where each layer trained, the
    action, the losses and energies, the reward, and at the last step the deployed accuracies."""
    rows = []
    for name, records in weighting.records.items():
        for episode, record in enumerate(records):
            for step in record.steps:
                row: dict[str, Any] = {
                    "weighting": weighting.label,
                    "policy": name,
                    "episode": episode,
                    "seed": record.seed,
                    "chip": record.chip,
                    "step": step["step"],
                    "samples": step["samples"],
                }
                row.update(zip(layer_names, step["placement"], strict=True))
                row["action"] = " ".join(str(int(a)) for a in step["action"])
                row["rolled_back"] = int(step["rolled_back"])
                for task, loss in enumerate(step["train_losses"]):
                    row[f"task{task + 1}_train_loss"] = loss
                for task, loss in enumerate(step["val_losses"]):
                    row[f"task{task + 1}_val_loss"] = loss
                row["training_energy_pj"] = step["training_energy_pj"]
                row["training_energy_ratio"] = step["training_energy_ratio"]
                row["energy_ratio"] = step["energy_ratio"]
                for age, accuracies in zip(
                    step.get("deployment_ages_s", ()),
                    step.get("deployed_accuracies", ()),
                    strict=True,
                ):
                    for task, accuracy in enumerate(accuracies):
                        row[f"task{task + 1}_acc_{time_label(age)}"] = accuracy
                row["reward"] = step["reward"]
                rows.append(row)
    return rows


def write_training_results(
    args: Any,
    weightings: Sequence[Weighting],
    environments: Sequence[Any],
    run_config: dict[str, Any],
    out: Path,
    seeds: Sequence[int],
    start: float,
) -> Path:
    """Write the results folder of a HybridTraining-v0 comparison, print its table, return it."""
    env = environments[0].unwrapped
    main = weightings[0]
    all_analog, cheapest = energy_floor(env)
    summary = [row for w in weightings for row in summary_rows(w, seeds)]
    for row in summary:
        row["saving_of_ceiling"] = (1.0 - row["energy_vs_digital"]) / (1.0 - cheapest)
    steps = [row for w in weightings for row in step_rows(w, env.layer_names)]
    records = next(iter(main.records.values()), [])
    fields = {
        "env_id": main.env_id,
        "seeds": list(seeds),
        "chips": {str(r.seed): r.chip for r in records},
        "layers": list(env.layer_names),
        "deployment_ages_s": list(env.run.deployment_ages_s),
        "all_analog_energy_ratio": all_analog,
        "cheapest_energy_ratio": cheapest,
    }
    write_tables(out, args, weightings, environments, run_config, summary, steps, fields, start)
    titles = task_titles(environments[0])
    subtitle = (
        f"{main.env_kwargs['dataset']}, scenario {main.env_kwargs['scenario']}, "
        f"{len(seeds)} held-out chip episode{'s' * (len(seeds) > 1)}, "
        f"reward {weights_text(_weights(main.env_kwargs))}"
    )
    plot_pareto(out / "pareto.png", summary, titles, all_analog, subtitle)
    labels = [str(k + 1) for k in range(env.n_steps)]
    plot_training_placements(
        out / "placements.png",
        main.records,
        env.layer_names,
        labels,
        titles,
        env.all_digital_accuracies,
        subtitle,
    )
    chips = [record.chip for record in records]
    print(
        f"\n{main.env_id}: {subtitle}\nseeds {seeds[0]}..{seeds[-1]} on held-out chips "
        f"{' '.join(map(str, chips))}, the same for every policy:"
    )
    if main.records:
        print(format_training_table([r for r in summary if r["weighting"] == MAIN]))
    swept = [
        dict(r, policy=f"{r['policy']} @ {r['weighting']}")
        for r in summary
        if r["weighting"] != MAIN
    ]
    if swept:
        print(f"\nsweep over {weightings[1].sweep_key}:")
        print(format_training_table(swept))
    print(
        f"training energy: relative to training every layer digitally; deployed energy floor: "
        f"all-analog {all_analog:.3f}, cheapest placement {cheapest:.3f}; results in {out}/"
    )
    return out
