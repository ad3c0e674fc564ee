"""The fast analog forward (hybrid.fast_analog) gives AIHWKit's outputs bit for bit: for every
hardware preset, convolutions and linear layers (split over several tiles too), several drift
ages, output values, memory layout and the random draws consumed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch
from torch import nn

from hybrid import fast_analog, matmul_layout
from hybrid.hardware import HARDWARE_PRESETS, HardwareConfig, get_hardware
from hybrid.layers import HybridLayer

AGES_S = (0.0, 3600.0, 3.15e7)  # just programmed, one hour, one year
TILE_SIZE_SPLIT = 16
"""A tile size that splits the layers below across several tiles (rows and columns)."""


def make_layer(kind: str) -> tuple[nn.Module, torch.Tensor, int]:
    """A torch layer of ``kind``, a matching input, and the tile size to map it with."""
    generator = torch.Generator().manual_seed(7)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator)

    torch.manual_seed(11)  # the layers' own initial weights
    layers = {
        # the CIFAR-sized network's first convolution, on a few images
        "conv1-cifar": (nn.Conv2d(3, 8, 3), randn(6, 3, 32, 32).abs(), 512),
        "conv-padded-strided": (nn.Conv2d(4, 6, 3, stride=2, padding=1), randn(3, 4, 9, 9), 512),
        "conv-dilated-no-bias": (
            nn.Conv2d(2, 5, 3, dilation=2, bias=False),
            randn(2, 2, 9, 9),
            512,
        ),
        # 27 rows over tiles of 16: splits of 14 and 13 rows cut through a channel
        "conv-split-rows": (nn.Conv2d(3, 20, 3), randn(4, 3, 10, 10), TILE_SIZE_SPLIT),
        # 36 rows over tiles of 18: the splits hold whole channels
        "conv-split-channels": (nn.Conv2d(4, 8, 3, padding=1), randn(4, 4, 7, 7), 18),
        "linear": (nn.Linear(64, 24), torch.relu(randn(10, 64)), 512),
        "linear-split": (nn.Linear(40, 35), randn(10, 40), TILE_SIZE_SPLIT),
        "linear-no-bias": (nn.Linear(30, 10, bias=False), randn(7, 30), 512),
    }
    return layers[kind]


LAYER_KINDS = (
    "conv1-cifar",
    "conv-padded-strided",
    "conv-dilated-no-bias",
    "conv-split-rows",
    "conv-split-channels",
    "linear",
    "linear-split",
    "linear-no-bias",
)


def analog_layer(kind: str, preset: str) -> tuple[HybridLayer, torch.Tensor]:
    digital, x, tile_size = make_layer(kind)
    hardware = get_hardware(preset).replace(tile_size=tile_size)
    layer = HybridLayer(digital, hardware)
    with torch.random.fork_rng():
        torch.manual_seed(3)
        layer.set_analog(True)  # programs the tile
    return layer, x


def assert_same_forward(layer: HybridLayer, x: torch.Tensor, seed: int) -> None:
    """AIHWKit's forward and the fast path, from the same generator state: same output (values,
    shape, strides) and the same generator state afterwards (the same draws were consumed)."""
    module = layer.analog
    assert fast_analog.supports(module)
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(seed)
        expected = module(x)
        state_after_aihwkit = torch.get_rng_state()
        prepared = fast_analog.prepare_input(module, x)
        torch.manual_seed(seed)
        actual = fast_analog.analog_forward(module, prepared)
        state_after_fast = torch.get_rng_state()
    assert actual.shape == expected.shape and actual.stride() == expected.stride()
    assert torch.equal(actual, expected), (actual - expected).abs().max()
    assert torch.equal(state_after_fast, state_after_aihwkit)


@contextmanager
def counted_products() -> Iterator[list[int]]:
    """A list that gains one entry per analog matrix product (one per bound-management round
    and tile) while the context is open."""
    rounds: list[int] = []
    original = fast_analog._matmul

    def counting(*args, **kwargs):
        rounds.append(1)
        return original(*args, **kwargs)

    fast_analog._matmul = counting
    try:
        yield rounds
    finally:
        fast_analog._matmul = original


@pytest.mark.parametrize("preset", list(HARDWARE_PRESETS))
@pytest.mark.parametrize("kind", LAYER_KINDS)
def test_fast_forward_is_aihwkits_bit_for_bit(kind: str, preset: str) -> None:
    layer, x = analog_layer(kind, preset)
    if kind.endswith(("split-rows", "split")):
        assert len(list(layer.analog.analog_tiles())) > 2  # split rows and columns
    for index, age_s in enumerate(AGES_S):
        with torch.random.fork_rng():
            torch.manual_seed(100 + index)
            layer.drift_to(age_s)
        assert_same_forward(layer, x, seed=index)


def test_one_prepared_input_serves_every_tile_state() -> None:
    """The prepared input does not depend on the tile state: prepare once, reprogram and
    drift, and every forward still equals AIHWKit's."""
    layer, x = analog_layer("conv1-cifar", "pcm-strong-drift")
    module = layer.analog
    prepared = fast_analog.prepare_input(module, x)
    for programming in range(2):
        for age_s in AGES_S:
            with torch.random.fork_rng():
                torch.manual_seed(programming)
                layer.program()
                layer.drift_to(age_s)
            with torch.no_grad(), torch.random.fork_rng():
                torch.manual_seed(5)
                expected = module(x)
                torch.manual_seed(5)
                assert torch.equal(fast_analog.analog_forward(module, prepared), expected)


def test_clipping_outputs_take_the_same_bound_management_rounds() -> None:
    """Outputs beyond the ADC bound make AIHWKit halve the input and redraw the noise until
    nothing clips (here several rounds): the fast path takes the same rounds."""
    digital = nn.Linear(64, 4)
    with torch.no_grad():
        digital.weight.fill_(0.9)
    layer = HybridLayer(digital, "paper-pcm")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        layer.set_analog(True)
    x = torch.ones(3, 64)
    with counted_products() as rounds:
        assert_same_forward(layer, x, seed=0)
    assert len(rounds) >= 3


def test_an_all_zero_input_gives_the_bias_and_draws_no_noise() -> None:
    layer, x = analog_layer("conv-padded-strided", "paper-pcm")
    zeros = torch.zeros_like(x)
    assert_same_forward(layer, zeros, seed=0)
    with torch.no_grad(), torch.random.fork_rng():
        before = torch.get_rng_state()
        fast_analog.analog_forward(layer.analog, fast_analog.prepare_input(layer.analog, zeros))
        assert torch.equal(torch.get_rng_state(), before)


def test_a_weight_without_grad_takes_aihwkits_other_matmul_path() -> None:
    """torch.matmul multiplies AIHWKit's unfolded input batch by batch when the weight does
    not require grad; the fast path then checks and follows that path too."""
    layer, x = analog_layer("conv1-cifar", "paper-pcm")
    for tile in layer.analog.analog_tiles():
        tile.tile.weight.requires_grad_(False)
    assert_same_forward(layer, x, seed=1)


def test_training_mode_and_unsupported_settings_fall_back() -> None:
    layer, _ = analog_layer("linear", "paper-pcm")
    assert fast_analog.supports(layer.analog)
    layer.analog.train()
    assert not fast_analog.supports(layer.analog)
    noisy_input = HardwareConfig()
    config = noisy_input.rpu_config()
    config.forward.inp_noise = 0.01
    from aihwkit.nn import AnalogLinear

    module = AnalogLinear.from_digital(nn.Linear(8, 4), config).eval()
    assert not fast_analog.supports(module)
    assert not fast_analog.supports(nn.Linear(8, 4))


def test_a_prepared_input_of_another_layer_is_an_error() -> None:
    layer, x = analog_layer("linear", "paper-pcm")
    other, _ = analog_layer("linear-split", "paper-pcm")
    prepared = fast_analog.prepare_input(layer.analog, x)
    with pytest.raises(ValueError, match="prepare it with prepare_input"):
        fast_analog.analog_forward(other.analog, prepared)


@pytest.mark.parametrize(
    ("n", "positions", "k", "out"), [(2, 9, 27, 16), (64, 64, 144, 32), (360, 16, 576, 64)]
)
def test_the_one_time_dispatch_check_implies_the_per_shape_one(
    n: int, positions: int, k: int, out: int
) -> None:
    # The dispatch check stands in for the per-shape product comparison: where it says the
    # product folds into one row-major mm, the two products agree bit for bit at every shape.
    assert matmul_layout.matmul_folds_to_one_mm(torch.float32, True, min(n, 2))
    assert matmul_layout.row_major_matmul_is_exact(n, positions, k, out, torch.float32, True)
    # A column-major view (one image) or a weight without grad is not the folded row-major mm.
    assert not matmul_layout.matmul_folds_to_one_mm(torch.float32, True, 1)
    assert not matmul_layout.matmul_folds_to_one_mm(torch.float32, False, 2)


@pytest.mark.parametrize("kind", ["conv1-cifar", "conv-split-channels", "linear"])
def test_a_consumed_input_gives_aihwkits_output_through_every_bound_management_round(
    kind: str,
) -> None:
    """With ``consume=True`` a later bound-management round requantises into the prepared
    rows; large weights make the outputs clip so that such rounds happen: still AIHWKit's
    output and generator state, bit for bit."""
    digital, x, tile_size = make_layer(kind)
    with torch.no_grad():  # every weight and input positive and large: the sums clip
        digital.weight.fill_(0.9)
    x = x.abs() + 0.5
    hardware = get_hardware("paper-pcm").replace(tile_size=tile_size)
    layer = HybridLayer(digital, hardware)
    with torch.random.fork_rng():
        torch.manual_seed(3)
        layer.set_analog(True)
    module = layer.analog
    with counted_products() as rounds:
        with torch.no_grad(), torch.random.fork_rng():
            torch.manual_seed(5)
            expected = module(x)
            state_after_aihwkit = torch.get_rng_state()
            torch.manual_seed(5)
            actual = fast_analog.analog_forward(
                module, fast_analog.prepare_input(module, x), consume=True
            )
            assert torch.equal(torch.get_rng_state(), state_after_aihwkit)
    assert torch.equal(actual, expected), (actual - expected).abs().max()
    tiles = sum(len(row) for row in fast_analog._tile_grid(module)[1])
    assert len(rounds) > tiles  # at least one tile took a second round
