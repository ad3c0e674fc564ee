"""One pass over a convolution input for AIHWKit's input side: unfold, scale, quantise, clip.

:func:`hybrid.fast_analog.prepare_input` turns a convolution input into the rows the analog
tiles see: unfold (im2col), multiply each row by its noise-management scale, quantise to the
DAC resolution (``/ res``, round half to even, ``* res``) and clip to the input bound. In
torch that is four to six passes over a tensor ``kh * kw`` times the input; on a ResNet-20 they
were most of an analog forward. :func:`unfold_quantise` does them in one pass, in C++ compiled
once per machine by torch's own extension loader (``torch.utils.cpp_extension.load_inline``,
cached under ``~/.cache/torch_extensions``; about half a minute the first time).

Same numbers: every value goes through the same float32 operations in the same order (one
product by the row's scale, one division by the step, ``std::nearbyint`` like ``torch.round``,
one product by the step, then ``min(max(v, -bound), bound)``), compiled with floating-point
contraction off so no two operations fuse. ``tests/test_fast_analog.py`` compares the result
bit for bit with the torch passes, and the whole analog forward with AIHWKit's.

Where the extension cannot be built (no C++ compiler), :func:`available` is False and callers
use the torch passes; ``HYBRID_FUSED_UNFOLD=0`` turns it off.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from typing import Any

import torch

log = logging.getLogger(__name__)

ENV_SWITCH = "HYBRID_FUSED_UNFOLD"
"""Set to ``0`` to use torch's passes instead of the compiled kernel."""

_SOURCE = r"""
#include <torch/extension.h>
#include <algorithm>
#include <cmath>
#include <vector>

// One row: out[k] = value(k), or with quantise: scaled by s, quantised with step (if has_step)
// and clipped, the same float operations in the same order as torch's passes.
template <typename Value>
inline void write_row(float* out, int64_t size, Value value, bool quantise, bool has_step,
                      float s, float step, float lower, float upper) {
  if (!quantise) {
    for (int64_t k = 0; k < size; ++k) out[k] = value(k);
  } else if (has_step) {
    for (int64_t k = 0; k < size; ++k) {
      float v = value(k) * s;
      v = v / step;
      v = std::nearbyint(v);
      v = v * step;
      out[k] = std::min(std::max(v, lower), upper);
    }
  } else {
    for (int64_t k = 0; k < size; ++k) {
      const float v = value(k) * s;
      out[k] = std::min(std::max(v, lower), upper);
    }
  }
}

// Rows (N * Ho * Wo, size) of columns [start, start + size) of the unfolded input, in
// F.unfold's column order (channel, kernel row, kernel column), each optionally scaled by
// scale[row], quantised with step res (res > 0) and clipped to [-bound, bound].
void unfold_quantise(torch::Tensor x, torch::Tensor scale, torch::Tensor out,
                     int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                     int64_t dh, int64_t dw, int64_t start, double res, double bound,
                     bool quantise) {
  TORCH_CHECK(x.dim() == 4 && x.is_contiguous() && x.scalar_type() == torch::kFloat32,
              "x must be a contiguous float32 (N, C, H, W) tensor");
  TORCH_CHECK(out.dim() == 2 && out.is_contiguous() && out.scalar_type() == torch::kFloat32,
              "out must be a contiguous float32 (rows, size) tensor");
  const int64_t n_img = x.size(0), channels = x.size(1), height = x.size(2), width = x.size(3);
  const int64_t h_out = (height + 2 * ph - dh * (kh - 1) - 1) / sh + 1;
  const int64_t w_out = (width + 2 * pw - dw * (kw - 1) - 1) / sw + 1;
  const int64_t size = out.size(1);
  const int64_t kernel = kh * kw;
  TORCH_CHECK(out.size(0) == n_img * h_out * w_out, "out has the wrong number of rows");
  TORCH_CHECK(start >= 0 && start + size <= channels * kernel, "columns out of range");
  const float* xp = x.data_ptr<float>();
  float* op = out.data_ptr<float>();
  const float* sp = nullptr;
  if (quantise) {
    TORCH_CHECK(scale.is_contiguous() && scale.numel() == out.size(0) &&
                scale.scalar_type() == torch::kFloat32, "scale must hold one float per row");
    sp = scale.data_ptr<float>();
  }
  const float step = static_cast<float>(res);
  const float upper = static_cast<float>(bound);
  const float lower = -upper;
  const bool has_step = res > 0.0;
  const int64_t c_first = start / kernel, c_last = (start + size - 1) / kernel;
  // Columns of whole channels c_first..c_last, as offsets from the window's corner: a row
  // whose window lies inside the image is read, scaled and quantised in one flat loop (which
  // the compiler vectorises); a row on the border is gathered with bounds tests first.
  const int64_t full_size = (c_last - c_first + 1) * kernel;
  const int64_t offset = start - c_first * kernel;
  std::vector<int32_t> window(full_size);
  {
    int64_t k = 0;
    for (int64_t c = 0; c <= c_last - c_first; ++c)
      for (int64_t i = 0; i < kh; ++i)
        for (int64_t j = 0; j < kw; ++j)
          window[k++] = static_cast<int32_t>(c * height * width + i * dh * width + j * dw);
  }
  const int32_t* cols = window.data() + offset;
  std::vector<float> full(full_size);
  for (int64_t n = 0; n < n_img; ++n) {
    for (int64_t oh = 0; oh < h_out; ++oh) {
      for (int64_t ow = 0; ow < w_out; ++ow) {
        const int64_t row = (n * h_out + oh) * w_out + ow;
        const int64_t ih0 = oh * sh - ph, iw0 = ow * sw - pw;
        const bool inside = ih0 >= 0 && ih0 + (kh - 1) * dh < height && iw0 >= 0 &&
                            iw0 + (kw - 1) * dw < width;
        const float* src;
        const int32_t* idx;
        const float* corner = xp + (n * channels + c_first) * height * width;
        if (inside) {
          src = corner + ih0 * width + iw0;
          idx = cols;
        } else {
          float* g = full.data();
          for (int64_t c = c_first; c <= c_last; ++c) {
            const float* plane = xp + (n * channels + c) * height * width;
            for (int64_t i = 0; i < kh; ++i) {
              const int64_t ih = ih0 + i * dh;
              const bool row_in = ih >= 0 && ih < height;
              for (int64_t j = 0; j < kw; ++j) {
                const int64_t iw = iw0 + j * dw;
                *g++ = (row_in && iw >= 0 && iw < width) ? plane[ih * width + iw] : 0.0f;
              }
            }
          }
          src = full.data() + offset;
          idx = nullptr;
        }
        float* o = op + row * size;
        const float s = quantise ? sp[row] : 1.0f;
        if (idx != nullptr) {
          write_row(o, size, [&](int64_t k) { return src[idx[k]]; }, quantise, has_step, s,
                    step, lower, upper);
        } else {
          write_row(o, size, [&](int64_t k) { return src[k]; }, quantise, has_step, s, step,
                    lower, upper);
        }
      }
    }
  }
}
"""


def _enabled() -> bool:
    return os.environ.get(ENV_SWITCH, "1") != "0"


@lru_cache(maxsize=1)
def _extension() -> Any:
    """The compiled extension, or None where it cannot be built (logged once)."""
    try:
        # Importing torch's extension loader warns "No CUDA runtime is found" on every CPU
        # machine with a CUDA build of torch: true, and irrelevant to a C++-only extension.
        torch_log = logging.getLogger("torch.utils.cpp_extension")
        level = torch_log.level
        torch_log.setLevel(logging.ERROR)
        try:
            from torch.utils.cpp_extension import load_inline
        finally:
            torch_log.setLevel(level)

        return load_inline(
            name="hybrid_fused_unfold",
            cpp_sources=_SOURCE,
            functions=["unfold_quantise"],
            extra_cflags=["-O3", "-march=native", "-ffp-contract=off", "-fno-fast-math"],
            verbose=False,
        )
    except Exception as error:  # noqa: BLE001 - any build failure falls back to torch
        log.warning(
            "fused unfold kernel unavailable (%s); using torch's passes",
            str(error).splitlines()[0] if str(error) else type(error).__name__,
        )
        return None


def available() -> bool:
    """Whether :func:`unfold_quantise` can run here (compiling it on first call)."""
    return _enabled() and _extension() is not None


def unfold_quantise(
    x: torch.Tensor,
    out: torch.Tensor,
    kernel_size: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    start: int,
    scale: torch.Tensor | None,
    res: float,
    bound: float,
) -> None:
    """Write into ``out`` (rows, size) the columns ``start:start + size`` of ``x``'s unfolded
    rows; with a ``scale`` (one per row), scaled, quantised with step ``res`` (none if 0) and
    clipped to ``[-bound, bound]``, as :func:`hybrid.fast_analog._quantise_into` does."""
    extension = _extension()
    if extension is None:
        raise RuntimeError("the fused unfold kernel is unavailable: check available() first")
    quantise = scale is not None
    extension.unfold_quantise(
        x,
        scale.contiguous() if quantise else torch.empty(0),
        out,
        *kernel_size,
        *stride,
        *padding,
        *dilation,
        int(start),
        float(res),
        float(bound),
        quantise,
    )
