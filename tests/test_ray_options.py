"""The Ray options without a Ray cluster: with or without Ray installed, bad options
are one-line errors, and without Ray every Ray option says how to install it. The sweep's
planning (trial names, --grid) needs no Ray either."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from agents.sweep import SweepConfig, parse_grid, plan

ROOT = Path(__file__).resolve().parents[1]
HAS_RAY = importlib.util.find_spec("ray") is not None
without_ray = pytest.mark.skipif(HAS_RAY, reason="checks the message shown when Ray is missing")


def test_nothing_imports_ray_unless_asked():
    code = "import sys, agents, envs, agents.comparison, agents.training, agents.sweep\n"
    code += "assert 'ray' not in sys.modules, 'ray imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@without_ray
@pytest.mark.parametrize(
    "script, argv, option",
    [
        ("evaluate", ["--workers", "2", "--policies", "all-digital"], "--workers"),
        ("train_agent", ["--vec-env", "ray"], "--vec-env ray"),
    ],
)
def test_ray_options_without_ray_name_the_install(
    script, argv, option, tmp_path, cli_error, request
):
    main = request.getfixturevalue(f"{script}_main".replace("train_agent", "train"))
    message = cli_error(main, [*argv, "--out", str(tmp_path / "out")])
    assert f"{option} needs Ray" in message and "pip install -e '.[ray]'" in message


@without_ray
def test_sweep_without_ray_names_the_install(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "agents.sweep", "--out", str(tmp_path / "sweep")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: python -m agents.sweep needs Ray: install it with pip install -e '.[ray]'"
    ]


def test_unknown_vec_env_is_a_one_line_error(tmp_path: Path, cli_error, train_main):
    message = cli_error(train_main, ["--vec-env", "dask", "--out", str(tmp_path / "run")])
    assert "--vec-env must be one of subproc, ray" in message


def test_sweep_plans_one_named_run_folder_per_combination(tmp_path: Path):
    sweep = SweepConfig(
        seeds=(0, 1),
        scenarios=("paper", "strong-drift"),
        reward_weights=("", "energy=2,task_loss=50"),
        grid=("gamma=0.5,0.8", "net_arch=64/64,128/128"),
        out=tmp_path,
    )
    trials = plan(sweep)
    assert len(trials) == 2 * 2 * 2 * 2 * 2
    names = [trial.name for trial in trials]
    assert names[0] == "digits-paper-gamma=0.5-net_arch=64x64-seed0"
    assert "digits-strong-drift-energy=2_task_loss=50-gamma=0.8-net_arch=128x128-seed1" in names
    options = trials[-1].options
    assert options["gamma"] == 0.8 and options["net_arch"] == [128, 128]
    assert options["out"] == str(tmp_path.resolve() / "runs" / trials[-1].name)


@pytest.mark.parametrize(
    "entry, needle",
    [
        ("seed=1,2", "use --seeds"),
        ("bogus=1", "KEY a train_agent.py option"),
        ("gamma=high", "expected type float"),
        ("n_steps=1.5", "expected type int"),
    ],
)
def test_bad_grid_is_a_one_line_error(entry: str, needle: str):
    with pytest.raises(ValueError, match=needle):
        parse_grid([entry])
