"""The field's table: every policy's energy and accuracy loss at fixed ages after programming.

The format of Benmeziane et al.'s mixed-precision supernetwork paper (docs/references.md,
[21]): per policy and per age ``T`` after programming (a day, a month, a year), the energy per
inference relative to all-digital and each task's accuracy loss against all-digital, on
held-out chips and on images no policy, tuning or training reward scored (the test split).

*The placement in force at T.* Each policy runs its deployment on the run's own timeline,
deciding as it would in the field (the evaluation images for its observations and rewards).
Step ``k`` covers ``(t_{k-1}, t_k]`` (``envs.scenarios.Timeline``), so at ``T`` the placement and
the tiles are those of the step whose interval holds ``T``: the layers that step runs analog,
each with the programming it carries (its noise draw) and read at its age at ``T`` (``T``
minus the time it was last written; a layer reprogrammed at step ``j`` was written at
``t_{j-1}``). That placement is evaluated on the test split with the same programming ids, so
the same noise draws as the episode; a ``T`` equal to a decision time ``t_k`` is that step's
state exactly. The energy is that step's placement's energy per inference (programming
energy is not spread over it); the accuracy loss is all-digital's accuracy on the same images
minus the policy's, in percentage points, mean over chips with its 95% CI. Training seeds of
the agent are pooled by chip (per chip the mean over the seeds), and each seed is kept.

``benchmarks/field_table.py`` is the command line; :func:`markdown` renders a result file for
``make results`` (``<!-- results:field:FILE -->``, ``FILE`` relative to ``docs/results/``
without ``.json``).
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import envs
from agents.base import make_policy, policy_names
from agents.evaluation import EpisodeRecord, run_episode
from agents.ppo import PPOPolicy
from agents.reporting import mean_ci95
from agents.run_folder import (
    HEURISTICS_FILE,
    check_rules_tuned,
    env_id_from_config,
    heuristic_params,
    make_env_from_config,
    read_run_config,
    tuned_on,
)
from envs.chips import TEST_CHIP_OFFSET, first_chips, held_out_pool
from hybrid.simulator import LayerState
from hybrid.units import SECONDS_PER_DAY, SECONDS_PER_YEAR, time_label

AGENT = "ppo"
"""The learned policy's name in the table: the agent of every run given (one per seed)."""
DEFAULT_POLICIES = (
    "all-digital",
    "all-analog",
    "keep-first-last-digital",
    "greedy",
    AGENT,
    "greedy-preview",
)
"""The table's rows: the two corners, the paper's static rule, the tuned greedy search, the
agent, and the privileged greedy search on the true reward (a reference, not a rival)."""
DEFAULT_AGES_S = (SECONDS_PER_DAY, 30 * SECONDS_PER_DAY, SECONDS_PER_YEAR)
"""A day, a month (30 days) and a year after programming. The project's year is
``SECONDS_PER_YEAR`` (3.15e7 s, 364.6 days), the default deployment's horizon and last decision
time; 365 days would lie beyond it."""
SAME_TIME_RTOL = 1e-9
"""An age this close (relative) to a decision time is that time: its step's state exactly."""


def step_at(times_s: Sequence[float], time_s: float) -> tuple[int, float]:
    """``(k, T)``: the step whose interval ``(t_{k-1}, t_k]`` holds ``time_s`` (``t_{-1}`` = 0),
    and the time, snapped to ``t_k`` when it coincides with it; a one-line ValueError for a time
    at or before 0 or beyond the last decision time (the horizon)."""
    times = np.asarray(times_s, dtype=float)
    close = np.flatnonzero(np.isclose(times, time_s, rtol=SAME_TIME_RTOL, atol=0.0))
    if close.size:
        return int(close[0]), float(times[close[0]])
    if not (math.isfinite(time_s) and 0.0 < time_s <= times[-1]):
        raise ValueError(
            f"age {time_s:g} s is outside the deployment (0, {times[-1]:g} s]: choose --ages-s "
            f"above 0 and at most the horizon {times[-1]:g} s ({time_label(times[-1])})"
        )
    return int(np.searchsorted(times, time_s, side="left")), float(time_s)


def tile_states_at(env: Any, record: EpisodeRecord, time_s: float) -> list[LayerState]:
    """The layer states in force at ``time_s`` in ``record``'s episode of ``env``: per layer
    ``None`` (digital) or ``(programming id, age at time_s)``, for ``evaluator.evaluate``.

    Read from the record alone (each step's ``analog`` and ``reprogrammed``) and the
    environment's timeline and chip pool; at a decision time ``t_k`` the ages are the ones the
    episode had (its ``drift_ages_s``), or a one-line ValueError says the record is not from
    this environment's timeline."""
    unwrapped = getattr(env, "unwrapped", env)
    times = unwrapped.times_s
    k, time_s = step_at(times, time_s)
    if len(record.steps) <= k:
        raise ValueError(
            f"the record has {len(record.steps)} steps, and {time_s:g} s falls in step {k}: "
            "pass a whole episode"
        )
    steps = record.steps[: k + 1]
    states: list[LayerState] = []
    ages_at_step = []
    for layer in range(unwrapped.n_layers):
        written = [j for j, step in enumerate(steps) if step["reprogrammed"][layer]]
        # Reprogrammed at step j: written at t_{j-1} (at t = 0 for j = 0, as the first writing).
        programmed_at = float(times[written[-1] - 1]) if written and written[-1] > 0 else 0.0
        ages_at_step.append(float(times[k]) - programmed_at)
        if steps[k]["analog"][layer]:
            programming = unwrapped.programming_id(record.chip, len(written))
            states.append((programming, time_s - programmed_at))
        else:
            states.append(None)
    if not np.allclose(ages_at_step, steps[k]["drift_ages_s"], rtol=1e-12, atol=0.0):
        raise ValueError(
            "the record's drift ages do not follow this environment's timeline: pass the "
            "environment the episode ran in"
        )
    return states


def check_policies(names: Sequence[str]) -> list[str]:
    """The names, or a one-line ValueError naming an unknown one and the known ones."""
    known = policy_names(envs.ENV_ID)
    if not names:
        raise ValueError(f"--policies is empty: choose from {', '.join(known)}")
    for name in names:
        if name not in known:
            raise ValueError(
                f"unknown policy {name!r} in --policies: choose from {', '.join(known)}"
            )
    return list(names)


def check_runs(runs: Sequence[Path]) -> list[dict[str, Any]]:
    """Each run's ``config.json``: training seeds of one ``HybridPartition-v0`` environment, or a
    one-line ValueError saying which run differs."""
    if not runs:
        raise ValueError("--model takes one or more run folders (training seeds of one scenario)")
    configs = [read_run_config(run) for run in runs]
    for run, config in zip(runs, configs, strict=True):
        if env_id_from_config(config) != envs.ENV_ID:
            raise ValueError(
                f"--model {run} was trained on another environment: pass runs of {envs.ENV_ID}"
            )
        if config["env_resolved"] != configs[0]["env_resolved"]:
            raise ValueError(
                f"--model {run}: another environment configuration than {runs[0]}; pass the "
                "training seeds of one scenario"
            )
    return configs


def held_out(config: dict[str, Any], chips: int, **overrides: Any) -> Any:
    """The run's environment on held-out chips, its pool large enough for ``chips`` distinct
    ones (as ``benchmarks/policy_quality.py`` builds it)."""
    pool = held_out_pool(config["env_resolved"]["chip_pool"], chips)
    return make_env_from_config(config, chip_offset=TEST_CHIP_OFFSET, chip_pool=pool, **overrides)


def at_ages(env: Any, test_env: Any, record: EpisodeRecord, ages_s: Sequence[float]) -> list[dict]:
    """Per age: the energy per inference / all-digital of the placement in force, and each
    task's accuracy loss (percentage points) against all-digital on ``test_env``'s images
    (``env``: the environment the episode ran in)."""
    evaluator = test_env.unwrapped.evaluator
    digital = np.asarray(test_env.unwrapped.all_digital_accuracies)
    values = []
    for age in ages_s:
        k, _ = step_at(env.unwrapped.times_s, age)
        accuracies = evaluator.evaluate(tile_states_at(env, record, age)).accuracies
        values.append(
            {
                "energy_ratio": float(record.steps[k]["energy_ratio"]),
                "accuracy_loss_pp": (100.0 * (digital - accuracies)).tolist(),
            }
        )
    return values


def summarise(per_chip: list[list[dict]], n_tasks: int) -> list[dict]:
    """Per age: mean and 95% CI over chips of the energy ratio and of each task's loss, with the
    per-chip values (``per_chip[chip][age]``)."""
    out = []
    for age in range(len(per_chip[0])):
        energy = [chip[age]["energy_ratio"] for chip in per_chip]
        losses = [[chip[age]["accuracy_loss_pp"][t] for chip in per_chip] for t in range(n_tasks)]
        out.append(
            {
                "energy_ratio": list(mean_ci95(energy)),
                "accuracy_loss_pp": [list(mean_ci95(task)) for task in losses],
                "per_chip": {"energy_ratio": energy, "accuracy_loss_pp": losses},
            }
        )
    return out


def _pooled(seeds: list[list[list[dict]]]) -> list[list[dict]]:
    """Per chip and age, the mean over training seeds (``seeds[seed][chip][age]``)."""
    return [
        [
            {
                key: np.mean([seed[chip][age][key] for seed in seeds], axis=0).tolist()
                for key in ("energy_ratio", "accuracy_loss_pp")
            }
            for age in range(len(seeds[0][chip]))
        ]
        for chip in range(len(seeds[0]))
    ]


def _episodes(env: Any, policy: Any, chips: Sequence[int], label: str) -> list[EpisodeRecord]:
    start = time.perf_counter()
    policy.bind(env)
    records = [run_episode(env, policy, seed, chip) for seed, chip in enumerate(chips)]
    print(f"  {label}: {len(chips)} episodes in {time.perf_counter() - start:.1f} s")
    return records


def measure(
    runs: Sequence[Path],
    chips: int,
    ages_s: Sequence[float] = DEFAULT_AGES_S,
    policies: Sequence[str] = DEFAULT_POLICIES,
    params_file: Path | None = None,
) -> dict[str, Any]:
    """The field's table of ``runs`` (training seeds of one scenario) on ``chips`` held-out chips
    at ``ages_s``: every figure the JSON file holds except the command. The rules' parameters
    come from ``params_file`` (default: the first run's ``heuristics.json``, else defaults)."""
    if isinstance(chips, bool) or not isinstance(chips, int) or chips < 2:
        raise ValueError(f"--chips must be an integer >= 2 (a 95% CI needs two), got {chips!r}")
    policies = check_policies(policies)
    runs = [Path(run) for run in runs]
    configs = check_runs(runs)
    env = held_out(configs[0], chips)
    times = env.unwrapped.times_s
    steps = [step_at(times, age)[0] for age in ages_s]  # bad ages fail before any episode
    params = heuristic_params(params_file, runs[0])
    default = runs[0] / HEURISTICS_FILE
    params_source = params_file or (default if default.is_file() else None)
    rules = [name for name in policies if name != AGENT]
    check_rules_tuned(rules, params, configs[0]["env"], runs[0], tuned_on(params_file, runs[0]))
    test_env = held_out(configs[0], chips, eval_split="test")
    chip_list = list(first_chips(TEST_CHIP_OFFSET, chips))
    n_tasks = env.unwrapped.n_tasks
    table: dict[str, Any] = {}
    for name in policies:
        if name == AGENT:
            per_seed = []
            for run, config in zip(runs, configs, strict=True):
                records = _episodes(env, PPOPolicy(path=run), chip_list, f"{name} ({run})")
                values = [at_ages(env, test_env, r, ages_s) for r in records]
                per_seed.append((run, config, records, values))
            table[name] = {
                "kind": "learned",
                "ages": summarise(_pooled([s[3] for s in per_seed]), n_tasks),
                "wall_s_per_episode": float(np.mean([r.wall_s for s in per_seed for r in s[2]])),
                "per_seed": [
                    {
                        "run": str(run),
                        "seed": config["args"]["seed"],
                        "ages": summarise(values, n_tasks),
                        "wall_s_per_episode": float(np.mean([r.wall_s for r in records])),
                    }
                    for run, config, records, values in per_seed
                ],
            }
            continue
        policy = make_policy(name, **params.get(name, {}))
        records = _episodes(env, policy, chip_list, name)
        table[name] = {
            "kind": "privileged" if policy.uses_preview else "rule",
            "params": params.get(name, {}),
            "ages": summarise([at_ages(env, test_env, r, ages_s) for r in records], n_tasks),
            "wall_s_per_episode": float(np.mean([r.wall_s for r in records])),
        }
    unwrapped = env.unwrapped
    return {
        "seeds": [config["args"]["seed"] for config in configs],
        "chips": chip_list,
        "ages_s": [float(age) for age in ages_s],
        "steps": steps,
        "step_times_s": [float(times[k]) for k in steps],
        "times_s": [float(t) for t in times],
        "tasks": list(unwrapped.task_names),
        "layers": list(unwrapped.layer_names),
        "split": "test",
        "digital_accuracies": np.asarray(test_env.unwrapped.all_digital_accuracies).tolist(),
        "all_analog_energy_ratio": float(
            unwrapped.cost_ratios(np.ones(unwrapped.n_layers, dtype=int))[0]
        ),
        "environment": {
            "dataset": configs[0]["env"].get("dataset", "digits"),
            "scenario": unwrapped.scenario.name,
            "network": configs[0]["env"].get("network", "paper"),
        },
        "heuristic_params": params,
        "heuristic_params_file": None if params_source is None else str(params_source),
        "policies": table,
        "runs": [
            {"run": str(run), "seed": config["args"]["seed"], "config": config}
            for run, config in zip(runs, configs, strict=True)
        ],
    }


CSV_FIELDS = (
    "policy",
    "kind",
    "age_s",
    "age",
    "step",
    "task",
    "energy_ratio_mean",
    "energy_ratio_ci95",
    "accuracy_loss_pp_mean",
    "accuracy_loss_pp_ci95",
    "digital_accuracy",
    "chips",
    "seeds",
)
"""The CSV's columns: one row per (policy, age, task); the agent's seeds pooled."""


def csv_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (policy, age, task) of a result (:func:`measure`'s dict)."""
    rows = []
    for name, entry in data["policies"].items():
        seeds = len(entry.get("per_seed", [])) or ""
        for age_s, step, age in zip(data["ages_s"], data["steps"], entry["ages"], strict=True):
            for task, name_of_task in enumerate(data["tasks"]):
                energy, loss = age["energy_ratio"], age["accuracy_loss_pp"][task]
                rows.append(
                    {
                        "policy": name,
                        "kind": entry["kind"],
                        "age_s": age_s,
                        "age": time_label(age_s),
                        "step": step,
                        "task": name_of_task,
                        "energy_ratio_mean": energy[0],
                        "energy_ratio_ci95": energy[1],
                        "accuracy_loss_pp_mean": loss[0],
                        "accuracy_loss_pp_ci95": loss[1],
                        "digital_accuracy": data["digital_accuracies"][task],
                        "chips": len(data["chips"]),
                        "seeds": seeds,
                    }
                )
    return rows


def write(data: dict[str, Any], out: Path) -> list[Path]:
    """``out`` (JSON), and next to it the CSV and the figure (same name, ``.csv``, ``.png``)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n")
    table = out.with_suffix(".csv")
    with table.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(csv_rows(data))
    return [out, table, figure(data, out.with_suffix(".png"))]


AGE_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h")
"""One marker per age, in the order of ``ages_s``."""


def figure(data: dict[str, Any], path: Path) -> Path:
    """Accuracy loss against energy, one panel per task: one point per policy and age (colour:
    policy, marker: age) with its 95% CIs, each policy's ages joined by a thin line; the
    all-digital and all-analog energies and zero loss as grey guides."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from agents.plots import policy_colours  # sets matplotlib's file-only backend

    names = list(data["policies"])
    colours = policy_colours(names)
    labels = [time_label(age) for age in data["ages_s"]]
    tasks = data["tasks"]
    fig, axes = plt.subplots(
        1, len(tasks), figsize=(6.0 * len(tasks), 4.8), squeeze=False, layout="constrained"
    )
    for task, ax in enumerate(axes[0]):
        ax.axvline(1.0, color="0.45", ls="--", lw=1)
        ax.axvline(data["all_analog_energy_ratio"], color="0.45", ls=":", lw=1.2)
        ax.axhline(0.0, color="0.65", lw=0.8, zorder=0)
        for name in names:
            ages = data["policies"][name]["ages"]
            x = [age["energy_ratio"][0] for age in ages]
            y = [age["accuracy_loss_pp"][task][0] for age in ages]
            ax.plot(x, y, color=colours[name], lw=0.8, alpha=0.5, zorder=1)
            for i, age in enumerate(ages):
                ax.errorbar(
                    x[i],
                    y[i],
                    xerr=age["energy_ratio"][1],
                    yerr=age["accuracy_loss_pp"][task][1],
                    marker=AGE_MARKERS[i % len(AGE_MARKERS)],
                    ms=8,
                    color=colours[name],
                    mec="black",
                    mew=0.6,
                    elinewidth=0.8,
                    capsize=2,
                    ls="none",
                    zorder=3,
                )
        ax.set_title(f"task {task + 1} ({tasks[task]})")
        ax.set_xlabel("energy per inference / all-digital (placement in force)")
        ax.set_ylabel("accuracy loss vs all-digital (percentage points)")
        ax.grid(alpha=0.25)
    handles = [Line2D([], [], color=colours[n], lw=6, label=n) for n in names]
    handles += [
        Line2D(
            [],
            [],
            marker=AGE_MARKERS[i % len(AGE_MARKERS)],
            ls="none",
            color="0.5",
            mec="black",
            label=f"age {label}",
        )
        for i, label in enumerate(labels)
    ]
    handles += [
        Line2D([], [], color="0.45", ls="--", label="all-digital energy (1)"),
        Line2D(
            [],
            [],
            color="0.45",
            ls=":",
            label=f"all-analog energy ({data['all_analog_energy_ratio']:.2f})",
        ),
    ]
    fig.legend(handles=handles, loc="outside right center", fontsize=8, frameon=False)
    chips = data["chips"]
    env = data["environment"]
    fig.suptitle(
        f"{env['network']} on {env['dataset']}, scenario {env['scenario']}: each policy at ages "
        f"{', '.join(labels)} after programming\n{len(chips)} held-out chips {chips[0]}-"
        f"{chips[-1]}, unseen images (test split); agent: {seeds_text(data['seeds'])}",
        fontsize=10,
    )
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path


# ---------------------------------------------------------------------- the Markdown table


def seeds_text(seeds: Sequence[int]) -> str:
    """``training seed 0``, or ``training seeds 0, 1, 2 pooled by chip``."""
    if len(seeds) == 1:
        return f"training seed {seeds[0]}"
    return f"training seeds {', '.join(map(str, seeds))} pooled by chip"


def _cell(pair: Sequence[float], digits: int) -> str:
    mean, ci = pair
    return f"{mean:.{digits}f}" if ci == 0 else f"{mean:.{digits}f} ± {ci:.{digits}f}"


def _command(argv: list[str]) -> str:
    shown = [f".../{Path(a).name}" if a.startswith("/") else a for a in argv]
    return "`python " + " ".join(shown) + "`"


def _row(label: str, kind: str, ages: list[dict], n_tasks: int) -> list[str]:
    cells = [label, kind]
    for age in ages:
        cells.append(_cell(age["energy_ratio"], 3))
        cells += [_cell(age["accuracy_loss_pp"][t], 2) for t in range(n_tasks)]
    return cells


def markdown(root: Path, name: str) -> list[str]:
    """The table of the result file ``root/NAME.json`` (``root``: the results folder,
    ``docs/results/``), for ``make results``."""
    path = root / f"{name}.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path} is missing: restore it from git or drop its table") from None
    return table_lines(data, f"docs/results/{name}.json")


def table_lines(data: dict[str, Any], source: str) -> list[str]:
    """A result as Markdown: one row per policy (and one per training seed of the agent), per
    age the energy and each task's accuracy loss, after a note naming the file ``source``, its
    command, the seeds, the chips and the images."""
    tasks, labels, chips = data["tasks"], [time_label(a) for a in data["ages_s"]], data["chips"]
    env = data["environment"]
    each = " (each seed below it)" if len(data["seeds"]) > 1 else ""
    lines = [
        f"`{source}`: {_command(data['command'])}; {env['network']} on {env['dataset']}, "
        f"scenario `{env['scenario']}`; agent: {seeds_text(data['seeds'])}{each}; "
        f"{len(chips)} held-out chips, {chips[0]}-{chips[-1]}; unseen images (the test "
        "split). At each age T after programming, the "
        "placement and tiles in force at T (the decision step whose interval holds T) evaluated "
        "at T: energy per inference / all-digital, and accuracy loss = all-digital accuracy − "
        "the policy's on the same images, percentage points; mean ± 95% CI over chips.",
        "",
    ]
    header = ["policy", "kind"]
    for label in labels:
        header += [f"energy, {label}", *(f"{task} loss (pp), {label}" for task in tasks)]
    rows = []
    for policy, entry in data["policies"].items():
        per_seed = entry.get("per_seed", [])
        label = f"{policy} ({len(per_seed)} seeds pooled)" if len(per_seed) > 1 else policy
        rows.append(_row(label, entry["kind"], entry["ages"], len(tasks)))
        if len(per_seed) > 1:
            rows += [
                _row(f"{policy}, seed {s['seed']}", "one seed", s["ages"], len(tasks))
                for s in per_seed
            ]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]
