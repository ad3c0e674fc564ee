"""The speed and chip-variation tables of the documentation, from
``docs/results/depth_throughput.json``, ``docs/results/depth_reference.json`` and
``docs/results/chip_variation/`` (``benchmarks/depth_throughput.py``,
``benchmarks/depth_reference.py``, ``benchmarks/scenario_landscape.py --schedule-gap``);
:mod:`agents.result_tables` renders them with the rest."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from agents.reporting import paired_ci95

RESULTS = Path("docs/results")


def _load(root: Path, name: str) -> dict:
    path = root / name
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path} is missing: restore it from git or drop its table") from None


def depth_throughput(root: Path = RESULTS) -> list[str]:
    """Step cost against depth: every ratio is to one digital pass measured in the same run."""
    data = _load(root, "depth_throughput.json")
    lines = [
        f"`docs/results/depth_throughput.json`, from `python benchmarks/depth_throughput.py "
        f"{' '.join(data['command'])}` (one torch thread; each ratio is to one digital forward "
        "pass of the same network over its evaluation images, measured in the same run):",
        "",
        "| network | layers | measurement | digital pass | AIHWKit's all-analog pass | median "
        "cold step | warm step | all-digital episode (first / later) | peak memory |"
        if "first_all_digital_episode_curves_cached_s" not in data["results"][0]
        else "cold step | warm step | all-digital episode (first: light curves measured / "
        "first: curves read back / later) | peak memory |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in data["results"]:
        d = r["digital_pass_s"]
        lines.append(
            f"| {r['network']} | {r['layers']} | {r['measurement']} | {d * 1e3:.0f} ms | "
            f"{r['aihwkit_all_analog_pass_s'] / d:.1f}x | {r['cold_step_median_s'] / d:.1f}x "
            f"({r['cold_step_median_s']:.2f} s) | {r['warm_step_median_s'] / d:.3f}x | "
            f"{r['first_all_digital_episode_s']:.1f} s / "
            + (
                f"{r['first_all_digital_episode_curves_cached_s']:.1f} s / "
                if "first_all_digital_episode_curves_cached_s" in r
                else ""
            )
            + f"{r['all_digital_episode_s']:.1f} s | "
            f"{r.get('env_peak_rss_mb', r['peak_rss_mb']):.0f} MB |"
        )
    lines += [
        "",
        (
            "Peak memory: the benchmark process's after the environment's episodes (before "
            "AIHWKit's own forwards, which need more)."
            if all("env_peak_rss_mb" in r for r in data["results"])
            else "Peak memory is the benchmark process's, AIHWKit's own whole-model forward "
            "included."
        )
        + " Per layer (analog forward / digital forward of the same layer on its own input), "
        "AIHWKit against this project:",
        "",
        "| network | layers | AIHWKit, median | this project, median | this project, worst |",
        "|---|---|---|---|---|",
    ]
    for r in data["results"]:
        aihwkit = sorted(row["aihwkit_s"] / row["digital_s"] for row in r["per_layer"])
        ours = sorted(row["fast_s"] / row["digital_s"] for row in r["per_layer"])
        lines.append(
            f"| {r['network']} | {len(ours)} | {aihwkit[len(aihwkit) // 2]:.1f}x | "
            f"{ours[len(ours) // 2]:.1f}x | {ours[-1]:.1f}x |"
        )
    return lines


def depth_reference(root: Path = RESULTS) -> list[str]:
    """The privileged reference at depth against the exhaustive oracle."""
    data = _load(root, "depth_reference.json")
    six, deep = data["six_layers"], data["resnet20"]
    gap, ci = data["greedy_preview_minus_oracle"]

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    lines = [
        f"`docs/results/depth_reference.json`, from `python benchmarks/depth_reference.py "
        f"{' '.join(data['command'])}`; scenario `{data['scenario']}`, returns on the evaluation "
        "images (those both references score actions on), held-out chips:",
        "",
        "| network | policy | chips | mean return | seconds per episode |",
        "|---|---|---|---|---|",
    ]
    for label, block in (("paper (6 layers)", six), ("resnet20 (23 layers)", deep)):
        chips = block["chips"]
        for name in (k for k in block if k != "chips"):
            lines.append(
                f"| {label} | {name} | {chips[0]}-{chips[-1]} | {mean(block[name]['returns']):.2f}"
                f" | {mean(block[name]['seconds']):.1f} |"
            )
    lines += [
        "",
        f"greedy-preview − oracle on the six-layer network, paired over {len(six['chips'])} "
        f"chips: {gap:+.2f} ± {ci:.2f} (95 % CI).",
    ]
    return lines


def schedule_gap(root: Path = RESULTS) -> list[str]:
    """How far the tuned fixed schedule falls behind per-chip choices, per scenario
    (``benchmarks/scenario_landscape.py --schedule-gap``), paired by chip."""
    lines = [
        "| scenario | chips | schedule return | per-chip schedule − schedule | oracle − schedule "
        "| all-digital − schedule | file |",
        "|---|---|---|---|---|---|---|",
    ]
    commands = []
    for scenario in ("strong-drift", "varied-chips", "weak-tile"):
        name = f"chip_variation/schedule_gap_{scenario}.json"
        data = _load(root, name)
        commands.append(f"`python {' '.join(data['command'])}`")
        for result in data["results"]:
            chips = result["chips"]
            schedule = [c["schedule"] for c in chips]

            def gap(key: str, chips: list = chips, schedule: list = schedule) -> str:
                mean, ci = paired_ci95([c[key] for c in chips], schedule)
                return f"{mean:+.2f} ± {ci:.2f}"

            lines.append(
                f"| `{result['scenario']}` | {chips[0]['chip']}-{chips[-1]['chip']} | "
                f"{sum(schedule) / len(schedule):.2f} | {gap('per-chip schedule')} | "
                f"{gap('oracle')} | {gap('all-digital')} | `{name}` |"
            )
    lines += [
        "",
        "Digits network; the schedule tuned on training chips 0-15; one episode per held-out "
        "chip, scored on the evaluation images; paired 95 % CI over chips. Commands: "
        + "; ".join(commands)
        + ".",
    ]
    return lines


def resnet_rules(root: Path = RESULTS) -> list[str]:
    """The tuned rules on ResNet-20 against all-digital, on held-out chips
    (``evaluate.py --network resnet20 ... --heuristic-params ...``)."""
    lines = [
        "| policy | parameters from | return (95 % CI) | energy / all-digital | class accuracy "
        "(mean / worst) | group accuracy (mean / worst) | chips |",
        "|---|---|---|---|---|---|---|",
    ]
    sources = {
        "resnet20/rules-fast/summary.csv": "heuristics/resnet20-strong-drift-fast-rules.json",
        "resnet20/rules-greedy/summary.csv": "heuristics/resnet20-strong-drift-greedy.json",
    }
    seen = set()
    for name, params in sources.items():
        path = root / name
        if not path.exists():
            raise ValueError(f"{path} is missing: restore it from git or drop its table")
        with path.open() as handle:
            for row in csv.DictReader(handle):
                if row["policy"] in seen:
                    continue
                seen.add(row["policy"])
                tunable = row["policy"] in ("saving-vs-noise", "threshold", "greedy")
                tuned = f"`{params}`" if tunable else "-"
                chips = ", ".join(sorted(row["chips"].split(), key=int))
                lines.append(
                    f"| `{row['policy']}` | {tuned} | {float(row['return_mean']):.2f} ± "
                    f"{float(row['return_ci95']):.2f} | {float(row['energy_vs_digital']):.3f} | "
                    f"{float(row['task1_acc_mean']):.3f} / {float(row['task1_acc_worst']):.3f} | "
                    f"{float(row['task2_acc_mean']):.3f} / {float(row['task2_acc_worst']):.3f} | "
                    f"{chips} |"
                )
    lines += [
        "",
        "ResNet-20 on `digits32`, scenario `strong-drift`, evaluation images, held-out chips; each "
        "rule with the parameters tuned on training chips 0-15 "
        "(`benchmarks/tune_heuristics.py --network resnet20 --dataset digits32`). Results "
        "folders: `docs/results/resnet20/rules-fast/`, `docs/results/resnet20/rules-greedy/`.",
    ]
    return lines
