"""The hybrid model: switchable layers, the MTL network, hardware presets, drift, pretraining
and its cache, and the cached evaluator."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from aihwkit.optim import AnalogSGD
from torch import nn

import hybrid.pretrain as pretrain_module
from hybrid.data import DatasetBundle, load_dataset
from hybrid.hardware import HARDWARE_PRESETS, HardwareConfig, get_hardware
from hybrid.layers import HybridLayer, hybrid_layers, iter_placement, make_hybrid, set_placement
from hybrid.models import MTLNet, build_model, layer_specs
from hybrid.pretrain import (
    PretrainConfig,
    PretrainedModel,
    accuracy,
    accuracy_report,
    load_or_pretrain,
    pretrain,
    save_cache,
    task_targets,
)
from hybrid.simulator import CachedEvaluator

ONE_SECOND = 1.0
ONE_YEAR_S = 3.15e7
DIGITS_SHAPE = (1, 8, 8)


@pytest.fixture(scope="module")
def digits_bundle() -> DatasetBundle:
    """The digits dataset, for tests that train their own small models."""
    return load_dataset("digits")


def fresh_copy(pretrained: PretrainedModel, hardware: str | HardwareConfig | None) -> MTLNet:
    """A new network with the pretrained weights whose analog tiles use ``hardware``; only the
    digital weights are copied, so the shared session model is never changed."""
    model = build_model(pretrained.dataset.input_shape, hardware, pretrained.model.config)
    with torch.no_grad():
        pairs = zip(hybrid_layers(pretrained.model), hybrid_layers(model), strict=True)
        for (_, source), (_, target) in pairs:
            target.digital.load_state_dict(source.digital.state_dict())
    return model.eval()


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return float((actual - expected).norm() / expected.norm())


def layer_and_input(kind: str) -> tuple[nn.Module, torch.Tensor]:
    """A small torch layer of ``kind`` and a matching random input."""
    if kind == "linear":
        return nn.Linear(20, 7), torch.randn(5, 20)
    if kind == "linear-no-bias":
        return nn.Linear(20, 7, bias=False), torch.randn(5, 20)
    if kind == "conv":
        return nn.Conv2d(3, 5, 3), torch.randn(2, 3, 8, 8)
    if kind == "conv-strided-no-bias":
        return nn.Conv2d(3, 6, 3, stride=2, padding=1, bias=False), torch.randn(2, 3, 8, 8)
    raise ValueError(kind)


LAYER_KINDS = ("linear", "linear-no-bias", "conv", "conv-strided-no-bias")


# --- HybridLayer ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", LAYER_KINDS)
def test_ideal_analog_tile_computes_the_digital_function(kind: str) -> None:
    torch.manual_seed(0)
    digital, x = layer_and_input(kind)
    expected = digital(x).detach()
    layer = HybridLayer(digital, "ideal")
    assert layer.substrate == "digital"
    assert torch.equal(layer(x), expected)

    layer.set_analog(True)
    assert layer.substrate == "analog" and layer.is_analog
    with torch.no_grad():
        analog = layer(x)
    assert analog.shape == expected.shape
    assert relative_error(analog, expected) < 1e-3


def test_non_ideal_analog_tile_is_noisy_but_close() -> None:
    torch.manual_seed(0)
    digital, x = layer_and_input("linear")
    expected = digital(x).detach()
    layer = HybridLayer(digital, "paper-pcm")
    layer.set_analog(True)
    with torch.no_grad():
        error = relative_error(layer(x), expected)
    assert 1e-3 < error < 0.5


def test_hybrid_layer_rejects_other_modules() -> None:
    with pytest.raises(TypeError, match="Conv2d or nn.Linear"):
        HybridLayer(nn.ReLU())  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_digital_weight_changes_reach_the_analog_tile(kind: str) -> None:
    torch.manual_seed(0)
    digital, x = layer_and_input(kind)
    layer = HybridLayer(digital, "ideal")
    layer.set_analog(True)  # programmed with the original weights
    with torch.no_grad():
        before = layer(x)
    layer.set_analog(False)

    with torch.no_grad():  # an in-place edit, as an optimiser makes
        layer.digital.weight.mul_(2.0)
        layer.digital.bias.add_(0.5)
    expected = layer(x).detach()
    layer.set_analog(True)
    with torch.no_grad():
        after = layer(x)
    assert relative_error(after, expected) < 1e-3
    assert relative_error(after, before) > 0.1

    # An optimiser step on the digital weights is picked up the same way.
    layer.set_analog(False)
    optimizer = torch.optim.SGD(layer.digital.parameters(), lr=0.5)
    layer(x).pow(2).mean().backward()
    optimizer.step()
    expected = layer(x).detach()
    layer.set_analog(True)
    with torch.no_grad():
        assert relative_error(layer(x), expected) < 1e-3


def test_switching_without_changes_keeps_digital_weights_exact() -> None:
    """Round trips through a noisy, drifted tile never leak noise into the digital weights."""
    torch.manual_seed(0)
    digital, _ = layer_and_input("linear")
    weight, bias = digital.weight.detach().clone(), digital.bias.detach().clone()
    layer = HybridLayer(digital, "pcm-strong-drift")
    for _ in range(3):
        layer.set_analog(True)
        layer.drift_to(ONE_YEAR_S)
        layer.set_analog(False)
    assert torch.equal(layer.digital.weight, weight)
    assert torch.equal(layer.digital.bias, bias)


@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_analog_set_weights_reach_the_digital_layer(kind: str) -> None:
    torch.manual_seed(0)
    digital, x = layer_and_input(kind)
    layer = HybridLayer(digital, "ideal")
    layer.set_analog(True)
    new_weight = torch.randn_like(layer.digital.weight) * 0.3
    new_bias = torch.randn_like(layer.digital.bias) * 0.1
    layer.analog.set_weights(new_weight, new_bias)

    layer.set_analog(False)
    torch.testing.assert_close(layer.digital.weight, new_weight, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(layer.digital.bias, new_bias, rtol=1e-5, atol=1e-6)

    expected = layer(x).detach()
    layer.set_analog(True)  # programmed afresh: still the new weights
    with torch.no_grad():
        assert relative_error(layer(x), expected) < 1e-3


@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_analog_training_survives_a_round_trip(kind: str) -> None:
    """An AnalogSGD step on the tile is read back to digital, and programming the tile again
    (analog -> digital -> analog) keeps the trained weights rather than the pre-step ones."""
    torch.manual_seed(0)
    digital, x = layer_and_input(kind)
    layer = HybridLayer(digital, "ideal")
    layer.set_analog(True)
    with torch.no_grad():
        before = layer(x)
    optimizer = AnalogSGD(layer.analog.parameters(), lr=0.5)
    optimizer.regroup_param_groups(layer.analog)
    layer(x).pow(2).mean().backward()
    optimizer.step()
    with torch.no_grad():
        trained = layer(x)
    assert relative_error(trained, before) > 0.1

    layer.set_analog(False)
    with torch.no_grad():
        assert relative_error(layer(x), trained) < 1e-3
    layer.set_analog(True)
    with torch.no_grad():
        assert relative_error(layer(x), trained) < 1e-3
    layer.program()
    with torch.no_grad():
        assert relative_error(layer(x), trained) < 1e-3


def test_negative_drift_age_is_an_error() -> None:
    layer = HybridLayer(nn.Linear(4, 3), "ideal")
    with pytest.raises(ValueError, match="drift age"):
        layer.drift_to(-1.0)


def test_drift_degrades_an_uncompensated_layer() -> None:
    torch.manual_seed(0)
    digital, x = nn.Linear(64, 32), torch.rand(16, 64)
    expected = digital(x).detach()
    layer = HybridLayer(digital, "pcm-no-compensation")
    layer.set_analog(True)
    errors = {}
    for age_s in (ONE_SECOND, ONE_YEAR_S):
        layer.drift_to(age_s)
        assert layer.drift_age_s == age_s
        with torch.no_grad():
            errors[age_s] = relative_error(layer(x), expected)
    assert errors[ONE_YEAR_S] > 2 * errors[ONE_SECOND]


# --- make_hybrid and layer_specs --------------------------------------------------------------


class TwoBranchNet(nn.Module):
    """A user's own model: the head is registered first but runs last, and two branches of the
    stem are summed before it."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(8, 3)
        self.stem = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten())
        self.branch_a = nn.Linear(2 * 6 * 6, 8)
        self.branch_b = nn.Linear(2 * 6 * 6, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.stem(x)
        return self.head(torch.relu(self.branch_a(features) + self.branch_b(features)))


def small_sequential() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10), nn.ReLU(),
        nn.Linear(10, 3),
    )  # fmt: skip


@pytest.mark.parametrize("factory", [small_sequential, TwoBranchNet], ids=["sequential", "custom"])
def test_make_hybrid_wraps_every_layer_keeps_outputs_and_is_idempotent(
    factory: type[nn.Module],
) -> None:
    torch.manual_seed(0)
    model = factory()
    n_layers = sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules())
    x = torch.rand(4, *DIGITS_SHAPE)
    expected = model(x).detach()

    assert make_hybrid(model, "paper-pcm") is model
    layers = hybrid_layers(model)
    assert len(layers) == n_layers
    assert all(isinstance(layer.digital, (nn.Conv2d, nn.Linear)) for _, layer in layers)
    hybrid_names = {name for name, _ in layers}
    unwrapped = [
        name
        for name, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear)) and name.rpartition(".")[0] not in hybrid_names
    ]
    assert unwrapped == []
    assert list(iter_placement(model)) == [False] * n_layers
    assert torch.equal(model(x), expected)

    make_hybrid(model, "paper-pcm")
    again = hybrid_layers(model)
    assert [(name, id(layer)) for name, layer in again] == [
        (name, id(layer)) for name, layer in layers
    ]
    assert not any(isinstance(layer.digital, HybridLayer) for _, layer in again)
    assert torch.equal(model(x), expected)


def test_layer_specs_of_the_mtl_network() -> None:
    model = build_model(DIGITS_SHAPE, "paper-pcm")
    specs = layer_specs(model, DIGITS_SHAPE)
    assert [s.name for s in specs] == ["conv1", "conv2", "fc1", "fc2", "fc3", "fc4"]
    assert [s.kind for s in specs] == ["conv", "conv"] + ["linear"] * 4
    assert [(s.rows, s.cols) for s in specs] == [
        (9, 8), (72, 16), (256, 256), (256, 128), (128, 10), (128, 2)
    ]  # fmt: skip
    assert [s.parent for s in specs] == [None, 0, 1, 2, 3, 3]
    fc2 = [s.name for s in specs].index("fc2")
    assert specs[4].parent == specs[5].parent == fc2  # both heads hang off fc2
    assert specs[0].mvms_per_sample == 6 * 6 and specs[1].mvms_per_sample == 4 * 4


def test_layer_specs_of_a_sequential_is_a_chain_and_keeps_placement() -> None:
    model = make_hybrid(small_sequential(), "ideal")
    set_placement(model, [True, False, True])
    specs = layer_specs(model, DIGITS_SHAPE)
    assert [s.name for s in specs] == ["0", "3", "5"]
    assert [s.parent for s in specs] == [None, 0, 1]
    assert [(s.rows, s.cols, s.mvms_per_sample) for s in specs] == [
        (9, 4, 36), (144, 10, 1), (10, 3, 1)
    ]  # fmt: skip
    assert [s.in_activations for s in specs] == [64, 144, 10]
    assert list(iter_placement(model)) == [True, False, True]


def test_layer_specs_follow_execution_order_in_a_custom_module() -> None:
    model = make_hybrid(TwoBranchNet(), "ideal")
    assert [name for name, _ in hybrid_layers(model)][0] == "head"  # registered first
    specs = layer_specs(model, DIGITS_SHAPE)
    assert [s.name for s in specs] == ["stem.0", "branch_a", "branch_b", "head"]
    assert [s.parent for s in specs] == [None, 0, 0, 2]  # the head: the later branch


def test_set_placement_with_wrong_length_is_an_error() -> None:
    model = build_model(DIGITS_SHAPE, "ideal")
    with pytest.raises(ValueError, match="6 hybrid layers"):
        set_placement(model, [True] * 5)


# --- hardware presets -------------------------------------------------------------------------


def test_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown hardware preset") as error:
        get_hardware("pcm-imaginary")
    for name in HARDWARE_PRESETS:
        assert name in str(error.value)


@pytest.mark.parametrize(
    "make",
    [
        lambda: HardwareConfig(drift_scale=-1.0),
        lambda: HardwareConfig(prog_noise_scale=float("nan")),
        lambda: get_hardware({"preset": "paper-pcm", "read_noise_scale": -0.5}),
        lambda: get_hardware("paper-pcm").scaled(noise_scale=-2.0),
        lambda: HardwareConfig(io_bits=3.5),
        lambda: get_hardware({"preset": "paper-pcm", "drift_speed": 2.0}),
    ],
    ids=[
        "negative-drift",
        "nan-noise",
        "dict-negative",
        "scaled-negative",
        "bits",
        "unknown-field",
    ],
)
def test_invalid_hardware_is_a_value_error(make) -> None:
    with pytest.raises(ValueError, match="hardware"):
        make()


def test_preset_with_overrides_from_a_dict() -> None:
    hardware = get_hardware({"preset": "paper-pcm", "drift_scale": 2})
    assert hardware.drift_scale == 2
    assert hardware.drift_compensation is True
    assert hardware.prog_noise_scale == get_hardware("paper-pcm").prog_noise_scale
    config = hardware.rpu_config()
    assert config.noise_model.drift_scale == 2
    assert config.drift_compensation is not None
    assert get_hardware(hardware.to_dict()) == hardware
    assert get_hardware(None) == get_hardware("paper-pcm")


def test_scaled_multiplies_noise_and_drift() -> None:
    base = get_hardware("pcm-strong-drift")
    scaled = base.scaled(noise_scale=1.5, drift_scale=3.0)
    assert (scaled.prog_noise_scale, scaled.read_noise_scale, scaled.drift_scale) == (3.0, 3.0, 6.0)
    assert scaled.drift_compensation is False and scaled.out_noise == base.out_noise
    assert base.drift_scale == 2.0  # the preset itself is untouched
    assert HARDWARE_PRESETS["pcm-strong-drift"] == base


def test_presets_turn_compensation_and_noise_on_and_off() -> None:
    assert get_hardware("paper-pcm").rpu_config().drift_compensation is not None
    assert get_hardware("pcm-no-compensation").rpu_config().drift_compensation is None
    ideal = get_hardware("ideal").rpu_config()
    assert ideal.forward.is_perfect and ideal.drift_compensation is None
    assert get_hardware("paper-pcm").rpu_config(training=True).modifier.std_dev == 0.07


# --- pretraining and drift ----------------------------------------------------------------------


def test_pretrained_digits_model_is_accurate_on_both_tasks(
    digits_pretrained: PretrainedModel,
) -> None:
    model = digits_pretrained.model
    assert isinstance(model, MTLNet) and not model.training
    assert list(iter_placement(model)) == [False] * 6
    class_accuracy, group_accuracy = accuracy(model, digits_pretrained.dataset.test)
    assert class_accuracy >= 0.93
    assert group_accuracy >= 0.95
    assert digits_pretrained.metrics["val_class_accuracy"] >= 0.9
    assert digits_pretrained.path.is_file()


def _row(rows: list[dict], placement: str, age_s: float = 0.0) -> dict:
    (row,) = [r for r in rows if r["placement"] == placement and r["age_s"] == age_s]
    return row


@pytest.mark.parametrize("hardware", ["pcm-strong-drift", "pcm-no-compensation"])
def test_uncompensated_drift_costs_accuracy_after_a_year(
    digits_pretrained: PretrainedModel, hardware: str
) -> None:
    rows = accuracy_report(digits_pretrained, hardware, ages_s=(ONE_SECOND, ONE_YEAR_S), repeats=2)
    fresh, aged = _row(rows, "all analog", ONE_SECOND), _row(rows, "all analog", ONE_YEAR_S)
    assert aged["class_accuracy"] < fresh["class_accuracy"] - 0.05
    assert aged["group_accuracy"] < fresh["group_accuracy"]
    digital = _row(rows, "all digital")
    assert fresh["class_accuracy"] > digital["class_accuracy"] - 0.03


def test_compensated_drift_keeps_accuracy_after_a_year(
    digits_pretrained: PretrainedModel,
) -> None:
    rows = accuracy_report(digits_pretrained, "paper-pcm", ages_s=(ONE_YEAR_S,), repeats=2)
    digital, aged = _row(rows, "all digital"), _row(rows, "all analog", ONE_YEAR_S)
    for task in ("class_accuracy", "group_accuracy"):
        assert aged[task] >= digital[task] - 0.03
    # The report's digital row is the plain model's test accuracy.
    expected = accuracy(digits_pretrained.model, digits_pretrained.dataset.test)
    assert (digital["class_accuracy"], digital["group_accuracy"]) == pytest.approx(expected)


def _weights_of(model: nn.Module) -> dict[str, torch.Tensor]:
    return {
        f"{name}.{key}": value.clone()
        for name, layer in hybrid_layers(model)
        for key, value in layer.digital.state_dict().items()
    }


def _assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    weights_a, weights_b = _weights_of(a), _weights_of(b)
    assert weights_a.keys() == weights_b.keys()
    for key in weights_a:
        assert torch.equal(weights_a[key], weights_b[key]), key


QUICK = PretrainConfig(epochs=2)
QUICK_OTHER = PretrainConfig(epochs=2, seed=1)


def _refuse_to_train(*args, **kwargs):
    raise AssertionError("load_or_pretrain retrained although a valid cache file exists")


def test_default_digits_network_ships_with_the_package_and_is_copied_not_retrained(
    tmp_path: Path, digits_bundle: DatasetBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pretraining differs across CPUs in the last bits; the shipped file makes every machine's
    # default network the same. It is copied into the cache, never trained or written in place.
    monkeypatch.setattr(pretrain_module, "pretrain", _refuse_to_train)
    loaded = load_or_pretrain(digits_bundle, cache_dir=tmp_path, progress=False)
    bundled = pretrain_module.BUNDLED_DIR / loaded.path.name
    assert loaded.path.parent == tmp_path and bundled.is_file()
    assert loaded.path.read_bytes() == bundled.read_bytes()
    assert loaded.metrics["val_class_accuracy"] == pytest.approx(0.9694, abs=1e-4)


def test_second_load_comes_from_the_cache(
    tmp_path: Path, digits_bundle: DatasetBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load_or_pretrain(digits_bundle, QUICK, cache_dir=tmp_path, progress=False)
    assert first.path.parent == tmp_path and first.path.is_file()
    assert [p.name for p in tmp_path.iterdir()] == [first.path.name]  # no temporary file left

    monkeypatch.setattr(pretrain_module, "pretrain", _refuse_to_train)
    second = load_or_pretrain(digits_bundle, QUICK, cache_dir=tmp_path, progress=False)
    assert second.path == first.path
    assert second.key == first.key
    assert second.metrics == first.metrics
    _assert_same_weights(second.model, first.model)
    assert not second.model.training


def test_corrupt_cache_file_is_rebuilt_with_a_warning(
    tmp_path: Path, digits_bundle: DatasetBundle, caplog: pytest.LogCaptureFixture
) -> None:
    good = load_or_pretrain(digits_bundle, QUICK, cache_dir=tmp_path, progress=False)
    good.path.write_bytes(b"\x00not a torch file\xff" * 20)

    calls = []
    real_pretrain = pretrain_module.pretrain

    def counting_pretrain(*args, **kwargs):
        calls.append(1)
        return real_pretrain(*args, **kwargs)

    with (
        caplog.at_level(logging.WARNING, logger="hybrid.pretrain"),
        pytest.MonkeyPatch.context() as mp,
    ):
        mp.setattr(pretrain_module, "pretrain", counting_pretrain)
        rebuilt = load_or_pretrain(digits_bundle, QUICK, cache_dir=tmp_path, progress=False)
    assert calls == [1]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(good.path) in warnings[0].getMessage()
    assert "\n" not in warnings[0].getMessage()
    assert rebuilt.path == good.path
    _assert_same_weights(rebuilt.model, good.model)  # seeded training: the same model again
    # ... and the file on disk is valid again.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pretrain_module, "pretrain", _refuse_to_train)
        load_or_pretrain(digits_bundle, QUICK, cache_dir=tmp_path, progress=False)


def test_cache_saves_never_share_a_temporary_file_and_a_failed_one_leaves_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, written, real_save = tmp_path / "x.pt", [], torch.save

    def recording_save(payload, target):
        written.append(Path(target))
        real_save(payload, target)

    monkeypatch.setattr(pretrain_module.torch, "save", recording_save)
    save_cache(path, {"a": 1})
    save_cache(path, {"a": 2})  # processes saving at once would each write their own file
    assert written[0] != written[1] and {p.parent for p in written} == {tmp_path}

    def failing_save(payload, target):
        Path(target).write_bytes(b"half a file")
        raise OSError("no space left on device")

    monkeypatch.setattr(pretrain_module.torch, "save", failing_save)
    with pytest.raises(OSError, match="no space"):
        save_cache(path, {"a": 3})
    assert [p.name for p in tmp_path.iterdir()] == ["x.pt"]
    assert torch.load(path, weights_only=True) == {"a": 2}


def test_cache_file_written_for_another_key_is_rebuilt(
    tmp_path: Path, digits_bundle: DatasetBundle, caplog: pytest.LogCaptureFixture
) -> None:
    other = load_or_pretrain(digits_bundle, QUICK_OTHER, cache_dir=tmp_path / "a", progress=False)
    wanted = load_or_pretrain(digits_bundle, QUICK, cache_dir=tmp_path / "b", progress=False)
    assert other.path.name != wanted.path.name
    # Put the other model's file where the wanted model's cache file belongs.
    target = tmp_path / "c" / wanted.path.name
    target.parent.mkdir()
    target.write_bytes(other.path.read_bytes())

    with caplog.at_level(logging.WARNING, logger="hybrid.pretrain"):
        loaded = load_or_pretrain(digits_bundle, QUICK, cache_dir=target.parent, progress=False)
    assert any(
        "another" in r.getMessage() and str(target) in r.getMessage() for r in caplog.records
    )
    assert loaded.key == wanted.key != other.key
    _assert_same_weights(loaded.model, wanted.model)
    assert any(
        not torch.equal(a, b)
        for a, b in zip(
            _weights_of(loaded.model).values(), _weights_of(other.model).values(), strict=True
        )
    )


def test_cache_key_includes_hardware_only_when_training_is_hardware_aware(
    tmp_path: Path, digits_bundle: DatasetBundle
) -> None:
    def cache_file(hardware_aware: bool, hardware: str) -> str:
        config = PretrainConfig(epochs=1, hardware_aware=hardware_aware)
        folder = tmp_path / f"{hardware_aware}-{hardware}"
        loaded = load_or_pretrain(digits_bundle, config, hardware, cache_dir=folder, progress=False)
        return loaded.path.name

    assert cache_file(False, "paper-pcm") == cache_file(False, "pcm-strong-drift")
    assert cache_file(True, "paper-pcm") != cache_file(True, "pcm-strong-drift")


def test_hardware_aware_pretraining_gives_a_usable_digital_model(
    digits_bundle: DatasetBundle,
) -> None:
    # AnalogSGD at the default rate needs ~20 epochs to leave chance level on digits (as plain
    # SGD does); a higher rate keeps this check to three quick epochs.
    config = PretrainConfig(epochs=3, hardware_aware=True, learning_rate=0.02)
    rng_state = torch.get_rng_state()
    model, metrics = pretrain(digits_bundle, config, "paper-pcm", progress=False)
    torch.set_rng_state(rng_state)  # pretrain seeds the global generator

    assert isinstance(model, MTLNet) and not model.training
    assert list(iter_placement(model)) == [False] * 6
    for name, value in _weights_of(model).items():
        assert torch.isfinite(value).all(), name
    class_accuracy, group_accuracy = accuracy(model, digits_bundle.test)
    assert class_accuracy > 0.3  # chance: 0.1
    # The weights read back from the tiles give the digital model the accuracy measured on
    # the analog tiles during training.
    val_class, _ = accuracy(model, digits_bundle.val)
    assert val_class == pytest.approx(metrics["val_class_accuracy"], abs=0.05)
    assert metrics["epoch"] >= 1


# --- CachedEvaluator ------------------------------------------------------------------------


EVAL_SIZE = 200
ALL_ANALOG_1S = [(0, ONE_SECOND)] * 6
ALL_ANALOG_1Y = [(0, ONE_YEAR_S)] * 6
MIXED = [None, (1, 3600.0), (0, ONE_YEAR_S), None, (2, 86400.0), (0, ONE_SECOND)]


def make_evaluator(
    pretrained: PretrainedModel, hardware: str = "pcm-no-compensation", seed: int = 0
) -> CachedEvaluator:
    model = fresh_copy(pretrained, hardware)
    split = pretrained.dataset.test.subset(EVAL_SIZE)
    names = [spec.name for spec in layer_specs(model, pretrained.dataset.input_shape)]
    return CachedEvaluator(model, split.images, task_targets(split), seed=seed, layer_names=names)


def _same(a, b) -> bool:
    return (
        np.array_equal(a.losses, b.losses)
        and np.array_equal(a.accuracies, b.accuracies)
        and all(np.array_equal(x, y) for x, y in zip(a.correct, b.correct, strict=True))
    )


def test_evaluation_is_a_pure_function_of_the_states(digits_pretrained: PretrainedModel) -> None:
    first = make_evaluator(digits_pretrained)
    a1 = first.evaluate(MIXED)
    b1 = first.evaluate(ALL_ANALOG_1Y)
    a2 = first.evaluate(list(MIXED))
    assert _same(a1, a2)

    second = make_evaluator(digits_pretrained)  # fresh caches, visited in another order
    b2 = second.evaluate(ALL_ANALOG_1Y)
    a3 = second.evaluate(MIXED)
    assert _same(a1, a3)
    assert _same(b1, b2)
    assert a1.losses.shape == (2,) and a1.correct[0].shape == (EVAL_SIZE,)
    assert a1.accuracies[0] == pytest.approx(a1.correct[0].mean())


def test_a_different_seed_is_a_different_chip(digits_pretrained: PretrainedModel) -> None:
    chip_0 = make_evaluator(digits_pretrained, seed=0)
    chip_1 = make_evaluator(digits_pretrained, seed=1)
    assert not np.array_equal(
        chip_0.evaluate(ALL_ANALOG_1Y).losses, chip_1.evaluate(ALL_ANALOG_1Y).losses
    )
    digital = [None] * 6
    assert _same(chip_0.evaluate(digital), chip_1.evaluate(digital))


def test_all_digital_evaluation_equals_plain_accuracy(digits_pretrained: PretrainedModel) -> None:
    evaluator = make_evaluator(digits_pretrained)
    result = evaluator.evaluate([None] * evaluator.n_layers)
    split = digits_pretrained.dataset.test.subset(EVAL_SIZE)
    expected = accuracy(digits_pretrained.model, split)
    assert tuple(result.accuracies) == pytest.approx(expected, abs=1e-6)


def test_layer_noise_is_zero_when_digital_and_grows_with_drift(
    digits_pretrained: PretrainedModel,
) -> None:
    evaluator = make_evaluator(digits_pretrained, "pcm-no-compensation")
    for index in range(evaluator.n_layers):
        assert evaluator.layer_noise(index, None) == 0.0
        noise = [
            evaluator.layer_noise(index, (0, age)) for age in (ONE_SECOND, 86400.0, ONE_YEAR_S)
        ]
        assert 0.0 < noise[0] < noise[1] < noise[2], (evaluator.layer_names[index], noise)
        assert evaluator.layer_noise(index, (0, ONE_YEAR_S)) == noise[2]


def test_wrong_number_of_states_is_an_error(digits_pretrained: PretrainedModel) -> None:
    evaluator = make_evaluator(digits_pretrained)
    with pytest.raises(ValueError, match="expected 6 layer states, got 5"):
        evaluator.evaluate([None] * 5)
    with pytest.raises(ValueError, match="got 7"):
        evaluator.evaluate([None] * 7)


def test_evaluation_leaves_the_global_rng_alone(digits_pretrained: PretrainedModel) -> None:
    evaluator = make_evaluator(digits_pretrained)
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    evaluator.evaluate(ALL_ANALOG_1S)
    evaluator.evaluate(MIXED)
    evaluator.layer_noise(2, (3, 3600.0))
    assert torch.equal(torch.get_rng_state(), before)


def test_evaluator_accuracy_matches_the_uncompensated_drift_trend(
    digits_pretrained: PretrainedModel,
) -> None:
    evaluator = make_evaluator(digits_pretrained, "pcm-strong-drift")
    fresh = evaluator.evaluate(ALL_ANALOG_1S)
    aged = evaluator.evaluate(ALL_ANALOG_1Y)
    assert aged.accuracies[0] < fresh.accuracies[0] - 0.05
    assert aged.losses[0] > fresh.losses[0]
