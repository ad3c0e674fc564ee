"""Ray: evaluation episodes as Ray tasks give exactly the serial numbers, a killed
worker is retried with no episode lost or counted twice, the training environments run as Ray
actors behind SB3's VecEnv (masks included) and a run through them learns, and a Tune sweep
retries a killed trial and resumes after a failure.

Skipped without Ray (``pip install -e '.[ray]'``). One local Ray with 2 CPUs and a small object
store serves the module.
"""

from __future__ import annotations

import csv
import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from sb3_contrib import MaskablePPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

ray = pytest.importorskip("ray")

import agents  # noqa: E402
from agents.distributed import LOCAL_OBJECT_STORE_BYTES, connect, run_policies  # noqa: E402
from agents.evaluation import run_episode  # noqa: E402
from agents.heuristics import AllDigitalPolicy  # noqa: E402
from agents.run_folder import make_env_from_config, read_run_config  # noqa: E402
from agents.training import TrainConfig, make_vec_env, train  # noqa: E402
from envs.chips import TEST_CHIP_OFFSET, first_chips  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """A local Ray with 2 CPUs for the module (the machine's size)."""
    connect(num_cpus=2)
    yield
    ray.shutdown()


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_local_ray_has_a_small_object_store():
    assert ray.available_resources()["object_store_memory"] <= LOCAL_OBJECT_STORE_BYTES


def test_evaluate_on_ray_writes_exactly_the_serial_numbers(
    smoke_run: Path, tmp_path: Path, evaluate_main
):
    # random keeps state from one episode to the next (its generator is reseeded from an
    # episode counter): each task must start where the serial loop's policy stood.
    common = ["--model", str(smoke_run), "--episodes", "3", "--no-progress"]
    common += ["--policies", "ppo,random,threshold,greedy,greedy-preview"]
    assert evaluate_main([*common, "--out", str(tmp_path / "serial")]) == 0
    assert evaluate_main([*common, "--out", str(tmp_path / "ray"), "--workers", "2"]) == 0

    serial, on_ray = (read_csv(tmp_path / name / "steps.csv") for name in ("serial", "ray"))
    assert len(serial) == 5 * 3 * 12
    assert on_ray == serial  # every placement, accuracy, energy and reward, as text
    summaries = [
        json.loads((tmp_path / name / "summary.json").read_text())["rows"]
        for name in ("serial", "ray")
    ]
    for row in summaries[0] + summaries[1]:
        row.pop("wall_s_per_episode")
    assert summaries[1] == summaries[0]


def test_a_killed_worker_is_retried_and_no_episode_is_lost_or_counted_twice(
    smoke_run: Path, tmp_path: Path
):
    died = tmp_path / "died"

    class DiesOnce(AllDigitalPolicy):
        """all-digital, whose worker process is killed (SIGKILL) at the first step it takes."""

        def act(self, observation):
            if not died.exists():
                died.touch()
                os.kill(os.getpid(), signal.SIGKILL)
            return super().act(observation)

    # The smoke run's held-out environment, as the evaluate test built it in the workers.
    env = make_env_from_config(read_run_config(smoke_run), chip_offset=TEST_CHIP_OFFSET)
    seeds, chips = range(3), first_chips(TEST_CHIP_OFFSET, 3)
    policies = {"all-digital": DiesOnce(), "random": agents.make_policy("random")}
    records = run_policies(env, policies, seeds, chips, workers=2)

    assert died.exists()  # one worker did die mid-episode
    serial = {name: agents.make_policy(name) for name in ("all-digital", "random")}
    for name, policy in serial.items():
        policy.bind(env)
        expected = [
            run_episode(env, policy, seed, chip) for seed, chip in zip(seeds, chips, strict=True)
        ]
        assert [r.seed for r in records[name]] == list(seeds)
        assert [r.chip for r in records[name]] == chips
        assert [r.episode_return for r in records[name]] == [r.episode_return for r in expected]


def test_ray_vec_env_steps_like_local_envs_and_masked_ppo_learns_through_it():
    # monthly-refresh: the mask offers some reprogramming, so masks differ between steps.
    kwargs = {"dataset": "digits", "scenario": "monthly-refresh", "chip_pool": 8}
    remote = make_vec_env(kwargs, 2, seed=3, drift_scales=(1.0, 1.5), vec_env="ray")
    # The same two environments in this process: rank 1 is seed 4 at 1.5x drift.
    rank0 = make_vec_env(kwargs, 1, seed=3).envs[0]
    rank1 = make_vec_env(kwargs, 1, seed=4, drift_scales=(1.5,)).envs[0]
    local = VecMonitor(DummyVecEnv([lambda: rank0, lambda: rank1]))
    local.seed(3)
    try:
        assert remote.observation_space == local.observation_space
        np.testing.assert_array_equal(remote.reset(), local.reset())
        rng = np.random.default_rng(0)
        for _ in range(14):  # across the end of the 12-step episodes (automatic reset)
            masks = remote.env_method("action_masks")
            for got, want in zip(masks, local.env_method("action_masks"), strict=True):
                np.testing.assert_array_equal(got, want)
            actions = rng.integers(0, 3, size=(2, 6))
            got, want = remote.step(actions), local.step(actions)
            np.testing.assert_array_equal(got[0], want[0])  # observations
            # DummyVecEnv keeps rewards in float32; RayVecEnv, like SubprocVecEnv, in float64.
            np.testing.assert_array_equal(got[1].astype(np.float32), want[1])
            np.testing.assert_array_equal(got[2], want[2])  # dones
            for info_a, info_b in zip(got[3], want[3], strict=True):
                assert info_a.keys() == info_b.keys()
                if "terminal_observation" in info_a:
                    np.testing.assert_array_equal(
                        info_a["terminal_observation"], info_b["terminal_observation"]
                    )
        assert remote.get_attr("chip_pool") == [8, 8]
        # sb3-contrib reads the masks through env_method("action_masks") at every step.
        model = MaskablePPO("MlpPolicy", remote, n_steps=32, batch_size=32, n_epochs=1, seed=0)
        model.learn(64)
        assert model.num_timesteps == 64
    finally:
        remote.close()
        local.close()


@pytest.mark.slow
def test_training_through_ray_actors_learns(tmp_path: Path):
    """train_agent.py --vec-env ray: 1536 steps (about 5 minutes on a loaded 2-core machine)."""
    out = tmp_path / "run"
    config = TrainConfig(
        timesteps=1536,
        n_envs=2,
        vec_env="ray",
        n_steps=128,
        eval_freq=256,
        eval_episodes=2,
        out=out,
        seed=0,
        progress=False,
        compare_episodes=0,
    )
    train(config)
    assert read_run_config(out)["result"]["status"] == "finished"
    evaluations = np.load(out / "eval" / "evaluations.npz")
    returns = evaluations["results"].mean(axis=1)  # validation chips 500.., deterministic
    assert returns[-1] > returns[0] + 1.0, returns
    assert returns[-1] > -15.0, returns  # near all-digital (-12) or better, far from analog


def test_sweep_retries_a_killed_trial_and_resumes_a_failed_one(tmp_path: Path, capsys):
    from agents.sweep import SweepConfig, Trial, run_sweep

    calls = tmp_path / "calls.txt"
    killed, may_finish = tmp_path / "killed", tmp_path / "may-finish"

    def trial(config, episodes, policies):
        """A stand-in for run_sweep's trainable: the first seed's worker is killed once, the
        second seed fails until may_finish exists; both then write their trial.json."""
        from ray import tune

        spec = Trial(**config["trial"])
        with calls.open("a") as handle:
            handle.write(spec.name + "\n")
        if spec.options["seed"] == 0 and not killed.exists():
            killed.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        if spec.options["seed"] == 1 and not may_finish.exists():
            raise RuntimeError("not yet")
        run = Path(spec.options["out"])
        run.mkdir(parents=True)
        bonus = spec.options["seed"]
        rows = [
            {
                "policy": "ppo",
                "return_mean": -9.0 + bonus,
                "return_ci95": 0.5,
                "energy_vs_digital": 0.5,
                "ppo_minus": 0.0,
                "ppo_minus_ci95": 0.0,
            },
            {
                "policy": "all-digital",
                "return_mean": -12.0,
                "return_ci95": 0.0,
                "energy_vs_digital": 1.0,
                "ppo_minus": 3.0 + bonus,
                "ppo_minus_ci95": 0.4,
            },
        ]
        result = {"trial": spec.name, "options": spec.options, "rows": rows, "train": {}}
        (run / "trial.json").write_text(json.dumps(result))
        tune.report({"trial": spec.name})

    sweep = SweepConfig(seeds=(0, 1), scenarios=("paper",), out=tmp_path / "sweep", max_failures=1)
    with pytest.raises(ValueError, match="1 of 2 trials did not finish"):
        run_sweep(sweep, trainable=trial)
    names = calls.read_text().split()
    assert names.count("digits-paper-seed0") == 2  # killed, retried, finished
    assert names.count("digits-paper-seed1") == 2  # failed twice: max_failures=1

    may_finish.touch()
    capsys.readouterr()
    table = run_sweep(sweep, trainable=trial)  # the same command again resumes
    printed = capsys.readouterr().out
    names = calls.read_text().split()
    assert names.count("digits-paper-seed0") == 2  # finished: not run again
    assert names.count("digits-paper-seed1") == 3
    rows = read_csv(table)
    assert [(r["trial"], r["policy"]) for r in rows] == [
        ("digits-paper-seed0", "ppo"),
        ("digits-paper-seed0", "all-digital"),
        ("digits-paper-seed1", "ppo"),
        ("digits-paper-seed1", "all-digital"),
    ]
    assert "digits-paper (2 seeds)" in printed and "+3.50 ±" in printed


@pytest.mark.slow
def test_sweep_command_trains_compares_and_prints_the_table(tmp_path: Path):
    """python -m agents.sweep, 2 seeds x 2 scenarios of 512 steps: four run folders, each with
    its evaluate.py comparison, gathered in one table (several minutes on 2 cores)."""
    from agents.sweep import main

    out = tmp_path / "sweep"
    argv = ["--seeds", "0", "1", "--scenarios", "paper", "strong-drift", "--timesteps", "512"]
    argv += ["--n-envs", "1", "--episodes", "2", "--policies", "ppo,all-digital,greedy"]
    assert main([*argv, "--out", str(out)]) == 0
    rows = read_csv(out / "results.csv")
    trials = sorted({row["trial"] for row in rows})
    assert trials == [
        "digits-paper-seed0",
        "digits-paper-seed1",
        "digits-strong-drift-seed0",
        "digits-strong-drift-seed1",
    ]
    assert len(rows) == 4 * 3
    for trial in trials:
        run = out / "runs" / trial
        assert read_run_config(run)["result"]["num_timesteps"] == 512
        summary = json.loads((run / "comparison" / "summary.json").read_text())
        ppo = next(row for row in rows if row["trial"] == trial and row["policy"] == "ppo")
        assert float(ppo["return_mean"]) == next(
            r["return_mean"] for r in summary["rows"] if r["policy"] == "ppo"
        )
    # Run again: every trial is done, nothing trains, the same table.
    assert main([*argv, "--out", str(out)]) == 0
    assert read_csv(out / "results.csv") == rows
