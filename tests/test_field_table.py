"""The field's table (``benchmarks/field_table.py``, ``agents.field_table``): which placement and
tiles are in force at an age, that they are evaluated with the episode's own noise draws, the
files the benchmark writes, its one-line errors, and the Markdown table ``make results`` renders.
"""

from __future__ import annotations

import copy
import csv
import json
import shutil
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import pytest
import tyro

import envs
from agents import result_tables
from agents.evaluation import EpisodeRecord
from agents.field_table import DEFAULT_POLICIES, check_policies, step_at, tile_states_at
from agents.training import TrainConfig, train
from envs.chips import TEST_CHIP_OFFSET

CHIP = TEST_CHIP_OFFSET + 2
POOL = 4
KEEP, FRESH = 1, 2  # analog (keep the tiles), analog and reprogram
HAND_ACTIONS = (
    [[KEEP] * 6] * 4  # steps 0-3: every layer analog on its t = 0 tiles
    + [[0, KEEP, FRESH, KEEP, KEEP, KEEP]]  # step 4: conv1 digital, layer 2 rewritten at t_3
    + [[0, KEEP, KEEP, KEEP, KEEP, KEEP]] * 7  # steps 5-11: keep that
)


def _held_out(cache_dir: Path, **kwargs: Any) -> gymnasium.Env:
    return gymnasium.make(
        envs.ENV_ID, cache_dir=cache_dir, chip_offset=TEST_CHIP_OFFSET, chip_pool=POOL, **kwargs
    )


@pytest.fixture(scope="module")
def hand(cache_dir: Path) -> tuple[gymnasium.Env, EpisodeRecord]:
    """The default scenario on held-out chips, and an episode of HAND_ACTIONS on chip 1002."""
    env = _held_out(cache_dir)
    _, info = env.reset(seed=0, options={"chip": CHIP})
    record = EpisodeRecord("hand", 0, int(info["chip"]))
    for action in HAND_ACTIONS:
        record.steps.append(dict(env.step(action)[4], action=action))
    return env, record


def test_step_at_finds_the_interval_and_snaps_to_a_decision_time(hand):
    times = hand[0].unwrapped.times_s
    assert step_at(times, 0.5) == (0, 0.5)  # (0, t_0]
    assert step_at(times, 86_400.0) == (8, 86_400.0)  # t_7 = 16 h < a day <= t_8 = 3.3 days
    assert step_at(times, float(times[3])) == (3, float(times[3]))  # the interval's end
    assert step_at(times, float(times[11]) * (1 + 1e-12)) == (11, float(times[11]))


def test_tile_states_in_force_follow_the_reprogramming(hand):
    env, record = hand
    times = env.unwrapped.times_s
    t3 = float(times[3])
    rewritten = TEST_CHIP_OFFSET + (CHIP - TEST_CHIP_OFFSET + 1) % POOL  # its second programming
    assert rewritten == 1003 == env.unwrapped.programming_id(CHIP, 1)
    # Before the reprogramming: every layer analog, written at t = 0, on the chip's own draw.
    t2 = float(times[2])
    assert tile_states_at(env, record, t2) == [(CHIP, t2)] * 6
    # A day in (step 8): conv1 digital; layer 2 is the tile written at t_3, 86400 - t_3 old.
    day = 86_400.0
    assert tile_states_at(env, record, day) == [
        None,
        (CHIP, day),
        (rewritten, day - t3),
        (CHIP, day),
        (CHIP, day),
        (CHIP, day),
    ]
    # At a decision time, the ages the episode itself had.
    for k in (4, 11):
        states = tile_states_at(env, record, float(times[k]))
        assert [s[1] for s in states if s is not None] == [
            age
            for age, analog in zip(
                record.steps[k]["drift_ages_s"], record.steps[k]["analog"], strict=True
            )
            if analog
        ]
    # A record whose ages do not follow this timeline (another environment's) is refused.
    other = copy.deepcopy(record)
    other.steps[5]["drift_ages_s"][2] += 1.0
    with pytest.raises(ValueError, match="pass the environment the episode ran in"):
        tile_states_at(env, other, float(times[5]))


def test_the_test_images_see_the_episodes_noise_draws(hand, cache_dir: Path):
    """At a decision time the table's evaluation on the test split is the episode's actions
    replayed there (same chip, same programmings, same ages): the same noise draws."""
    env, record = hand
    test_env = _held_out(cache_dir, eval_split="test")
    test_env.reset(seed=record.seed, options={"chip": record.chip})
    infos = [test_env.step(action)[4] for action in HAND_ACTIONS[:5]]
    time_s = float(env.unwrapped.times_s[4])
    table = test_env.unwrapped.evaluator.evaluate(tile_states_at(env, record, time_s))
    assert table.accuracies.tolist() == infos[4]["accuracies"]
    # Another programming of layer 2 would be another draw: the ids matter.
    states = tile_states_at(env, record, time_s)
    states[2] = (CHIP, states[2][1])
    assert test_env.unwrapped.evaluator.evaluate(states).losses.tolist() != infos[4]["losses"]


def test_bad_ages_and_unknown_policies_are_one_line_errors(hand):
    times = hand[0].unwrapped.times_s
    for age in (0.0, -5.0, 365 * 86_400.0):  # 365 days: beyond the 3.15e7 s year
        with pytest.raises(ValueError, match="choose --ages-s above 0 and at most") as error:
            step_at(times, age)
        assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="unknown policy 'nope' in --policies: choose from"):
        check_policies(["all-digital", "nope"])
    assert check_policies(list(DEFAULT_POLICIES)) == list(DEFAULT_POLICIES)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two 'training seeds': a 64-step run (seconds) and a copy of it recorded as seed 1."""
    root = tmp_path_factory.mktemp("field-runs")
    first = root / "digits-strong-drift-seed0"
    config = TrainConfig(
        timesteps=64,
        n_steps=32,
        batch_size=32,
        n_epochs=1,
        n_envs=1,
        out=first,
        seed=0,
        progress=False,
        compare_episodes=0,
        envelope_chips=0,
    )
    train(config)
    second = root / "digits-strong-drift-seed1"
    shutil.copytree(first, second, ignore=shutil.ignore_patterns("tb", "eval", "checkpoints"))
    saved = json.loads((second / "config.json").read_text())
    saved["args"]["seed"] = 1
    (second / "config.json").write_text(json.dumps(saved))
    return [first, second]


@pytest.fixture(scope="module")
def table(runs: list[Path], tmp_path_factory: pytest.TempPathFactory, script_module):
    """The benchmark on both runs and two held-out chips: (argv, the JSON, its path)."""
    out = tmp_path_factory.mktemp("field") / "field-table.json"
    argv = ["--model", *map(str, runs), "--chips", "2", "--out", str(out)]
    assert script_module("benchmarks/field_table").main(argv) == 0
    return argv, json.loads(out.read_text()), out


def test_the_corners_are_exact(table, hand):
    _, data, _ = table
    for age in data["policies"]["all-digital"]["ages"]:
        assert age["energy_ratio"] == [1.0, 0.0]
        assert age["accuracy_loss_pp"] == [[0.0, 0.0], [0.0, 0.0]]
    unwrapped = hand[0].unwrapped
    all_analog = unwrapped.cost_ratios(np.ones(unwrapped.n_layers, dtype=int))[0]
    assert data["all_analog_energy_ratio"] == pytest.approx(all_analog)
    for age in data["policies"]["all-analog"]["ages"]:
        assert age["energy_ratio"][0] == pytest.approx(all_analog)
        assert age["energy_ratio"][1] == 0.0
    # All analog for a year loses accuracy; the losses are per chip, pooled with a CI.
    last = data["policies"]["all-analog"]["ages"][-1]
    assert last["accuracy_loss_pp"][0][0] > 0
    assert len(last["per_chip"]["energy_ratio"]) == 2


def test_the_json_records_seeds_chips_ages_command_and_configs(table, runs, script_module):
    argv, data, _ = table
    assert data["seeds"] == [0, 1]
    assert data["chips"] == [TEST_CHIP_OFFSET, TEST_CHIP_OFFSET + 1]
    assert data["ages_s"] == [86_400.0, 2_592_000.0, 31_500_000.0]
    assert data["steps"] == [8, 10, 11]
    assert data["split"] == "test" and data["tasks"] == ["class", "group"]
    assert [r["seed"] for r in data["runs"]] == [0, 1]
    assert data["runs"][0]["config"]["env"]["scenario"] == "strong-drift"
    assert list(data["policies"]) == list(DEFAULT_POLICIES)
    assert data["policies"]["greedy-preview"]["kind"] == "privileged"
    agent = data["policies"]["ppo"]
    assert [s["seed"] for s in agent["per_seed"]] == [0, 1]
    assert [s["run"] for s in agent["per_seed"]] == [str(r) for r in runs]
    # The pooled agent is the per-chip mean over the seeds (here two copies of one agent).
    for pooled, seed in zip(agent["ages"], agent["per_seed"][0]["ages"], strict=True):
        assert pooled["energy_ratio"][0] == pytest.approx(seed["energy_ratio"][0])
    # The recorded command parses with the script's options.
    assert data["command"] == ["benchmarks/field_table.py", *argv]
    options = tyro.cli(script_module("benchmarks/field_table").Options, args=data["command"][1:])
    assert options.chips == 2 and len(options.model) == 2


def test_the_csv_has_a_row_per_policy_age_and_task_and_the_figure_exists(table):
    _, data, out = table
    with out.with_suffix(".csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(DEFAULT_POLICIES) * 3 * 2
    keys = [(r["policy"], r["age"], r["task"]) for r in rows]
    assert len(set(keys)) == len(keys)
    assert ("ppo", "30d", "group") in keys and ("all-digital", "1y", "class") in keys
    digital = next(r for r in rows if r["policy"] == "all-digital")
    assert float(digital["energy_ratio_mean"]) == 1.0
    assert float(digital["accuracy_loss_pp_mean"]) == 0.0
    assert next(r for r in rows if r["policy"] == "ppo")["seeds"] == "2"
    figure = out.with_suffix(".png")
    assert figure.stat().st_size > 10_000
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_input_to_the_benchmark_is_one_line(runs, tmp_path, cli_error, script_module):
    main = script_module("benchmarks/field_table").main
    base = ["--model", str(runs[0]), "--out", str(tmp_path / "t.json")]
    assert "choose --ages-s above 0" in cli_error(main, [*base, "--ages-s", "0"])
    assert "at most the horizon 3.15e+07 s (1y)" in cli_error(
        main, [*base, "--ages-s", "86400", str(365 * 86_400)]
    )
    assert "unknown policy 'oracle2'" in cli_error(main, [*base, "--policies", "ppo,oracle2"])
    assert "--chips must be an integer >= 2" in cli_error(main, [*base, "--chips", "1"])
    assert not (tmp_path / "t.json").exists()


def test_make_results_renders_the_table_from_the_json(table, tmp_path, monkeypatch):
    _, data, out = table
    folder = tmp_path / "results" / "digits"
    folder.mkdir(parents=True)
    shutil.copy(out, folder / "field-table.json")
    monkeypatch.setattr(result_tables, "RESULTS", tmp_path / "results")
    name = "field:digits/field-table"
    text = f"<!-- results:{name} -->\nstale\n<!-- /results:{name} -->"
    rendered = result_tables.regenerate(text)
    assert "stale" not in rendered
    lines = rendered.splitlines()
    note = lines[2]
    assert note.startswith(
        "`docs/results/digits/field-table.json`: `python benchmarks/field_table.py"
    )
    assert "training seeds 0, 1 pooled by chip" in note and "test split" in note
    assert "2 held-out chips, 1000-1001" in note
    header = next(line for line in lines if line.startswith("| policy"))
    assert "| energy, 1d | class loss (pp), 1d | group loss (pp), 1d | energy, 30d |" in header
    rows = {line.split(" | ")[0][2:]: line for line in lines if line.startswith("| ")}
    assert rows["all-digital"].startswith("| all-digital | rule | 1.000 | 0.00 | 0.00 | 1.000 |")
    assert {"ppo (2 seeds pooled)", "ppo, seed 0", "ppo, seed 1", "greedy-preview"} <= set(rows)
    analog = data["policies"]["all-analog"]["ages"][0]["energy_ratio"][0]
    assert f"| all-analog | rule | {analog:.3f} |" in rows["all-analog"]
    with pytest.raises(ValueError, match="missing: restore it from git"):
        result_tables.render("field:digits/absent")
