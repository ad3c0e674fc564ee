"""The cached evaluator with the fast analog path: the same numbers as with AIHWKit's own
forward, and prepared inputs shared across tile states."""

from __future__ import annotations

import numpy as np
import pytest

from hybrid import fast_analog
from hybrid.models import layer_specs
from hybrid.pretrain import PretrainedModel, task_targets
from hybrid.simulator import CachedEvaluator, Evaluation

EVAL_SIZE = 120
STATES = (
    [(0, 1.0)] * 6,
    [None, (1, 3600.0), (0, 3.15e7), None, (2, 86400.0), (0, 1.0)],
    [(0, 3.15e7)] * 6,
    [(1, 3600.0), None, None, (0, 3600.0), None, None],
)


def make_evaluator(pretrained: PretrainedModel, hardware: str) -> CachedEvaluator:
    model = pretrained.instantiate(hardware).eval()
    split = pretrained.dataset.test.subset(EVAL_SIZE)
    names = [spec.name for spec in layer_specs(model, pretrained.dataset.input_shape)]
    return CachedEvaluator(model, split.images, task_targets(split), seed=4, layer_names=names)


def same(a: Evaluation, b: Evaluation) -> bool:
    return (
        np.array_equal(a.losses, b.losses)
        and np.array_equal(a.accuracies, b.accuracies)
        and all(np.array_equal(x, y) for x, y in zip(a.correct, b.correct, strict=True))
    )


def numbers(evaluator: CachedEvaluator) -> list:
    """Every evaluation and layer noise of STATES, in order."""
    out = []
    for states in STATES:
        out.append(evaluator.evaluate(states))
        out.append([evaluator.layer_noise(i, state) for i, state in enumerate(states)])
    return out


def assert_same_numbers(first: list, second: list) -> None:
    for a, b in zip(first, second, strict=True):
        if isinstance(a, Evaluation):
            assert same(a, b)
        else:
            assert a == b


@pytest.mark.parametrize("hardware", ["pcm-strong-drift", "paper-pcm"])
def test_evaluator_numbers_equal_those_of_aihwkits_own_forward(
    digits_pretrained: PretrainedModel, hardware: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = make_evaluator(digits_pretrained, hardware)
    fast_numbers = numbers(fast)
    assert fast.stats.input_preparations > 0
    monkeypatch.setattr(fast_analog, "supports", lambda module: False)
    reference = make_evaluator(digits_pretrained, hardware)
    assert_same_numbers(fast_numbers, numbers(reference))
    assert reference.stats.input_preparations == 0


def test_prepared_inputs_are_shared_across_tile_states(digits_pretrained: PretrainedModel) -> None:
    """conv1's input is the batch itself: one preparation serves every chip and age."""
    evaluator = make_evaluator(digits_pretrained, "pcm-strong-drift")
    for programming in range(3):
        evaluator.evaluate([(programming, 3600.0)] + [None] * 5)
    assert evaluator.stats.input_preparations == 1
