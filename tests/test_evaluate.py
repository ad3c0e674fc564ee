"""evaluate.py: the comparison a user reads (table, CSV, JSON, figures), its replay with
--validate, the reward-weight sweep, and one-line errors with exit code 2.

One evaluation of the shared smoke run (tests/conftest.py) with every policy, 2 episodes, is
made once per module and read by most tests.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from envs.actions import ACTION_NAMES

ROOT = Path(__file__).resolve().parents[1]

LAYERS = ["conv1", "conv2", "fc1", "fc2", "fc3", "fc4"]
N_STEPS = 12  # the default timeline
BASELINES = {"all-digital", "all-analog", "random", "threshold", "greedy", "oracle"}


@pytest.fixture(scope="module")
def run(evaluate_main) -> Callable[..., tuple[int, str]]:
    """``run(*argv)``: evaluate.main in-process, returning (exit code, stdout)."""

    def call(*argv: str) -> tuple[int, str]:
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            code = evaluate_main([*argv, "--no-progress"])
        return code, stdout.getvalue()

    return call


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def evaluation(smoke_run: Path, tmp_path_factory: pytest.TempPathFactory, run) -> tuple[Path, str]:
    """``evaluate.py --model <smoke run> --episodes 2 --out <tmp>/results``: (folder, stdout)."""
    out = tmp_path_factory.mktemp("evaluation") / "results"
    code, stdout = run("--model", str(smoke_run), "--episodes", "2", "--out", str(out))
    assert code == 0, stdout
    return out, stdout


def test_writes_summary_steps_and_figures(evaluation):
    out, _ = evaluation
    for name in ("summary.csv", "summary.json", "steps.csv"):
        assert (out / name).stat().st_size > 0
    for name in ("pareto.png", "placements.png"):
        data = (out / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 20_000


def test_summary_has_a_row_per_policy_with_the_numbers_a_user_reads(evaluation, smoke_run):
    out, _ = evaluation
    rows = {row["policy"]: row for row in read_csv(out / "summary.csv")}
    assert {"ppo", *BASELINES} <= set(rows)
    for row in rows.values():
        assert row["episodes"] == "2" and row["seeds"] == "0 1" and row["weighting"] == "main"
        assert 0.0 < float(row["energy_vs_digital"]) <= 1.0
        for task in (1, 2):
            assert float(row[f"task{task}_acc_worst"]) <= float(row[f"task{task}_acc_mean"]) <= 1
    # All-digital costs exactly 1 per step under the default reward and keeps digital accuracy.
    digital = rows["all-digital"]
    assert float(digital["energy_vs_digital"]) == 1.0
    assert float(digital["return_mean"]) == pytest.approx(-N_STEPS)
    assert float(digital["task1_acc_mean"]) == pytest.approx(float(digital["task1_acc_digital"]))
    assert float(digital["saving_of_ceiling"]) == 0.0
    analog = rows["all-analog"]
    assert float(analog["energy_vs_digital"]) < 0.5
    assert float(analog["reprogrammings"]) == 0.0
    assert rows["ppo"]["model"] == str(smoke_run)
    # Common random numbers: every policy ran on the same chips.
    assert len({row["chips"] for row in rows.values()}) == 1

    summary = json.loads((out / "summary.json").read_text())
    assert summary["seeds"] == [0, 1]
    assert all(chip >= 1000 for chip in summary["chips"].values())  # held-out chips
    main = summary["configurations"]["main"]
    assert main["env"]["chip_offset"] == 1000 and main["model"] == str(smoke_run)
    assert main["env_resolved"]["reward"]["task_loss"] == 50.0
    assert {row["policy"] for row in summary["rows"]} == set(rows)


def test_steps_csv_rebuilds_the_summary(evaluation):
    out, _ = evaluation
    steps = read_csv(out / "steps.csv")
    summary = {row["policy"]: row for row in read_csv(out / "summary.csv")}
    assert len(steps) == len(summary) * 2 * N_STEPS
    assert set(LAYERS) <= set(steps[0])
    returns: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    chips: dict[str, set[str]] = defaultdict(set)
    for row in steps:
        returns[row["policy"]][row["episode"]] += float(row["reward"])
        chips[row["seed"]].add(row["chip"])
        placement = [row[layer] for layer in LAYERS]
        assert placement == [ACTION_NAMES[int(a)] for a in row["action"].split()]
        assert float(row["energy_pj"]) > 0 and 0 <= float(row["task1_acc"]) <= 1
    for policy, episodes in returns.items():
        assert np.mean(list(episodes.values())) == pytest.approx(
            float(summary[policy]["return_mean"]), abs=1e-9
        )
    assert all(len(found) == 1 for found in chips.values())  # same seed, same chip, any policy
    times = sorted({float(row["time_s"]) for row in steps})
    assert len(times) == N_STEPS and times[0] == 1.0 and times[-1] == pytest.approx(3.15e7)


def test_terminal_table_has_a_row_per_policy(evaluation):
    _, stdout = evaluation
    lines = stdout.splitlines()
    header = next(line for line in lines if line.startswith("policy"))
    assert "return (95% CI)" in header and "energy/digital" in header and "reprog" in header
    for policy in ("ppo", *BASELINES):
        assert any(line.startswith(f"{policy} ") and "±" in line for line in lines), policy


def test_validate_replays_every_episode_without_differences(evaluation, run):
    out, _ = evaluation
    n_episodes = len(read_csv(out / "summary.csv")) * 2
    code, stdout = run("--validate", str(out))
    assert code == 0, stdout
    assert f"validated {n_episodes} episodes, no differences" in stdout


def test_validate_reports_a_tampered_reward(evaluation, tmp_path: Path, run):
    out, _ = evaluation
    shutil.copy(out / "summary.json", tmp_path / "summary.json")
    steps = [
        row
        for row in read_csv(out / "steps.csv")
        if row["policy"] == "greedy" and row["episode"] == "1"
    ]
    steps[4]["reward"] = repr(float(steps[4]["reward"]) + 1e-6)
    with (tmp_path / "steps.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(steps[0]))
        writer.writeheader()
        writer.writerows(steps)
    code, stdout = run("--validate", str(tmp_path))
    assert code == 1
    assert f"1 of {N_STEPS} steps differ" in stdout
    differing = [line for line in stdout.splitlines() if "recorded" in line]
    assert len(differing) == 1
    assert "policy greedy seed 1 step 4" in differing[0]


def test_sweep_adds_rows_per_weighting_and_sweep_models_add_ppo(smoke_run, tmp_path: Path, run):
    out = tmp_path / "sweep"
    code, stdout = run(
        "--model",
        str(smoke_run),
        "--policies",
        "ppo,all-digital,greedy",
        "--episodes",
        "1",
        "--sweep",
        "energy=0.5,2",
        "--sweep-models",
        f"{smoke_run},{smoke_run}",
        "--out",
        str(out),
    )
    assert code == 0, stdout
    rows = read_csv(out / "summary.csv")
    assert [(r["weighting"], r["policy"]) for r in rows] == [
        (weighting, policy)
        for weighting in ("main", "energy=0.5", "energy=2")
        for policy in ("ppo", "all-digital", "greedy")
    ]
    by_key = {(r["weighting"], r["policy"]): r for r in rows}
    # All-digital pays the energy weight once per step, whatever the weight.
    for weighting, weight in (("main", 1.0), ("energy=0.5", 0.5), ("energy=2", 2.0)):
        assert float(by_key[weighting, "all-digital"]["return_mean"]) == -weight * N_STEPS
    assert by_key["energy=2", "greedy"]["sweep_key"] == "energy"
    assert float(by_key["energy=2", "greedy"]["sweep_value"]) == 2.0
    assert by_key["energy=2", "greedy"]["reward_weights"].startswith("energy=2,task_loss=50")
    assert "sweep over energy" in stdout and "greedy @ energy=0.5" in stdout
    assert (out / "pareto.png").stat().st_size > 20_000
    # The sweep episodes replay too (each weighting in its own environment).
    code, stdout = run("--validate", str(out))
    assert code == 0 and "validated 9 episodes, no differences" in stdout


def test_without_a_run_it_says_so_and_evaluates_the_heuristics(tmp_path: Path, run):
    out = tmp_path / "heuristics"
    code, stdout = run(
        "--runs-dir",
        str(tmp_path / "empty"),
        "--episodes",
        "1",
        "--reward-weights",
        "energy=2",
        "--out",
        str(out),
    )
    assert code == 0, stdout
    notes = [line for line in stdout.splitlines() if line.startswith("no trained run")]
    assert len(notes) == 1
    rows = {row["policy"]: row for row in read_csv(out / "summary.csv")}
    assert "ppo" not in rows and BASELINES <= set(rows)
    assert float(rows["all-digital"]["return_mean"]) == -2.0 * N_STEPS
    assert rows["all-digital"]["scenario"] == "strong-drift"


def test_default_model_is_the_newest_run(smoke_run: Path, tmp_path: Path, run):
    runs = tmp_path / "runs"
    for name in ("older", "newer"):
        shutil.copytree(smoke_run, runs / name, ignore=shutil.ignore_patterns("tb", "eval"))
    now = time.time()
    os.utime(runs / "older" / "model.zip", (now, now))
    os.utime(runs / "newer" / "model.zip", (now + 60, now + 60))
    out = tmp_path / "results"
    code, stdout = run(
        "--runs-dir",
        str(runs),
        "--policies",
        "ppo,all-digital",
        "--episodes",
        "1",
        "--out",
        str(out),
    )
    assert code == 0, stdout
    rows = {row["policy"]: row for row in read_csv(out / "summary.csv")}
    assert rows["ppo"]["model"] == str(runs / "newer")


def _broken_run(smoke_run: Path, tmp_path: Path, how: str) -> Path:
    folder = tmp_path / how
    shutil.copytree(smoke_run, folder, ignore=shutil.ignore_patterns("tb", "eval", "checkpoints"))
    if how == "no-config":
        (folder / "config.json").unlink()
    elif how == "not-a-zip":
        (folder / "model.zip").write_bytes(b"this is not a zip archive")
    elif how == "wrong-zip":
        shutil.make_archive(str(tmp_path / "junk"), "zip", root_dir=folder, base_dir="config.json")
        shutil.move(tmp_path / "junk.zip", folder / "model.zip")
    elif how == "no-model":
        (folder / "model.zip").unlink()
    return folder


@pytest.mark.parametrize(
    "how, needle",
    [
        ("no-config", "config.json is missing"),
        ("not-a-zip", "is corrupt"),
        ("wrong-zip", "could not be loaded"),
        ("no-model", "no model.zip in"),
    ],
)
def test_broken_run_folder_is_a_one_line_error(smoke_run, tmp_path, capsys, how, needle, run):
    folder = _broken_run(smoke_run, tmp_path, how)
    code, stdout = run("--model", str(folder), "--out", str(tmp_path / "results"))
    stderr = capsys.readouterr().err
    assert code == 2
    assert stderr.startswith("error: ") and stderr.count("\n") == 1, stderr
    assert needle in stderr
    assert "retrain" in stderr or "train_agent.py" in stderr  # the fix
    assert not (tmp_path / "results").exists()  # it failed before simulating anything


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--policies", "greedy,nonsense"], "unknown policy 'nonsense': choose from"),
        (["--model", "no/such/run"], "neither a run folder nor a model.zip"),
        (["--policies", "ppo"], "policy ppo needs a trained run"),
        (["--reward-weights", "energy=lots"], "not a number"),
        (["--scenario", "moon"], "unknown scenario 'moon'"),
        (["--sweep", "colour=1,2"], "KEY=V1,V2"),
        (["--sweep", "energy=1,2", "--sweep-models", "a"], "one run per value"),
        (["--validate", "no/such/results"], "summary.json is missing"),
        (["--episodes", "0"], "--episodes must be at least 1"),
    ],
)
def test_bad_options_are_a_one_line_error(tmp_path, capsys, argv, needle, run):
    code, _ = run("--runs-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "out"), *argv)
    stderr = capsys.readouterr().err
    assert code == 2
    assert stderr.startswith("error: ") and stderr.count("\n") == 1, stderr
    assert needle in stderr


def test_command_line_error_has_no_traceback(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "evaluate.py"), "--policies", "nonsense", "--no-progress"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        next(line for line in result.stderr.splitlines() if line.startswith("error: "))
    ]
    assert "unknown policy 'nonsense'" in result.stderr
