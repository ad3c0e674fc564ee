"""Which matrix product AIHWKit's analog forward computes for a convolution, and when the
row-major product :mod:`hybrid.fast_analog` computes is the same, bit for bit.

The one operation of an analog forward whose bits depend on how it is called: the BLAS picks
its kernel, hence its summation order, by the operands' layout. AIHWKit multiplies its
transposed unfold layout (N, P, K) by ``weight.T``; with a weight that requires grad
``torch.matmul`` folds that into one ``mm`` on a row-major copy, the product computed here on
rows already row-major. :func:`matmul_folds_to_one_mm` confirms that once per process;
:func:`row_major_matmul_is_exact` compares the two products per shape where it does not hold.
"""

from __future__ import annotations

from functools import lru_cache

import torch


def conv_matmul(weight: torch.Tensor, rows: torch.Tensor, n: int, positions: int) -> torch.Tensor:
    """``input_ @ weight.T`` as AIHWKit computes it for unfolded rows, as (N * P, out).

    AIHWKit's input is ``F.unfold(x).transpose(-1, -2)``: (N, P, K) with the K axis strided.
    For a weight that requires grad (a tile's parameter), ``torch.matmul`` copies it to
    row-major and calls one ``mm``, which is exactly ``rows @ weight.T`` on the row-major rows
    here; otherwise it multiplies batch by batch in the transposed layout, whose BLAS kernel
    may sum in another order. :func:`matmul_folds_to_one_mm` checks the first case once (it
    holds for every shape when it holds), :func:`row_major_matmul_is_exact` the result once per
    shape otherwise; if the row-major product is not the same, the rows are put back into
    AIHWKit's layout.
    """
    k = rows.shape[-1]
    folds = matmul_folds_to_one_mm(weight.dtype, weight.requires_grad, min(n, 2))
    if folds or row_major_matmul_is_exact(
        n, positions, k, weight.shape[0], weight.dtype, weight.requires_grad
    ):
        return rows @ weight.T
    aihwkit_layout = rows.view(n, positions, k).transpose(1, 2).contiguous().transpose(1, 2)
    return (aihwkit_layout @ weight.T).reshape(n * positions, -1)


@lru_cache(maxsize=256)
def row_major_matmul_is_exact(
    n: int,
    positions: int,
    k: int,
    out: int,
    dtype: torch.dtype = torch.float32,
    requires_grad: bool = True,
) -> bool:
    """Whether ``rows @ weight.T`` on row-major (N * P, K) rows gives bitwise the same result
    as AIHWKit's ``unfolded @ weight.T`` on the (N, P, K) transposed unfold layout.

    Tried once per shape (and weight ``requires_grad`` flag, which steers ``torch.matmul``)
    on random data from a private generator, under ``no_grad`` like the evaluation; torch's
    global generator is not touched.
    """
    generator = torch.Generator().manual_seed(0)
    unfolded = torch.randn((n, k, positions), generator=generator, dtype=dtype)
    weight = torch.nn.Parameter(
        torch.randn((out, k), generator=generator, dtype=dtype), requires_grad=requires_grad
    )
    with torch.no_grad():
        reference = (unfolded.transpose(1, 2) @ weight.T).reshape(n * positions, out)
        rows = unfolded.transpose(1, 2).reshape(n * positions, k)
        return torch.equal(rows @ weight.T, reference)


@lru_cache(maxsize=8)
def matmul_folds_to_one_mm(
    dtype: torch.dtype = torch.float32, requires_grad: bool = True, batch: int = 2
) -> bool:
    """Whether ``torch.matmul`` of AIHWKit's transposed unfold layout (N, P, K) by
    ``weight.T`` runs as one ``mm`` on a row-major (N * P, K) copy and no batched product.

    Then AIHWKit's product is ``mm(rows, weight.T)`` on the same row-major rows as here: the
    same call on the same values, whatever P, K and the output width. Torch's rule
    (``should_fold`` in ATen's ``matmul``) folds when the weight requires grad; whether the
    folded input is a row-major copy depends only on N being 1 (a view then, column-major) or
    more. Observed once per dtype, ``requires_grad`` flag and ``batch`` (give ``min(N, 2)``) on
    a tiny input, rather than trusted: the autograd graph of the product names the operations
    torch ran (one ``mm``, whose saved left operand is contiguous). A weight without grad leaves
    no graph to read: False, and :func:`row_major_matmul_is_exact` is the per-shape check.
    """
    if not requires_grad:
        return False
    generator = torch.Generator().manual_seed(0)
    unfolded = torch.randn((batch, 5, 3), generator=generator, dtype=dtype).transpose(1, 2)
    weight = torch.nn.Parameter(torch.randn((4, 5), generator=generator, dtype=dtype))
    with torch.enable_grad():
        out = unfolded @ weight.T
    products, stack = [], [out.grad_fn]
    while stack:
        node = stack.pop()
        if node is None:
            continue
        if type(node).__name__ in ("MmBackward0", "BmmBackward0", "AddmmBackward0"):
            products.append(node)
        stack.extend(function for function, _ in node.next_functions)
    return (
        len(products) == 1
        and type(products[0]).__name__ == "MmBackward0"
        and bool(products[0]._saved_self.is_contiguous())
    )
