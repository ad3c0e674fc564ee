"""The benchmark that produces README's headline table (``benchmarks/policy_quality.py``), end to
end on the session's smoke run, the one-line errors of bad benchmark input, and the commands the
committed results record, which must still parse."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tyro

ROOT = Path(__file__).resolve().parents[1]


def test_policy_quality_pools_training_seeds_into_the_headline_and_its_json(
    smoke_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], policy_quality_main
):
    second = tmp_path / "seed1"
    shutil.copytree(smoke_run, second)
    out = tmp_path / "quality.json"
    argv = ["--model", str(smoke_run), str(second), "--episodes", "2", "--skip", "oracle"]
    argv += ["--no-generalise"]
    assert policy_quality_main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out

    report = json.loads(out.read_text())
    assert report["command"] == ["benchmarks/policy_quality.py", *argv, "--out", str(out)]
    assert report["episodes"] == 2
    seed = json.loads((smoke_run / "config.json").read_text())["args"]["seed"]
    assert report["seeds"] == [seed, seed]  # the copy is the same training seed
    assert report["generalisation"] is None
    assert report["targets"][3].endswith("not measured (--no-generalise)")
    pooled = report["pooled"]
    assert [s["run"] for s in pooled["per_seed"]] == [str(smoke_run), str(second)]
    agent = pooled["unseen"]["agent"]
    assert agent[0] == pytest.approx(np.mean([s["unseen"][0] for s in pooled["per_seed"]]))
    # Every deployable rule gets a paired margin on the unseen images; the skipped oracle none.
    rules = set(report["runs"][0]["beats_unseen"])
    assert {"all-digital", "saving-vs-noise", "greedy", "keep-first-last-digital"} <= rules
    assert rules <= set(pooled["unseen"]["margins"]) and "oracle" not in rules
    assert set(pooled["beats_unseen"]) == rules
    # Targets 1-4 are the first seed's, and say so; the pooled verdict has its own line.
    assert all(f", {smoke_run} alone: " in line for line in report["targets"][:4])
    assert report["targets"][4].startswith("pooled (2 training seeds): beats ")
    # The printed headline shows the pooled agent, as the JSON does (not the first seed alone).
    headline = printed.split("== headline")[1].split("\n== ")[0]
    assert f"{agent[0]:.2f} ± {agent[1]:.2f}" in headline
    assert "not run" in headline  # the oracle column


def test_bad_benchmark_input_is_a_one_line_error(
    smoke_run: Path, tmp_path: Path, cli_error, policy_quality_main
):
    assert "--episodes must be an integer >= 2" in cli_error(
        policy_quality_main, ["--model", str(smoke_run), "--episodes", "1"]
    )
    assert "config.json is missing" in cli_error(policy_quality_main, ["--model", str(tmp_path)])
    other = tmp_path / "other"
    shutil.copytree(smoke_run, other, ignore=shutil.ignore_patterns("checkpoints", "tb", "eval"))
    config = json.loads((other / "config.json").read_text())
    config["env_resolved"]["scenario"] = "paper"
    (other / "config.json").write_text(json.dumps(config))
    assert "pass the training seeds of one scenario" in cli_error(
        policy_quality_main, ["--model", str(smoke_run), str(other)]
    )


def recorded_commands() -> list[list[str]]:
    """Every benchmark command recorded in a results file under docs/results/."""
    commands = []
    for path in sorted((ROOT / "docs" / "results").rglob("*.json")):
        command = json.loads(path.read_text())
        command = command.get("command") if isinstance(command, dict) else None
        if command and str(command[0]).startswith("benchmarks/"):
            commands.append(command)
    return commands


def test_every_recorded_benchmark_command_still_parses(script_module):
    commands = recorded_commands()
    assert len(commands) > 40  # policy_quality's files, the schedule gaps, tuning, ...
    for script, *argv in commands:
        options = script_module(script.removesuffix(".py")).Options
        try:
            tyro.cli(options, args=argv)
        except SystemExit:  # tyro's exit on an option it does not know, or a bad value
            pytest.fail(f"a recorded command no longer parses: {script} {' '.join(argv)}")
