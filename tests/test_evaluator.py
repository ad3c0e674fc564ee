"""The cached evaluator with the fast analog path: the same numbers as with AIHWKit's own
forward, prepared inputs shared across tile states, and deep copies and pickle round trips
(vectorised runners copy environments) of layers and evaluators that carry on with the numbers
the originals give."""

from __future__ import annotations

import copy

import cloudpickle
import numpy as np
import pytest
import torch
from torch import nn

from hybrid import fast_analog
from hybrid.layers import HybridLayer
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


# --- copies ----------------------------------------------------------------------------

ROUND_TRIPS = {
    "deepcopy": copy.deepcopy,
    "cloudpickle": lambda value: cloudpickle.loads(cloudpickle.dumps(value)),
}


def programmed_layer() -> HybridLayer:
    torch.manual_seed(0)
    layer = HybridLayer(nn.Linear(16, 4), "pcm-strong-drift")
    layer.set_analog(True)
    layer.drift_to(3600.0)
    return layer


@pytest.mark.parametrize("round_trip", list(ROUND_TRIPS))
def test_a_copied_layer_is_in_sync_and_reprograms_like_the_original(round_trip: str) -> None:
    original = programmed_layer()
    copied = ROUND_TRIPS[round_trip](original)
    assert not copied._analog_changed()
    x = torch.randn(3, 16)
    outputs = []
    for layer in (original, copied):
        torch.manual_seed(5)
        layer.drift_to(86400.0)  # would reprogram (other noise) if the copy read as changed
        with torch.no_grad():
            outputs.append(layer(x))
    assert torch.equal(outputs[0], outputs[1])


@pytest.mark.parametrize("round_trip", list(ROUND_TRIPS))
def test_a_copy_taken_after_a_digital_update_still_syncs_it(round_trip: str) -> None:
    """Digital weights changed after the last sync (an optimiser step) are still copied onto
    the tile when the copy switches to analog, as in the original."""
    original = programmed_layer()
    original.set_analog(False)
    with torch.no_grad():
        original.digital.weight.mul_(-1.0)  # an optimiser step not yet on the tile
    copied = ROUND_TRIPS[round_trip](original)
    x = torch.randn(3, 16)
    outputs = []
    for layer in (original, copied):
        torch.manual_seed(5)
        layer.set_analog(True)
        with torch.no_grad():
            outputs.append(layer(x))
    assert torch.equal(outputs[0], outputs[1])
    with torch.no_grad():
        digital = nn.functional.linear(x, copied.digital.weight, copied.digital.bias)
    assert torch.nn.functional.cosine_similarity(outputs[1].flatten(), digital.flatten(), 0) > 0.9


@pytest.mark.parametrize("round_trip", list(ROUND_TRIPS))
def test_a_copied_evaluator_continues_with_identical_numbers(
    digits_pretrained: PretrainedModel, round_trip: str
) -> None:
    """The copy evaluates states it has not seen (its first uncached evaluation used to raise
    KeyError) and gives the numbers the original and a fresh evaluator give."""
    original = make_evaluator(digits_pretrained, "pcm-strong-drift")
    original.evaluate(STATES[0])  # some caches warm, the tiles in some state
    original.layer_noise(1, (0, 1.0))
    copied = ROUND_TRIPS[round_trip](original)
    copied_numbers = numbers(copied)
    assert_same_numbers(copied_numbers, numbers(original))
    assert_same_numbers(
        copied_numbers, numbers(make_evaluator(digits_pretrained, "pcm-strong-drift"))
    )


# --- the traced graph ------------------------------------------------------------------


class _Untraceable(nn.Module):
    """A model whose forward branches on its data: torch.fx cannot trace it."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor):
        if x.sum() > 0:
            return self.net(x)
        return self.net(-x)


@pytest.mark.parametrize("hardware", ["pcm-strong-drift", "paper-pcm"])
def test_the_traced_graph_gives_the_numbers_of_the_model_s_own_forward(
    digits_pretrained: PretrainedModel, hardware: str
) -> None:
    """Running the traced graph (memoising pooling, activations, flattening) changes no number:
    the same evaluations and layer noises, in any order, as the model's own forward."""
    graph = make_evaluator(digits_pretrained, hardware)
    assert graph.runs_graph
    forward = make_evaluator(digits_pretrained, hardware)
    forward.run_model_forward()  # the layers memoised, the rest run by the model's forward
    first = numbers(graph)
    assert_same_numbers(first, numbers(forward))
    assert_same_numbers(first, numbers(graph))  # all from the caches now
    assert graph.stats.evaluation_hits == len(STATES)
    # A mix of seen and new states: every value between layers comes back from the memo.
    hits = graph.stats.activation_hits
    graph._evaluations.clear()
    assert_same_numbers(first, numbers(graph))
    assert graph.stats.activation_hits > hits and graph.stats.input_preparations > 0


def test_a_model_with_several_heads_of_its_own_runs_the_graph() -> None:
    from examples.three_tasks import build
    from hybrid.layers import make_hybrid

    torch.manual_seed(0)
    model, data = build()
    model = make_hybrid(model, "pcm-strong-drift").eval()
    split = data.val.subset(40)
    names = [spec.name for spec in layer_specs(model, data.input_shape)]
    graph = CachedEvaluator(model, split.images, task_targets(split), seed=2, layer_names=names)
    forward = copy.deepcopy(graph)
    forward.run_model_forward()
    assert graph.runs_graph
    states = [(0, 3600.0) if i % 2 else None for i in range(len(names))]
    for trial in (states, [None] * len(names), [(1, 86400.0)] * len(names)):
        assert same(graph.evaluate(trial), forward.evaluate(trial))


def test_a_model_fx_cannot_trace_runs_its_own_forward(digits_pretrained) -> None:
    model = _Untraceable(digits_pretrained.instantiate("pcm-strong-drift")).eval()
    split = digits_pretrained.dataset.test.subset(EVAL_SIZE)
    names = ["net." + spec.name for spec in layer_specs(model.net, (1, 8, 8))]
    evaluator = CachedEvaluator(model, split.images, task_targets(split), seed=4, layer_names=names)
    assert not evaluator.runs_graph
    reference = make_evaluator(digits_pretrained, "pcm-strong-drift")
    for states in STATES:
        assert same(evaluator.evaluate(states), reference.evaluate(states))
