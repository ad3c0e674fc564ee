"""Deep networks: the built-in CIFAR ResNets, the observation's light measurement and the fused
input kernel (same numbers as torch's passes)."""

from __future__ import annotations

import logging

import gymnasium
import numpy as np
import pytest
import torch
from torch import nn

import envs  # noqa: F401 - registers the environments
from envs import curve_cache
from envs.measurement import (
    REFERENCE_CHIP,
    exact_sensitivity,
    probe_images,
    resolve_measurement,
)
from hybrid import fast_analog, fused_unfold
from hybrid.layers import HybridLayer, hybrid_layers
from hybrid.networks import NETWORKS, check_network, load_or_pretrain_resnet
from hybrid.resnet import CifarResNet, ResNetConfig, build_resnet
from hybrid.variation import ChipVariation, TileVariation


def test_resnet20_has_the_literatures_shape() -> None:
    model = build_resnet(ResNetConfig(depth=20, task_classes=(10, 2)))
    layers = hybrid_layers(model)
    assert len(layers) == 23  # 19 convolutions + 2 projection shortcuts + 2 heads
    weights = sum(p.numel() for p in CifarResNet(ResNetConfig()).parameters())
    assert 0.26e6 < weights < 0.28e6
    outputs = model(torch.zeros(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outputs] == [(2, 10), (2, 2)]
    assert len(hybrid_layers(build_resnet(ResNetConfig(depth=32)))) == 35


def test_bad_resnet_depth_and_network_names_are_one_line_errors() -> None:
    with pytest.raises(ValueError, match="6n \\+ 2"):
        ResNetConfig(depth=21)
    with pytest.raises(ValueError, match="built-in networks: paper, resnet20, resnet32"):
        check_network("resnet18")
    assert NETWORKS == ("paper", "resnet20", "resnet32")


def test_shipped_resnet20_loads_without_training(tmp_path) -> None:
    pretrained = load_or_pretrain_resnet("resnet20", "digits32", cache_dir=tmp_path)
    assert pretrained.path.parent == tmp_path  # copied from the package into the cache
    assert pretrained.metrics["val_class_accuracy"] > 0.98
    assert pretrained.metrics["val_group_accuracy"] > 0.98
    model = pretrained.instantiate("paper-pcm")
    assert all(isinstance(layer, HybridLayer) for _, layer in hybrid_layers(model))


def test_network_and_own_model_together_is_an_error() -> None:
    with pytest.raises(ValueError, match="either network='resnet20' or your own model"):
        gymnasium.make("HybridPartition-v0", network="resnet20", model=nn.Linear(2, 2))
    with pytest.raises(ValueError, match="network='resnet99' must be a built-in network"):
        gymnasium.make("HybridPartition-v0", network="resnet99")


def test_auto_measurement_is_full_for_small_networks_and_light_for_deep_ones() -> None:
    assert resolve_measurement("auto", 6) == "full"
    assert resolve_measurement("auto", 23) == "light"
    assert resolve_measurement("full", 23) == "full"
    with pytest.raises(ValueError, match="measurement must be one of auto, full, light"):
        resolve_measurement("fast", 6)
    # 16 channels of 32x32: 4 images give 65,536 output values; a 10-class head takes all 64
    assert probe_images(16 * 32 * 32, 64) == 4
    assert probe_images(10, 64) == 64


@pytest.fixture(scope="module")
def light_env(tmp_path_factory):
    env = gymnasium.make(
        "HybridPartition-v0",
        scenario="strong-drift",
        measurement="light",
        cache_dir=tmp_path_factory.mktemp("light"),  # measured here, never read from a cache
    )
    yield env.unwrapped
    env.close()


def test_light_sensitivity_passes_through_its_measured_points(light_env) -> None:
    env = light_env
    meter = env.meter
    assert meter.measurement == "light"
    env.reset(seed=0)
    for index in (0, 2, env.n_layers - 1):
        for age_s in meter._curves.reference_ages_s:
            state = (REFERENCE_CHIP, age_s)
            noise = meter.noise(index, state)
            exact = exact_sensitivity(env.deployment, index, state)
            # the curve is made non-decreasing: at its points it is at least the measurement
            assert meter.sensitivity(index, state, noise) >= exact - 1e-12
    observation, _, _, _, _ = env.step(np.ones(env.n_layers, dtype=int))
    view = env.observation_layout.view(observation)
    assert np.all(np.isfinite(view["sensitivity"])) and np.all(view["sensitivity"] >= 0)


def test_light_noise_is_the_noise_on_fewer_images(light_env) -> None:
    evaluator = light_env.evaluator
    state = (7, 3600.0)
    whole = evaluator.layer_noise(1, state)
    few = evaluator.layer_noise(1, state, images=evaluator.probe_size // 2)
    assert few > 0 and whole > 0 and abs(few - whole) / whole < 0.5
    assert evaluator.layer_noise(1, state, images=evaluator.probe_size) == whole


def _small_light_env(cache_dir, **options):
    """The paper's network measured ``"light"`` on few images: the curves in a second."""
    return gymnasium.make(
        "HybridPartition-v0",
        measurement="light",
        cache_dir=cache_dir,
        eval_size=64,
        calibration_size=32,
        **options,
    ).unwrapped


def _first_observation(env) -> np.ndarray:
    env.reset(seed=0)
    actions = np.ones(env.n_layers, dtype=int)
    actions[::2] = 0
    return env.step(actions)[0]


def _assert_same_curves(a, b) -> None:
    assert len(a) == len(b)
    for (xs_a, ys_a), (xs_b, ys_b) in zip(a, b, strict=True):
        assert xs_a.dtype == xs_b.dtype == np.float64
        assert np.array_equal(xs_a, xs_b) and np.array_equal(ys_a, ys_b)


def test_light_curves_measured_once_are_read_back_as_the_same_floats(tmp_path, monkeypatch) -> None:
    measured = _small_light_env(tmp_path)
    measured_observation = _first_observation(measured)
    assert measured.meter._curves.loaded_from is None
    (cached,) = tmp_path.glob(f"*{curve_cache.SUFFIX}")

    loaded = _small_light_env(tmp_path)  # a new deployment, as in another process
    assert loaded.deployment is not measured.deployment
    loaded_observation = _first_observation(loaded)
    assert loaded.meter._curves.loaded_from == cached
    _assert_same_curves(loaded.meter._curves.curves(), measured.meter._curves.curves())
    assert np.array_equal(loaded_observation, measured_observation)

    monkeypatch.setenv(curve_cache.CURVE_CACHE_ENV, "0")  # measured again, nothing read
    uncached = _small_light_env(tmp_path)
    assert np.array_equal(_first_observation(uncached), measured_observation)
    assert uncached.meter._curves.loaded_from is None
    _assert_same_curves(uncached.meter._curves.curves(), measured.meter._curves.curves())
    assert list(tmp_path.glob(f"*{curve_cache.SUFFIX}")) == [cached]


def test_light_curves_of_other_settings_weights_code_or_chips_are_not_reused(
    tmp_path, monkeypatch
) -> None:
    first = _small_light_env(tmp_path)
    first.meter._curves.curves()
    drifting = _small_light_env(tmp_path, drift_scale=2.0)
    drifting.meter._curves.curves()
    assert drifting.meter._curves.loaded_from is None
    assert len(list(tmp_path.glob(f"*{curve_cache.SUFFIX}"))) == 2

    deployment = first.deployment
    settings = {"format": 1}
    key = curve_cache.curves_key(deployment, settings)
    drift = curve_cache.curves_key(drifting.deployment, settings)["config"]["hardware"]
    assert drift["drift_scale"] == 2 * key["config"]["hardware"]["drift_scale"]
    layer = deployment.evaluator.layers[0]
    with torch.no_grad():
        layer.digital.weight[0].add_(1e-6)
    other_weights = curve_cache.curves_key(deployment, settings)
    with torch.no_grad():
        layer.digital.weight[0].sub_(1e-6)
    assert other_weights["model"]["weights"] != key["model"]["weights"]
    assert curve_cache.curves_file(deployment, other_weights) != curve_cache.curves_file(
        deployment, key
    )
    assert curve_cache.curves_key(deployment, {"format": 2}) != key
    with monkeypatch.context() as patch:  # another checkout's simulation code
        patch.setattr(curve_cache, "_source_digest", lambda: "0" * 16)
        assert curve_cache.curves_key(deployment, settings) != key

    evaluator = deployment.evaluator
    varied = ChipVariation(drift_sigma=0.2)
    evaluator.tile_variation = TileVariation(varied, deployment.hardware, deployment.n_layers)
    assert curve_cache.curves_key(deployment, settings)["chip_variation"]["variation"] == (
        varied.to_dict()
    )
    evaluator.tile_variation = lambda layer, index, programming_id: None  # not described
    assert curve_cache.curves_key(deployment, settings) is None
    evaluator.tile_variation = None
    assert curve_cache.curves_key(deployment, settings) == key


def test_light_curves_of_a_users_model_are_keyed_by_its_source(
    tmp_path, digits_pretrained, monkeypatch
) -> None:
    """A user's model is cached by its weights and the files defining its module classes;
    one whose classes have no source file is measured, never cached."""
    env = _small_light_env(tmp_path, model=digits_pretrained.instantiate())
    measured = env.meter._curves.curves()
    (cached,) = tmp_path.glob(f"*{curve_cache.SUFFIX}")
    again = _small_light_env(tmp_path, model=digits_pretrained.instantiate())
    _assert_same_curves(again.meter._curves.curves(), measured)
    assert again.meter._curves.loaded_from == cached
    settings = {"format": 1}
    key = curve_cache.curves_key(again.deployment, settings)
    assert key["model"]["source"] is not None
    monkeypatch.setattr(curve_cache.inspect, "getsourcefile", lambda cls: None)
    assert curve_cache.curves_key(again.deployment, settings) is None
    cached.unlink()
    unsourced = _small_light_env(tmp_path, model=digits_pretrained.instantiate())
    _assert_same_curves(unsourced.meter._curves.curves(), measured)
    assert unsourced.meter._curves.loaded_from is None
    assert not list(tmp_path.glob(f"*{curve_cache.SUFFIX}"))


def test_unreadable_light_curves_are_measured_again_and_rewritten(tmp_path, caplog) -> None:
    measured = _small_light_env(tmp_path).meter._curves.curves()
    (cached,) = tmp_path.glob(f"*{curve_cache.SUFFIX}")
    whole = cached.read_bytes()
    for broken in (b"\x00not a torch file\xff" * 20, whole[: len(whole) // 2]):
        cached.write_bytes(broken)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="envs.curve_cache"):
            again = _small_light_env(tmp_path)
            curves = again.meter._curves.curves()
        assert again.meter._curves.loaded_from is None
        _assert_same_curves(curves, measured)
        (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert str(cached) in warning and "\n" not in warning
        assert cached.read_bytes() != broken  # rewritten whole
    reread = _small_light_env(tmp_path)
    _assert_same_curves(reread.meter._curves.curves(), measured)
    assert reread.meter._curves.loaded_from == cached


RESNET_CONVS = {
    "stage-conv": (nn.Conv2d(16, 16, 3, padding=1, bias=False), (5, 16, 32, 32)),
    "downsample": (nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False), (3, 16, 32, 32)),
    "shortcut-1x1": (nn.Conv2d(32, 64, 1, stride=2, bias=False), (3, 32, 16, 16)),
    "split-tiles": (nn.Conv2d(64, 64, 3, padding=1, bias=False), (2, 64, 8, 8)),  # 576 rows
}


@pytest.mark.skipif(not fused_unfold.available(), reason="no C++ compiler for the kernel")
@pytest.mark.parametrize("kind", sorted(RESNET_CONVS))
@pytest.mark.parametrize("preset", ["paper-pcm", "ideal"])
def test_fused_kernel_prepares_the_same_rows_as_torchs_passes(kind, preset, monkeypatch) -> None:
    conv, shape = RESNET_CONVS[kind]
    torch.manual_seed(3)
    layer = HybridLayer(conv, preset)
    layer.set_analog(True)
    module = layer.analog.eval()
    x = torch.relu(torch.randn(shape))
    fused = fast_analog.prepare_input(module, x)
    monkeypatch.setattr(fused_unfold, "available", lambda: False)
    reference = fast_analog.prepare_input(module, x)
    assert len(fused.splits) == len(reference.splits)
    for a, b in zip(fused.splits, reference.splits, strict=True):
        assert torch.equal(a.quantised, b.quantised)
        assert (a.abs_max is None) == (b.abs_max is None)
        if a.abs_max is not None:
            assert torch.equal(a.abs_max, b.abs_max)


def test_rules_tuned_on_the_paper_network_are_refused_on_another() -> None:
    from agents.run_folder import check_rules_tuned

    resnet = {"dataset": "digits32", "network": "resnet20"}
    command = "tune_heuristics.py --dataset digits32 --network resnet20"
    with pytest.raises(ValueError, match=command):
        check_rules_tuned(["all-digital", "greedy"], {}, resnet, None)
    check_rules_tuned(["all-digital", "greedy-preview"], {}, resnet, None)  # nothing to tune
    check_rules_tuned(["greedy"], {"greedy": {"error_per_nat": 0.1}}, resnet, None)
    check_rules_tuned(["greedy"], {}, {"dataset": "digits"}, None)  # the paper's network
    with pytest.raises(ValueError, match="tuned on resnet32, not on resnet20"):
        check_rules_tuned(["greedy"], {"greedy": {}}, resnet, None, {"network": "resnet32"})


def test_greedy_at_an_infinite_rate_is_all_digital(light_env) -> None:
    from agents import make_policy, run_episode

    greedy = make_policy("greedy", light_env, error_per_nat=float("inf"))
    record = run_episode(light_env, greedy, 0)
    assert record.mean_energy_ratio == pytest.approx(1.0)
