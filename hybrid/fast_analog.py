"""AIHWKit's analog forward, computed with less work and the same numbers.

An ``AnalogConv2d``/``AnalogLinear`` forward in AIHWKit's pure-PyTorch inference tile
(``TorchInferenceTile`` + ``AnalogMVM``, eval mode) does, per tile:

1. unfold the convolution input to rows of ``in_channels * kh * kw`` values (im2col);
2. noise management: divide each row by its absolute maximum;
3. quantise it to the DAC resolution (``UniformQuantize``) and clip to the input bound;
4. multiply by the (programmed, drifted, read-noisy) conductances;
5. add Gaussian output noise, quantise to the ADC resolution, clip to the output bound;
   if anything clipped, iterative bound management halves the input and repeats 2-5 with
   fresh noise (up to the resolution limit);
6. undo the input scaling, apply the mapping scales, the drift-compensation factor alpha,
   the learned output scale and the digital bias.

Steps 1-3 depend only on the layer input, not on the tile state, but AIHWKit redoes them at
every forward, over a tensor ``kh * kw`` times the input, with a clone at each step: they are
most of the time (measured: 44x a digital pass for the first convolution of the CIFAR-sized
network). Here :func:`prepare_input` does 1-3 once per input (:class:`PreparedInput`, which a
caller can keep and reuse across tile states: other chips, ages, programming events), and
:func:`analog_forward` does 4-6 for the tile's current state.

Same numbers, not approximately the same: every step is the same torch operation on the same
values, in the same order, drawing the same random numbers from torch's global generator in
the same order (``tests/test_fast_analog.py`` compares outputs, memory layout and generator
state bitwise with ``module(x)`` for every hardware preset). The work is reorganised only in
ways that cannot change a bit: in place instead of out of place, a few images at a time so
the passes run in cache, the unfold as one gather straight into row-major rows, the row
absolute maxima as a running max over kernel offsets (max is exact), the output clip skipped
when nothing is out of bounds (it would be the identity). The matrix product is the one
operation whose bits depend on how it is called (the BLAS picks its kernel, hence its
summation order, by layout): AIHWKit's ``unfolded @ weight.T`` with the tile's weight
parameter makes ``torch.matmul`` copy the unfolded input to row-major and call one ``mm``,
and that ``mm`` is what runs here, on rows already row-major. :mod:`hybrid.matmul_layout`
checks that dispatch rule on this machine and torch rather than relying on it, and AIHWKit's
layout is used where it does not hold.

Anything the fast path does not reproduce (training mode, learned input ranges, input noise,
stochastic rounding, other noise/bound management types, CUDA, indexed convolutions) is
refused by :func:`supports`; callers then use AIHWKit's own forward.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F
from aihwkit.nn import AnalogConv2d, AnalogLinear
from aihwkit.simulator.parameters.enums import (
    AnalogMVType,
    BoundManagementType,
    NoiseManagementType,
)
from aihwkit.simulator.parameters.io import IOParameters
from aihwkit.simulator.tiles.array import TileModuleArray
from aihwkit.simulator.tiles.inference_torch import TorchInferenceTile

from hybrid import fused_unfold, matmul_layout

AnalogModule = AnalogConv2d | AnalogLinear


@dataclass(frozen=True)
class _SplitInput:
    """One input split (the columns of the rows one row of tiles sees), noise-managed and
    quantised for the first bound-management round.

    Attributes:
        start: first column of the split in the layer's rows.
        size: number of columns.
        abs_max: the noise-management scale of each row (M, 1), zeros already replaced by 1
            (``None`` for an ideal forward, which does not scale).
        all_zero: every row was zero: AIHWKit then returns zeros without drawing noise.
        quantised: the rows as the DAC sees them (the raw rows for an ideal forward).
    """

    start: int
    size: int
    abs_max: torch.Tensor | None
    all_zero: bool
    quantised: torch.Tensor


@dataclass(frozen=True)
class PreparedInput:
    """A layer input after AIHWKit's steps 1-3, reusable across every state of the layer's tiles.

    Attributes:
        source: the layer input itself (bound-management rounds after the first rescale it).
        splits: one entry per input split of the tile array (one for a single tile).
        out_shape: ``(N, P, H_out)`` for a convolution (batch, output positions, output
            height), ``None`` for a linear layer.
    """

    source: torch.Tensor
    splits: tuple[_SplitInput, ...]
    out_shape: tuple[int, int, int] | None

    @property
    def nbytes(self) -> int:
        """Memory held, in bytes (for cache accounting)."""
        tensors = [self.source]
        for split in self.splits:
            tensors.append(split.quantised)
            if split.abs_max is not None:
                tensors.append(split.abs_max)
        return sum(t.numel() * t.element_size() for t in tensors)


# -- what the fast path covers ---------------------------------------------------------------
def _tile_grid(module: AnalogModule) -> tuple[list[int], list[list[TorchInferenceTile]]]:
    """Input split sizes and, per input split, the tiles of each output split."""
    analog_module = module.analog_module
    if isinstance(analog_module, TileModuleArray):
        return list(analog_module.in_sizes), [list(row) for row in analog_module.array]
    return [analog_module.in_size], [[analog_module]]


def supports(module: torch.nn.Module) -> bool:
    """Whether :func:`analog_forward` reproduces ``module(x)`` for this module as configured.

    True for eval-mode ``AnalogConv2d`` (groups 1, unfolded, on CPU) and ``AnalogLinear`` on
    ``TorchInferenceTile`` tiles whose forward is ideal (``is_perfect``) or one-pass with
    absolute-max noise management, iterative bound management, deterministic rounding, no
    input noise or asymmetry and no learned input range: the settings of every preset in
    :mod:`hybrid.hardware`.
    """
    if not isinstance(module, (AnalogConv2d, AnalogLinear)) or module.training:
        return False
    if isinstance(module, AnalogConv2d):
        if module.groups != 1 or module.use_indexed or module.padding_mode != "zeros":
            return False
    analog_module = module.analog_module
    if type(analog_module) not in (TileModuleArray, TorchInferenceTile):
        return False
    _, grid = _tile_grid(module)
    for tile in (tile for row in grid for tile in row):
        if type(tile) is not TorchInferenceTile or tile.training or tile.is_cuda:
            return False
        if tile.input_range is not None or tile.analog_bias:
            return False
        if hasattr(tile.rpu_config.pre_post, "periph_quant"):
            return False
        if tile.tile.out_noise_values is not None:
            return False
        if not _io_supported(tile.rpu_config.forward):
            return False
    return True


def _io_supported(io: IOParameters) -> bool:
    if io.is_perfect or io.mv_type == AnalogMVType.IDEAL:
        return True
    return (
        io.mv_type == AnalogMVType.ONE_PASS
        and io.noise_management == NoiseManagementType.ABS_MAX
        and io.nm_thres <= 0.0
        and io.bound_management == BoundManagementType.ITERATIVE
        and io.inp_noise <= 0.0
        and io.inp_asymmetry == 0.0
        and io.out_asymmetry == 0.0
        and not io.inp_sto_round
        and not io.out_sto_round
    )


def _is_perfect(io: IOParameters) -> bool:
    return io.is_perfect or io.mv_type == AnalogMVType.IDEAL


# -- steps 1-3: the input side -----------------------------------------------------------------
CHUNK_ELEMENTS = 2**17
"""Unfolded values processed at a time (512 KiB of float32): the elementwise passes over the
unfolded input then run in the CPU cache (measured 2.7x faster than whole-tensor passes on
conv1 of the CIFAR-sized network)."""


@torch.no_grad()
def prepare_input(module: AnalogModule, x: torch.Tensor) -> PreparedInput:
    """Unfold, noise-manage and quantise ``x`` for ``module``'s tiles (AIHWKit's steps 1-3).

    The result depends on the layer's configuration and ``x`` only, never on the tile state or
    on torch's random generator; pass it to :func:`analog_forward` for any state of the tiles.
    """
    in_sizes, grid = _tile_grid(module)
    io = grid[0][0].rpu_config.forward
    if isinstance(module, AnalogConv2d):
        return _prepare_conv(module, x, in_sizes, io)
    # AIHWKit: torch.split(x_input, in_sizes, dim=-1) in TileModuleArray.forward.
    columns = torch.split(x, in_sizes, dim=-1) if len(in_sizes) > 1 else (x,)
    splits, start = [], 0
    for split, size in zip(columns, in_sizes, strict=True):
        if _is_perfect(io):
            splits.append(_SplitInput(start, size, None, False, split))
        else:
            abs_max = split.abs().amax(dim=-1, keepdim=True)
            # AnalogMVM.matmul: the all-zero shortcut is tested before zeros become 1.
            all_zero = bool((abs_max == 0.0).all())
            abs_max[abs_max <= 0.0] = 1.0
            quantised = _quantise_linear(split, _input_scale(abs_max, 1.0), io)
            splits.append(_SplitInput(start, size, abs_max, all_zero, quantised))
        start += size
    return PreparedInput(x, tuple(splits), None)


def _prepare_conv(
    module: AnalogConv2d, x: torch.Tensor, in_sizes: list[int], io: IOParameters
) -> PreparedInput:
    """prepare_input for a convolution, a few images at a time."""
    if x.dim() != 4:
        raise ValueError(f"the fast analog path takes (N, C, H, W) inputs, got {tuple(x.shape)}")
    # An analog convolution's output (a later layer's input) is channels-last in memory; one
    # copy to contiguous saves one per chunk of images in the gathers below.
    x = x.contiguous()
    n = x.shape[0]
    h_out, w_out = _output_size(module, x)
    positions, width = h_out * w_out, sum(in_sizes)
    perfect = _is_perfect(io)
    starts = [sum(in_sizes[:i]) for i in range(len(in_sizes))]
    if _fused(module, x, starts, in_sizes, perfect):
        return _prepare_conv_fused(module, x, starts, in_sizes, io, (n, positions, h_out))
    quantised = [x.new_empty((n * positions, size)) for size in in_sizes]
    abs_max: list[torch.Tensor | None] = []
    for start, size in zip(starts, in_sizes, strict=True):
        abs_max.append(None if perfect else _window_abs_max(module, x, start, size))
    all_zero = [True] * len(in_sizes)
    for first, last, rows in _row_chunks(module, x, positions, width):
        for i, (start, size) in enumerate(zip(starts, in_sizes, strict=True)):
            columns = rows[:, start : start + size]
            out = quantised[i][first:last]
            if perfect:
                out.copy_(columns)
                continue
            if abs_max[i] is None:
                abs_max[i] = x.new_empty((n * positions, 1))
            chunk_max = abs_max[i][first:last]
            if not _window_abs_max_applies(module, start, size):
                torch.amax(columns.abs(), dim=-1, keepdim=True, out=chunk_max)
            all_zero[i] = all_zero[i] and bool((chunk_max == 0.0).all())
            chunk_max[chunk_max <= 0.0] = 1.0
            _quantise_into(columns, _input_scale(chunk_max, 1.0), io, out)
    splits = tuple(
        _SplitInput(start, size, scale, zero, q)
        for start, size, scale, zero, q in zip(
            starts, in_sizes, abs_max, all_zero, quantised, strict=True
        )
    )
    return PreparedInput(x, splits, (n, positions, h_out))


def _fused(
    module: AnalogConv2d, x: torch.Tensor, starts: list[int], sizes: list[int], perfect: bool
) -> bool:
    """Whether :mod:`hybrid.fused_unfold` can prepare this input: a float32 input, and row
    maxima that :func:`_window_abs_max` takes (splits of whole input channels)."""
    if x.dtype != torch.float32 or x.is_cuda or not fused_unfold.available():
        return False
    return perfect or all(
        _window_abs_max_applies(module, start, size)
        for start, size in zip(starts, sizes, strict=True)
    )


def _prepare_conv_fused(
    module: AnalogConv2d,
    x: torch.Tensor,
    starts: list[int],
    sizes: list[int],
    io: IOParameters,
    out_shape: tuple[int, int, int],
) -> PreparedInput:
    """_prepare_conv in one pass per split (:func:`hybrid.fused_unfold.unfold_quantise`): the
    same row maxima, scales and quantised values."""
    n, positions, _ = out_shape
    perfect = _is_perfect(io)
    splits = []
    for start, size in zip(starts, sizes, strict=True):
        out = x.new_empty((n * positions, size))
        if perfect:
            _fused_rows(module, x, out, start, None, io)
            splits.append(_SplitInput(start, size, None, False, out))
            continue
        abs_max = _window_abs_max(module, x, start, size)
        assert abs_max is not None
        all_zero = bool((abs_max == 0.0).all())
        abs_max[abs_max <= 0.0] = 1.0
        _fused_rows(module, x, out, start, _input_scale(abs_max, 1.0), io)
        splits.append(_SplitInput(start, size, abs_max, all_zero, out))
    return PreparedInput(x, tuple(splits), out_shape)


def _fused_rows(
    module: AnalogConv2d,
    x: torch.Tensor,
    out: torch.Tensor,
    start: int,
    scale: torch.Tensor | None,
    io: IOParameters,
) -> None:
    """Unfolded rows of ``x`` into ``out``; with a ``scale``, quantised and clipped as
    :func:`_quantise_in_place` does."""
    res = _quantisation_step(io.inp_res, io.inp_bound) if io.inp_res > 0 else 0.0
    bound = io.inp_bound if io.inp_bound > 0 else float("inf")
    fused_unfold.unfold_quantise(
        x,
        out,
        module.kernel_size,
        module.stride,
        module.padding,
        module.dilation,
        start,
        scale,
        res,
        bound,
    )


def _output_size(module: AnalogConv2d, x: torch.Tensor) -> tuple[int, int]:
    """Output height and width of the convolution, as AnalogConv2d computes them."""
    sizes = []
    for i, size in enumerate(x.shape[-2:]):
        span = size + 2 * module.padding[i] - module.dilation[i] * (module.kernel_size[i] - 1)
        sizes.append((span - 1) // module.stride[i] + 1)
    return sizes[0], sizes[1]


def _row_chunks(
    module: AnalogConv2d, x: torch.Tensor, positions: int, width: int
) -> Iterator[tuple[int, int, torch.Tensor]]:
    """``(first row, last row, rows)`` of the unfolded input, a few images at a time."""
    images = max(1, CHUNK_ELEMENTS // max(1, positions * width))
    for begin in range(0, x.shape[0], images):
        rows = _unfold_rows(module, x[begin : begin + images])
        yield begin * positions, begin * positions + rows.shape[0], rows


def _unfold_rows(module: AnalogConv2d, x: torch.Tensor) -> torch.Tensor:
    """The convolution input as rows (N * P, C * kh * kw), row-major, in ``F.unfold``'s order.

    One gather (``index_select``) instead of ``F.unfold(...).transpose(-1, -2)``, whose
    transposed layout makes every later pass slower: the same values, copied (measured 1.7x
    faster than ``F.unfold`` alone on conv1 of the CIFAR-sized network).
    """
    (ph, pw) = module.padding
    if ph or pw:
        x = F.pad(x, (pw, pw, ph, ph))
    n, c, h, w = x.shape
    index = _unfold_index(c, h, w, *module.kernel_size, *module.stride, *module.dilation)
    rows = torch.index_select(x.reshape(n, c * h * w), 1, index)
    return rows.view(-1, c * module.kernel_size[0] * module.kernel_size[1])


@lru_cache(maxsize=64)
def _unfold_index(
    c: int, h: int, w: int, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int
) -> torch.Tensor:
    """Flat indices into a (C, H, W) image of its unfolded rows, (H_out, W_out, C, kh, kw)."""
    h_out = (h - dh * (kh - 1) - 1) // sh + 1
    w_out = (w - dw * (kw - 1) - 1) // sw + 1
    row = torch.arange(h_out).view(-1, 1, 1, 1, 1) * sh + torch.arange(kh).view(1, 1, 1, -1, 1) * dh
    col = torch.arange(w_out).view(1, -1, 1, 1, 1) * sw + torch.arange(kw).view(1, 1, 1, 1, -1) * dw
    channel = torch.arange(c).view(1, 1, -1, 1, 1)
    return (channel * (h * w) + row * w + col).reshape(-1)


def _window_abs_max_applies(module: AnalogConv2d, start: int, size: int) -> bool:
    kernel = module.kernel_size[0] * module.kernel_size[1]
    return start % kernel == 0 and size % kernel == 0


def _window_abs_max(
    module: AnalogConv2d, x: torch.Tensor, start: int, size: int
) -> torch.Tensor | None:
    """``rows[:, start:start + size].abs().max(-1, keepdim=True)[0]``: AIHWKit's ABS_MAX noise
    management, for a split that covers whole input channels (else ``None``).

    Taken as a running maximum of ``|x|`` over the kernel offsets, then over the channels,
    which reads the input a few times instead of reducing a ``kh * kw`` times larger tensor
    along rows of a few values (measured 9x faster on conv1 of the CIFAR-sized network).
    Max is exact and order-free, and ``|x| >= 0`` makes zero padding the same as unfold's.
    """
    if not _window_abs_max_applies(module, start, size):
        return None
    kernel = module.kernel_size[0] * module.kernel_size[1]
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (
        module.kernel_size,
        module.stride,
        module.padding,
        module.dilation,
    )
    h_out, w_out = _output_size(module, x)
    magnitude = x[:, start // kernel : (start + size) // kernel].abs()
    if ph or pw:
        magnitude = F.pad(magnitude, (pw, pw, ph, ph))
    along_w = None
    for j in range(kw):
        part = magnitude[..., j * dw : j * dw + (w_out - 1) * sw + 1 : sw]
        along_w = part if along_w is None else torch.maximum(along_w, part)
    window = None
    for i in range(kh):
        part = along_w[:, :, i * dh : i * dh + (h_out - 1) * sh + 1 : sh]
        window = part if window is None else torch.maximum(window, part)
    return window.amax(dim=1).reshape(-1, 1)


def _input_scale(abs_max: torch.Tensor, reduction: float) -> torch.Tensor:
    """``scale`` of AnalogMVM.matmul's bound-management loop, computed the same way:
    ``1.0 / abs_max`` (Tensor.__rdiv__: reciprocal times 1.0), then ``/= reduction``."""
    scale = abs_max.reciprocal() * 1.0
    scale /= reduction
    return scale


def _quantise_linear(rows: torch.Tensor, scale: torch.Tensor, io: IOParameters) -> torch.Tensor:
    """AnalogMVM._prepare_input for a linear layer's input: clone (so the layout, and hence
    the matrix product, is AIHWKit's), scale, then quantise and clip in place."""
    quantised = rows.clone()
    quantised *= scale
    _quantise_in_place(quantised, io)
    return quantised


def _quantise_into(
    rows: torch.Tensor, scale: torch.Tensor, io: IOParameters, out: torch.Tensor
) -> None:
    """AnalogMVM._prepare_input (scale, UniformQuantize, clip) of ``rows`` into ``out``."""
    torch.mul(rows, scale, out=out)
    _quantise_in_place(out, io)


def _quantise_in_place(values: torch.Tensor, io: IOParameters) -> None:
    """UniformQuantize.forward (``/ res``, round, ``* res``) then the clip to the input bound,
    the same operations in the same order, in place."""
    if io.inp_res > 0:
        res = _quantisation_step(io.inp_res, io.inp_bound)
        values.div_(res).round_().mul_(res)
    bound = io.inp_bound if io.inp_bound > 0 else float("inf")
    values.clamp_(min=-bound, max=bound)


def _quantisation_step(res: float, bound: float) -> float:
    """UniformQuantize.forward's step, with the same float arithmetic."""
    res = 1 / res if res > 1.0 else res
    res *= 2 * bound
    return res


# -- steps 4-6: the tile side --------------------------------------------------------------------
@torch.no_grad()
def analog_forward(
    module: AnalogModule, prepared: PreparedInput, consume: bool = False
) -> torch.Tensor:
    """``module(x)`` for the tiles' current state, from ``prepared = prepare_input(module, x)``.

    Draws its output noise from torch's global generator exactly as AIHWKit's forward does
    (same tensors, same order), so under the same generator state the output is the same,
    bit for bit. The caller must have checked :func:`supports`.

    ``consume``: the caller will not use ``prepared`` again, so a later bound-management round
    of a convolution split read by one tile may requantise into the split's own rows instead
    of a new tensor (the same values; one unfolded copy less at the peak: 212 MB for a
    first-stage ResNet-20 layer on 360 images).
    """
    in_sizes, grid = _tile_grid(module)
    if [split.size for split in prepared.splits] != in_sizes:
        raise ValueError(
            "the prepared input does not fit this layer's tiles: prepare it with "
            "prepare_input(module, x) for the same module"
        )
    is_array = isinstance(module.analog_module, TileModuleArray)
    result: torch.Tensor | None = None
    for split, tiles in zip(prepared.splits, grid, strict=True):
        reuse = consume and len(tiles) == 1
        outs = [_tile_forward(module, tile, split, prepared, not is_array, reuse) for tile in tiles]
        out = torch.cat(outs, -1) if is_array else outs[0]
        if result is None:
            result = out
        else:
            result.add_(out)
    assert result is not None
    if is_array and module.analog_module.bias is not None:
        result = result + module.analog_module.bias.view(*_tensor_view(result.dim()))
    if prepared.out_shape is None:
        return result
    n, positions, h_out = prepared.out_shape
    # AnalogConv2d.forward: out.transpose(-1, -2).view(N, C_out, H_out, -1), same strides.
    out = result.view(n, positions, -1).transpose(-1, -2)
    return out.view(n, module.out_channels, h_out, -1)


def _tensor_view(ndim: int) -> tuple[int, ...]:
    return (1,) * (ndim - 1) + (-1,)


def _tile_forward(
    module: AnalogModule,
    tile: TorchInferenceTile,
    split: _SplitInput,
    prepared: PreparedInput,
    with_bias: bool,
    reuse: bool = False,
) -> torch.Tensor:
    """TorchInferenceTile.forward (eval): AnalogMVM.matmul, post_forward, out scaling, bias;
    ``reuse``: a later bound-management round may overwrite ``split``'s rows."""
    io = tile.rpu_config.forward
    # The parameter itself, not a detached copy: torch.matmul picks its kernel path by the
    # operands' requires_grad flag (it folds the batch into one mm when the weight requires
    # grad), and the path decides the summation order.
    weight = tile.tile.weight
    conv = prepared.out_shape is not None
    if _is_perfect(io):
        out = _matmul(weight, split.quantised, prepared, conv)
    elif split.all_zero:
        # AnalogMVM.matmul's shortcut: zeros, no noise drawn.
        shape = split.quantised.shape[:-1] + (weight.shape[0],)
        out = torch.zeros(shape, dtype=split.quantised.dtype)
    else:
        out = _bound_managed_matmul(module, weight, split, prepared, io, reuse)
    # InferenceTileWithPeriphery.post_forward: mapping scales, then drift compensation.
    view = _tensor_view(out.dim())
    mapping_scales = tile.get_mapping_scales()
    if mapping_scales is not None:
        out.mul_(mapping_scales.view(view))
    if getattr(tile.rpu_config, "drift_compensation", None) is not None:
        out.mul_(tile.alpha)
    # TorchInferenceTile.forward: learned output scale, digital bias.
    if tile.out_scaling_alpha is not None:
        out.mul_(tile.out_scaling_alpha.detach().view(view))
    if with_bias and tile.digital_bias:
        out = out + tile.bias.detach().view(view)
    return out


def _bound_managed_matmul(
    module: AnalogModule,
    weight: torch.Tensor,
    split: _SplitInput,
    prepared: PreparedInput,
    io: IOParameters,
    reuse: bool = False,
) -> torch.Tensor:
    """AnalogMVM.matmul with ABS_MAX noise and ITERATIVE bound management (one-pass MVM):
    while an output clips, halve the input and redo the MVM with fresh noise (into the
    split's own rows with ``reuse``)."""
    assert split.abs_max is not None
    conv = prepared.out_shape is not None
    inp_res = io.inp_res
    if inp_res > 0:
        inp_res = 1 / inp_res if inp_res > 1.0 else inp_res
        inp_res *= 2.0 * io.inp_bound
    out_bound = io.out_bound if io.out_bound > 0 else float("inf")
    out_res = _quantisation_step(io.out_res, io.out_bound) if io.out_res > 0 else 0.0
    reduction = 0.5
    while True:
        reduction *= 2.0
        scale = _input_scale(split.abs_max, reduction)
        if reduction == 1.0:
            quantised = split.quantised
        else:
            quantised = _requantise(module, prepared, split, scale, io, reuse)
        out = _matmul(weight, quantised, prepared, conv)
        # AnalogMVM._finalize_output
        if io.out_noise > 0.0:
            out += torch.randn_like(out).mul_(io.out_noise)
        if out_res > 0:
            out.div_(out_res).round_().mul_(out_res)
        low, high = torch.aminmax(out)
        not_clipping = bool(low >= -out_bound) and bool(high <= out_bound)
        if not not_clipping:
            out.clamp_(min=-out_bound, max=out_bound)
        passed = (
            not_clipping
            or reduction > io.max_bm_factor
            or (inp_res > 0.0 and reduction > io.max_bm_res / inp_res)
        )
        if passed:
            break
    # Under ABS_MAX noise management ``scale`` is a tensor, so AIHWKit always rescales.
    out *= io.out_scale / scale
    return out


def _requantise(
    module: AnalogModule,
    prepared: PreparedInput,
    split: _SplitInput,
    scale: torch.Tensor,
    io: IOParameters,
    reuse: bool = False,
) -> torch.Tensor:
    """The split's rows quantised at another input scale (a later bound-management round);
    a convolution's into the split's own rows with ``reuse`` (every row is overwritten, from
    the source, so the rows' earlier values do not matter)."""
    x = prepared.source
    if prepared.out_shape is None:
        columns = x[..., split.start : split.start + split.size]
        return _quantise_linear(columns, scale, io)
    n, positions, _ = prepared.out_shape
    width = sum(s.size for s in prepared.splits)
    quantised = split.quantised if reuse else x.new_empty((n * positions, split.size))
    sizes = [s.size for s in prepared.splits]
    starts = [s.start for s in prepared.splits]
    if _fused(module, x, starts, sizes, _is_perfect(io)):
        _fused_rows(module, x, quantised, split.start, scale, io)
        return quantised
    for first, last, rows in _row_chunks(module, x, positions, width):
        columns = rows[:, split.start : split.start + split.size]
        _quantise_into(columns, scale[first:last], io, quantised[first:last])
    return quantised


def _matmul(
    weight: torch.Tensor, quantised: torch.Tensor, prepared: PreparedInput, conv: bool
) -> torch.Tensor:
    """AnalogMVM._matmul for the prepared rows; returns (M, out) or the linear batch shape."""
    if conv:
        n, positions, _ = prepared.out_shape  # type: ignore[misc]
        return matmul_layout.conv_matmul(weight, quantised, n, positions)
    return quantised @ weight.T
