"""Chips that differ: each chip's process variation is drawn from its number, reaches its own
tiles only, and changes what the chip does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import envs
from envs import HybridPartitionEnv
from envs.chips import programming_chip
from hybrid.pretrain import CACHE_DIR_ENV
from hybrid.variation import (
    ChipVariation,
    StuckDevicesPCMNoiseModel,
    physical_chip,
)


def test_a_chip_draw_is_a_pure_function_of_its_number():
    variation = envs.SCENARIOS["varied-chips"].chip_variation
    assert variation.draw(7, 6) == variation.draw(7, 6)
    assert variation.draw(7, 6) != variation.draw(8, 6)
    drifts = [variation.draw(chip, 6).drift for chip in range(200)]
    assert 0.8 < np.median(drifts) < 1.25  # the preset is the typical chip
    assert np.std(np.log(drifts)) == pytest.approx(0.7, rel=0.2)
    plain = ChipVariation().draw(3, 6)
    assert (plain.prog_noise, plain.drift, plain.read_noise, plain.stuck_share) == (1, 1, 1, 0)
    weak = envs.SCENARIOS["weak-tile"].chip_variation.draw(3, 6)
    assert weak.drift_of(weak.weak_layer) == pytest.approx(3 * weak.drift)
    with pytest.raises(ValueError, match="stuck_share_max must be in"):
        ChipVariation(stuck_share_max=2.0)


def test_a_reprogrammed_tile_stays_on_its_chip_where_chips_differ():
    assert programming_chip(1003, 0, 1000, 8) == 1003
    assert programming_chip(1003, 6, 1000, 8) == 1001  # the pool's draws, cyclically
    varied = programming_chip(1003, 6, 1000, 8, varied=True)
    assert varied != programming_chip(1004, 6, 1000, 8, varied=True)
    assert physical_chip(varied) == 1003


def test_stuck_devices_rest_at_zero_conductance_on_every_programming():
    def programmed():
        model = StuckDevicesPCMNoiseModel(prog_noise_scale=0.0)
        model.stuck_share, model.stuck_seed = 0.3, 11
        return model.apply_programming_noise_to_conductance(torch.full((100, 100), 10.0))

    first = programmed()
    assert (first == 0).float().mean().item() == pytest.approx(0.3, abs=0.03)
    assert torch.equal(first, programmed())


@pytest.fixture(scope="module")
def varied_env(cache_dir: Path) -> HybridPartitionEnv:
    return HybridPartitionEnv(
        scenario="varied-chips", timeline={"n_steps": 4}, cache_dir=cache_dir, chip_pool=4
    )


def accuracies(env: HybridPartitionEnv, chip: int) -> list[float]:
    env.reset(seed=0, options={"chip": chip})
    return [env.step(np.ones(env.n_layers, int))[-1]["accuracies"][0] for _ in range(4)]


def test_chips_with_their_own_variation_behave_differently_and_reproducibly(varied_env, cache_dir):
    first = accuracies(varied_env, 0)
    other = accuracies(varied_env, 2)
    assert first != other
    # Chip 2's tiles did not leak into chip 0's (the caches key on the chip), and a fresh
    # environment draws the same chip again.
    assert accuracies(varied_env, 0) == first
    fresh = HybridPartitionEnv(
        scenario="varied-chips", timeline={"n_steps": 4}, cache_dir=cache_dir, chip_pool=4
    )
    assert accuracies(fresh, 2) == other
    # The tiles carry their chip's multipliers.
    draw = varied_env.evaluator.tile_variation.chip_draw(2)
    tile = next(iter(varied_env.evaluator.layers[2].analog.analog_tiles()))
    hardware = varied_env.hardware
    assert tile.rpu_config.noise_model.drift_scale == pytest.approx(
        hardware.drift_scale * draw.drift_of(2)
    )
    assert tile.rpu_config.noise_model.prog_noise_scale == pytest.approx(
        hardware.prog_noise_scale * draw.prog_noise
    )


def test_chip_placements_figure_shows_two_chips_and_the_schedule(
    tmp_path, cache_dir, capsys, monkeypatch, script_module
):
    monkeypatch.setenv(CACHE_DIR_ENV, str(cache_dir))
    params = tmp_path / "heuristics.json"
    params.write_text(json.dumps({"params": {"schedule": {"analog_steps": {"fc1": 5}}}}))
    out = tmp_path / "chips.png"
    main = script_module("benchmarks/chip_placements").main
    argv = ["--policy", "saving-vs-noise", "--candidates", "3", "--heuristic-params", str(params)]
    assert main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert out.stat().st_size > 0
    # The mildest and the harshest of the three candidates, chosen from their draws alone.
    assert printed.count("saving-vs-noise on chip 10") == 2
    assert "schedule on chip 10" in printed
