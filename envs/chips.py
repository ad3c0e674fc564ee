"""The chip protocol: which simulated chips train, select and test a policy.

A *chip* is one realisation of the analog non-idealities: chip ``c`` fixes the programming noise
of every layer's first programming, and the read noise at every age (``hybrid.simulator`` seeds
every draw by the chip's number). Chips are numbered, and disjoint ranges serve disjoint
purposes, so that no result is measured on a chip a policy or its tuning has seen:

* ``0 ..``: training (the environment's own pool, and ``train_agent.py``'s training chips);
* ``VALIDATION_CHIP_OFFSET ..``: model selection during training (SB3's EvalCallback);
* ``TEST_CHIP_OFFSET ..``: every reported comparison (``evaluate.py``, the benchmarks).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hybrid.variation import PROGRAMMING_ID_STRIDE

ENV_CHIP_POOL = 16
"""Chips a bare ``HybridPartition-v0`` draws from (``0..15``): distinct noise draws for the
tests and quick experiments, few enough that the evaluation caches stay warm."""
TRAIN_CHIPS = 64
"""Chips ``train_agent.py`` trains on (``0..63``). Measured (README, Results): with 16 the agent
partly learned its chips' particular noise; 64 gained 0.15-0.4 of held-out return in four of
five scenarios for about 1.5x the training time, 256 gained nothing more."""
VALIDATION_CHIP_OFFSET = 500
"""First chip of the validation range used to select checkpoints during training; above any
training pool (``--train-chips`` is capped here)."""
TEST_CHIP_OFFSET = 1_000
"""First held-out chip: evaluation and every published comparison use chips ``1000..``."""
VALIDATION_SEED_OFFSET = 10_000
"""Added to the training seed for the validation environment's resets, so that its episode
draws never coincide with the training environments' (seeds ``seed .. seed + n_envs - 1``)."""


def programming_chip(
    chip: int, programming: int, offset: int, pool: int, varied: bool = False
) -> int:
    """The noise realisation of the ``programming``-th programming (0 = the first, at t = 0) of
    a layer on ``chip``: the pool chip ``programming`` places further on, cyclically.

    Reprogramming draws fresh programming noise, from a finite (so cacheable) set of draws that
    never leaves the pool ``[offset, offset + pool)``. Where chips differ (``varied``: a
    scenario with a ``hybrid.variation.ChipVariation``) a reprogrammed tile stays on its own
    chip, with its chip's variation: the realisation is ``chip + PROGRAMMING_ID_STRIDE *
    programming`` (the first programming is still ``chip``), and the chip is part of every seed
    and cache key of its tiles.
    """
    if varied:
        if not 0 <= int(chip) < PROGRAMMING_ID_STRIDE:
            raise ValueError(
                f"chip {chip} is outside 0..{PROGRAMMING_ID_STRIDE - 1}: number chips below it"
            )
        return int(chip) + PROGRAMMING_ID_STRIDE * int(programming)
    return offset + (chip - offset + int(programming)) % pool


def check_chip(chip: int, offset: int, pool: int) -> int:
    """``chip`` if it lies in the pool, else a one-line ValueError (a chip outside the pool
    would silently alias a pool chip: the same noise draws under another number)."""
    if not offset <= int(chip) < offset + pool:
        raise ValueError(
            f"chip {chip} is outside this environment's pool [{offset}, {offset + pool}): make the "
            "env with a chip_offset and chip_pool that include it"
        )
    return int(chip)


def episode_chips(offset: int, pool: int, seed: int, episodes: int) -> list[int]:
    """Distinct chips of the pool ``[offset, offset + pool)`` for ``episodes`` episodes, in an
    order drawn from ``seed``; they cycle only when there are more episodes than chips."""
    order = np.random.default_rng(seed).permutation(pool)
    return [offset + int(order[i % pool]) for i in range(episodes)]


def held_out_pool(pool: int, episodes: int) -> int:
    """A test pool large enough that ``episodes`` episodes get distinct chips: a pool smaller
    than the episodes would repeat chips and shrink confidence intervals dishonestly."""
    return max(int(pool), int(episodes))


def first_chips(offset: int, episodes: int) -> Sequence[int]:
    """``offset, offset + 1, ..``: the chips of a benchmark that scores every policy on the same
    distinct chips."""
    return [offset + i for i in range(episodes)]
