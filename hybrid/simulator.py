"""Fast, exact-by-construction evaluation of a hybrid model under many analog tile states.

A reinforcement-learning environment asks the same question hundreds of thousands of times:
"how well does the model do on this evaluation batch when these layers are analog, each
programmed at some moment and read some seconds later?" Simulating the analog layers costs
about 15x a digital pass, so :class:`CachedEvaluator` answers it with reuse, not with a
stand-in model:

* **Frozen noise, seeded by state.** Every random draw (programming noise of programming event
  ``programming_id`` of layer ``i``, read noise at age ``t``, the output noise of a forward
  pass) comes from torch's generator seeded by a hash of what it belongs to. The result of an
  evaluation is therefore a pure function of the layer states: caching cannot change it, the
  same states always give the same numbers, and the caller's global RNG is never touched.
* **Tile states cached.** The programmed conductances of each (layer, programming event) and the
  drifted read-out of each (layer, programming event, age) are computed once by AIHWKit and
  restored afterwards by a tensor copy.
* **Activations memoised by prefix.** Layer ``p`` (in execution order) sees an input that
  depends only on the states of the layers executed before it, so its output is memoised under
  the tuple of states of layers ``0..p``. A step that changes only the last layers recomputes
  only those; a configuration seen before costs a dictionary lookup.
* **The operations between layers memoised too.** Where ``torch.fx`` can trace the model (hybrid
  layers as leaves), the evaluator runs the traced graph itself and memoises every value that
  feeds a hybrid layer or the output (a pooled, flattened or activated input, say) under the
  states of the layers before it, so an evaluation that reuses a layer's output does not redo
  the activation and pooling after it (on the CIFAR-sized network those took three quarters of
  the oracle's time). The same operations on the same tensors: the same numbers. A model fx
  cannot trace runs its own forward, as before.
* **Analog inputs prepared once.** An analog layer's forward is :mod:`hybrid.fast_analog`'s,
  which gives AIHWKit's outputs bit for bit but splits off the part that depends only on the
  layer input (unfolding, noise management, input quantisation): that part is memoised under
  the states of layers ``0..p-1``, so a new chip, age or programming event of layer ``p``
  costs only the tile side (matrix product, output noise and quantisation).

All caches are bounded (least recently used entries evicted first).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from hybrid import fast_analog
from hybrid.layers import HybridLayer, hybrid_layers

ACTIVATION_SHARE = 0.6
"""Share of ``cache_mb`` given to memoised layer outputs."""
PREPARED_SHARE = 0.15
"""Share of ``cache_mb`` given to prepared analog inputs (the rest, 0.25, holds tile states).
Their own budget, because a prepared convolution input is ``kh * kw`` times the input and most
of those under analog prefixes are never reused in a cold run: sharing the activations'
budget, they took 43% more memory after 96 random steps on the CIFAR-sized net. The ones
reused at every step (the batches themselves, digital prefixes, probes) are about 60 MB
there."""
MAX_EVALUATIONS = 200_000
"""Whole-evaluation results kept (a few hundred bytes each, plus the per-sample hits)."""

#: The state of one layer for an evaluation: ``None`` = digital, else
#: ``(programming_id, age_s)``: analog, read ``age_s`` seconds after programming event
#: ``programming_id`` (whose noise draw the id selects).
LayerState = tuple[int, float] | None


@dataclass(frozen=True)
class Evaluation:
    """Outcome of one evaluation of every task on the evaluation batch.

    Attributes:
        losses: mean cross-entropy per task (nats).
        accuracies: fraction correct per task.
        correct: per task, a boolean array with one entry per evaluation sample.
    """

    losses: np.ndarray
    accuracies: np.ndarray
    correct: tuple[np.ndarray, ...]


class _LRU:
    """A dictionary bounded by the bytes of its values (oldest entries evicted first)."""

    def __init__(self, max_bytes: int, size_of: Callable[[Any], int]) -> None:
        self.max_bytes = max_bytes
        self.size_of = size_of
        self.data: OrderedDict[Hashable, Any] = OrderedDict()
        self.bytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Any:
        value = self.data.get(key)
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        self.data.move_to_end(key)
        return value

    def put(self, key: Hashable, value: Any) -> bool:
        """Store ``value``; False if it is not kept (too large for the whole budget)."""
        size = self.size_of(value)
        if key in self.data:
            return True
        if size > self.max_bytes:
            return False  # a value larger than the whole budget would evict everything, then itself
        self.data[key] = value
        self.bytes += size
        while self.bytes > self.max_bytes and len(self.data) > 1:
            _, old = self.data.popitem(last=False)
            self.bytes -= self.size_of(old)
        return True

    def clear(self) -> None:
        self.data.clear()
        self.bytes = 0


def _tensor_bytes(tensor: torch.Tensor) -> int:
    return tensor.numel() * tensor.element_size()


def _prepared_bytes(prepared: fast_analog.PreparedInput) -> int:
    return prepared.nbytes


def _snapshot_bytes(snapshot: Any) -> int:
    return snapshot.nbytes


def _seed(*parts: Any) -> int:
    """A 63-bit seed from numbers and (nested) tuples of numbers or None.

    Python hashes numeric tuples identically in every process; ``None`` (whose hash is its
    address in Python 3.11) is replaced by a number first.
    """
    return hash(_numeric(parts)) & 0x7FFF_FFFF_FFFF_FFFF


def _numeric(value: Any) -> Any:
    if value is None:
        return -1
    if isinstance(value, tuple):
        return tuple(_numeric(item) for item in value)
    return value


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block with torch's CPU generator seeded by ``seed``, then restore its state.

    AIHWKit draws its noise from torch's global generator; this keeps the caller's random
    stream (a PPO learner in the same process, say) untouched. It works on the CPU generator
    directly because ``torch.manual_seed`` also seeds lazily-initialised accelerator
    generators, which costs about a millisecond per call on a CUDA build of torch.
    """
    generator = torch.default_generator
    saved = generator.get_state()
    generator.manual_seed(seed)
    try:
        yield
    finally:
        generator.set_state(saved)


@dataclass(frozen=True)
class _Ref:
    """A reference, inside a step's arguments, to the value of an earlier step."""

    index: int


@dataclass(frozen=True)
class _Step:
    """One operation of a model's forward, as traced by torch.fx.

    ``kind`` is ``input``, ``layer`` (target: the hybrid layer's position), ``module``
    (target: a submodule's qualified name), ``function``, ``method``, ``attr`` or ``output``;
    ``depth``: how many leading layer states the value depends on (1 + the position of the
    last hybrid layer upstream of it, 0 for none); ``cached``: memoised, because it feeds a
    hybrid layer or the output.
    """

    kind: str
    target: Any
    args: tuple
    kwargs: dict
    depth: int
    cached: bool


class _LeafTracer(fx.Tracer):
    """torch.fx tracer that keeps hybrid layers whole (their forward is the evaluator's)."""

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        return isinstance(module, HybridLayer) or super().is_leaf_module(module, qualified_name)


def plan_forward(model: nn.Module, layer_names: Sequence[str]) -> tuple[_Step, ...] | None:
    """The model's forward as a list of :class:`_Step` (topological order), or None where it
    cannot be run that way: torch.fx cannot trace it (data-dependent control flow, say), it
    takes more than one input, or it does not call each of ``layer_names`` exactly once, in
    that order."""
    try:
        graph = _LeafTracer().trace(model)
    except Exception:  # noqa: BLE001 - any tracing failure means: run the model's own forward
        return None
    nodes = list(graph.nodes)
    index = {node: i for i, node in enumerate(nodes)}
    position = {name: p for p, name in enumerate(layer_names)}
    if sum(node.op == "placeholder" for node in nodes) != 1:
        return None
    called = [node.target for node in nodes if node.op == "call_module" and node.target in position]
    if called != list(layer_names):
        return None
    for node in nodes:  # an in-place operation could overwrite a memoised value
        inplace = node.kwargs.get("inplace") is True or (
            node.op == "call_method"
            and node.target.endswith("_")
            and not node.target.endswith("__")
        )
        if node.op == "call_module" and node.target not in position:
            inplace = inplace or getattr(model.get_submodule(node.target), "inplace", False)
        if inplace:
            return None
    consumers_feed: set[fx.Node] = set()
    for node in nodes:
        if node.op == "output" or (node.op == "call_module" and node.target in position):
            consumers_feed.update(node.all_input_nodes)
    depth: dict[fx.Node, int] = {}
    steps: list[_Step] = []
    for node in nodes:
        upstream = max((depth[n] for n in node.all_input_nodes), default=0)
        args = fx.node.map_arg(node.args, lambda n: _Ref(index[n]))
        kwargs = dict(fx.node.map_arg(node.kwargs, lambda n: _Ref(index[n])))
        if node.op == "placeholder":
            kind, target = "input", None
        elif node.op == "call_module" and node.target in position:
            kind, target = "layer", position[node.target]
            upstream = position[node.target] + 1
        else:
            kinds = {
                "call_module": "module",
                "call_function": "function",
                "call_method": "method",
                "get_attr": "attr",
                "output": "output",
            }
            kind, target = kinds[node.op], node.target
        depth[node] = upstream
        cached = node in consumers_feed and kind != "input"  # the batch is at hand anyway
        steps.append(_Step(kind, target, tuple(args), kwargs, upstream, cached))
    return tuple(steps)


def _last_uses(plan: tuple[_Step, ...]) -> tuple[int, ...]:
    """For each step, the index of the last step that reads its value (itself if none)."""
    last = list(range(len(plan)))
    for index, step in enumerate(plan):
        for ref in _refs((step.args, step.kwargs)):
            last[ref] = max(last[ref], index)
    return tuple(last)


def _resolve(value: Any, values: list[Any]) -> Any:
    """``value`` with every :class:`_Ref` replaced by the step value it points to."""
    return fx.node.map_aggregate(value, lambda v: values[v.index] if isinstance(v, _Ref) else v)


def _refs(value: Any) -> list[int]:
    """The step indices ``value`` refers to."""
    found: list[int] = []
    fx.node.map_aggregate(value, lambda v: found.append(v.index) if isinstance(v, _Ref) else None)
    return found


@dataclass
class CacheStats:
    """Hit/miss counts, for benchmarks and for the curious."""

    activation_hits: int = 0
    activation_misses: int = 0
    evaluation_hits: int = 0
    evaluation_misses: int = 0
    tile_programs: int = 0
    tile_reads: int = 0
    input_preparations: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class CachedEvaluator:
    """Evaluate a hybrid multi-task model on one fixed batch under per-layer analog states.

    Args:
        model: a model whose toggleable layers are :class:`HybridLayer` (e.g. ``MTLNet``) and
            whose forward returns one logits tensor per task.
        images: the evaluation batch (N, C, H, W).
        targets: one int64 label tensor (N,) per task.
        seed: base of every noise draw (a different seed = a different chip).
        cache_mb: memory bound of the activation and tile caches, in MiB.
        probe_size: images used by :meth:`layer_noise` to measure each layer in isolation.
        probe_images: the images :meth:`layer_noise` uses (default: the first ``probe_size``
            of ``images``). Give calibration images to keep measurements off the evaluation set.

    More batches (a calibration set, say) can be added with :meth:`add_batch` and evaluated
    with ``evaluate(states, batch=name)``; they share the tile caches.

    Layer order is execution order (as ``hybrid.models.layer_specs`` lists it), given by
    ``layer_names``. The evaluator owns the model's analog tiles: it remembers which state it
    last put each tile in, so give each evaluator its own model and do not program or drift the
    model's layers behind its back.
    """

    def __init__(
        self,
        model: nn.Module,
        images: torch.Tensor,
        targets: Sequence[torch.Tensor],
        seed: int = 0,
        cache_mb: int = 1024,
        probe_size: int = 64,
        layer_names: Sequence[str] | None = None,
        probe_images: torch.Tensor | None = None,
    ) -> None:
        self.model = model.eval()
        self.images = images
        self.targets = tuple(targets)
        self._batches: dict[str, tuple[int, torch.Tensor, tuple[torch.Tensor, ...]]] = {
            "eval": (0, images, self.targets)
        }
        self.seed = int(seed)
        by_name = dict(hybrid_layers(model))
        names = list(layer_names) if layer_names is not None else list(by_name)
        self.layer_names = tuple(names)
        self.layers: tuple[HybridLayer, ...] = tuple(by_name[n] for n in names)
        budget = int(cache_mb) * 2**20
        # Activations dominate memory; tile states are bounded (layers x chips x ages).
        self._activations = _LRU(int(budget * ACTIVATION_SHARE), _tensor_bytes)
        self._prepared = _LRU(int(budget * PREPARED_SHARE), _prepared_bytes)
        tile_share = 1 - ACTIVATION_SHARE - PREPARED_SHARE
        self._tiles = _LRU(int(budget * tile_share), _snapshot_bytes)
        self._probe_prepared: dict[tuple, fast_analog.PreparedInput] = {}
        self._evaluations: OrderedDict[tuple, Evaluation] = OrderedDict()
        self._noise: dict[tuple, float] = {}
        self._current_tile: dict[int, LayerState] = {}
        self._states: tuple[LayerState, ...] = ()
        self._batch_id = 0
        self.stats = CacheStats()
        self._probe_source = (
            probe_images[:probe_size] if probe_images is not None else images[:probe_size]
        )
        self.probe_size = len(self._probe_source)
        """Images :meth:`layer_noise` uses at most."""
        self._probe_inputs: list[torch.Tensor] | None = None
        self._probe_outputs: list[torch.Tensor] | None = None
        self._plan = plan_forward(self.model, self.layer_names)
        # Per step, the steps it reads and the last step reading it: computed once per plan,
        # not at every evaluation (the environment's step runs several evaluations).
        self._plan_refs = [_refs((s.args, s.kwargs)) for s in self._plan or ()]
        self._last_use = _last_uses(self._plan) if self._plan is not None else ()
        self.tile_variation: Callable[[HybridLayer, int, int], None] | None = None
        """Called as ``tile_variation(layer, index, programming_id)`` before a tile is programmed
        or read: a per-chip process variation (``hybrid.variation.TileVariation``); its draw
        must be a function of the programming id, which keys every tile cache."""

    def __getstate__(self) -> dict[str, Any]:
        """State for ``copy.deepcopy`` and pickling: everything, except the record of which
        state each tile is in, so a copy puts its tiles into their states afresh from the
        caches (or the seeds) rather than trusting what AIHWKit's pickling carried over."""
        state = self.__dict__.copy()
        state["_current_tile"] = {}
        return state

    @property
    def n_layers(self) -> int:
        """Number of toggleable layers."""
        return len(self.layers)

    @property
    def runs_graph(self) -> bool:
        """Whether evaluations run the model's traced graph (memoising the operations between
        layers) rather than the model's own forward (a model torch.fx cannot trace)."""
        return self._plan is not None

    def run_model_forward(self) -> None:
        """Evaluate through the model's own forward from now on, as for a model torch.fx cannot
        trace (the same numbers, slower: for side-by-side comparisons)."""
        self._plan = None

    # -- public ------------------------------------------------------------------------------
    def add_batch(self, name: str, images: torch.Tensor, targets: Sequence[torch.Tensor]) -> None:
        """Register another fixed batch (e.g. ``"calibration"``) for :meth:`evaluate`."""
        if name in self._batches:
            raise ValueError(f"batch {name!r} already exists")
        self._batches[name] = (len(self._batches), images, tuple(targets))

    def batch(self, name: str) -> tuple[int, torch.Tensor, tuple[torch.Tensor, ...]]:
        """Batch ``name``'s number (part of the seed of every analog draw on it), images and
        targets."""
        if name not in self._batches:
            raise ValueError(f"unknown batch {name!r}; batches: {', '.join(self._batches)}")
        return self._batches[name]

    @property
    def probe_images(self) -> torch.Tensor:
        """The images :meth:`layer_noise` measures on (the first ``images`` of them)."""
        return self._probe_source

    def evaluate(self, states: Sequence[LayerState], batch: str = "eval") -> Evaluation:
        """Losses and accuracies of every task on ``batch`` with each layer in ``states[i]``."""
        states = self._normalise(states)
        batch_id, images, targets = self.batch(batch)
        memo_key = (batch_id, states)
        cached = self._evaluations.get(memo_key)
        if cached is not None:
            self.stats.evaluation_hits += 1
            self._evaluations.move_to_end(memo_key)
            return cached
        self.stats.evaluation_misses += 1
        self._batch_id = batch_id
        outputs = self._forward(states, images)
        losses, accuracies, correct = [], [], []
        for logits, target in zip(outputs, targets, strict=True):
            losses.append(F.cross_entropy(logits, target).item())
            hits = (logits.argmax(dim=1) == target).numpy()
            correct.append(hits)
            accuracies.append(float(hits.mean()))
        result = Evaluation(np.array(losses), np.array(accuracies), tuple(correct))
        self._evaluations[memo_key] = result
        if len(self._evaluations) > MAX_EVALUATIONS:
            self._evaluations.popitem(last=False)
        return result

    def layer_noise(self, index: int, state: LayerState, images: int | None = None) -> float:
        """Relative output error of layer ``index`` alone in ``state`` against its digital
        output, on digital inputs: ||y_analog - y_digital|| / ||y_digital|| (0 if digital),
        on the first ``images`` probe images (default: all ``probe_size``).

        This is what a deployed chip can measure with a few calibration inputs.
        """
        if state is None:
            return 0.0
        state = (int(state[0]), float(state[1]))
        count = self.probe_size if images is None else min(int(images), self.probe_size)
        if count < 1:
            raise ValueError(f"a noise measurement needs at least one image, got {images}")
        whole = count == self.probe_size
        key = (index, state) if whole else (index, state, count)
        value = self._noise.get(key)
        if value is not None:
            return value
        if self._probe_inputs is None:
            self._capture_probe()
        x = self._probe_inputs[index][:count]
        reference = self._probe_outputs[index][:count]
        self._set_tile(index, state)
        with torch.no_grad(), seeded(_seed(self.seed, 3, *key)):
            input_key = ("probe", index) if whole else ("probe", index, count)
            analog = self._analog_forward(index, x, input_key)
        value = float((analog - reference).norm() / reference.norm().clamp_min(1e-12))
        self._noise[key] = value
        return value

    def clear(self) -> None:
        """Drop every cached result (e.g. after the model's weights changed)."""
        self._activations.clear()
        self._prepared.clear()
        self._probe_prepared.clear()
        self._tiles.clear()
        self._evaluations.clear()
        self._noise.clear()
        self._current_tile.clear()
        self._probe_inputs = self._probe_outputs = None

    # -- internals ---------------------------------------------------------------------------
    def _normalise(self, states: Sequence[LayerState]) -> tuple[LayerState, ...]:
        if len(states) != self.n_layers:
            raise ValueError(f"expected {self.n_layers} layer states, got {len(states)}")
        return tuple(None if s is None else (int(s[0]), float(s[1])) for s in states)

    def _forward(self, states: tuple[LayerState, ...], images: torch.Tensor) -> Any:
        self._states = states
        if self._plan is not None:
            with torch.no_grad():
                return self._run_plan(self._plan, images)
        # Each override knows its layer's position: no lookup by id(), which a deep copy or a
        # pickle round trip of the evaluator would invalidate.
        for position, layer in enumerate(self.layers):
            layer.forward_override = partial(self._memoised_forward, position)
        try:
            with torch.no_grad():
                return self.model(images)
        finally:
            for layer in self.layers:
                layer.forward_override = None

    def _layer_key(self, position: int) -> tuple:
        """The memo key of layer ``position``'s output (and the seed of its analog draws): the
        batch and the states of layers ``0..position``."""
        return (self._batch_id, *self._states[: position + 1])

    def _step_key(self, index: int, step: _Step) -> tuple:
        """The memo key of a step's value: a layer's own key, or the step and the states its
        value depends on."""
        if step.kind == "layer":
            return self._layer_key(step.target)
        return ("value", index, self._batch_id, *self._states[: step.depth])

    def _run_plan(self, plan: tuple[_Step, ...], images: torch.Tensor) -> Any:
        """The model's output for ``self._states``, running only the steps whose value is
        neither memoised nor needed by none (walked back from the output)."""
        values: list[Any] = [None] * len(plan)
        ready = [False] * len(plan)
        needed = [False] * len(plan)
        stack = [len(plan) - 1]  # the output step is the last
        while stack:
            index = stack.pop()
            if needed[index]:
                continue
            needed[index] = True
            step = plan[index]
            if step.cached:
                value = self._activations.get(self._step_key(index, step))
                if value is not None:
                    self.stats.activation_hits += 1
                    values[index], ready[index] = value, True
                    continue
            stack.extend(self._plan_refs[index])
        last_use = self._last_use
        for index, step in enumerate(plan):
            if needed[index] and not ready[index]:
                values[index] = self._run_step(index, step, values, images)
                # Drop what no later step reads (a ResNet's activations on the evaluation
                # batch are tens of MB each; the memoised ones live on in the cache).
                for ref in self._plan_refs[index]:
                    if last_use[ref] == index:
                        values[ref] = None
        return values[-1]

    def _run_step(self, index: int, step: _Step, values: list[Any], images: torch.Tensor) -> Any:
        if step.kind == "input":
            return images
        args, kwargs = _resolve(step.args, values), _resolve(step.kwargs, values)
        if step.kind == "layer":
            layer = self.layers[step.target]
            return self._memoised_forward(step.target, layer, args[0], cache=step.cached)
        if step.kind == "output":
            return args[0]
        if step.kind == "module":
            value = self.model.get_submodule(step.target)(*args, **kwargs)
        elif step.kind == "function":
            value = step.target(*args, **kwargs)
        elif step.kind == "method":
            value = getattr(args[0], step.target)(*args[1:], **kwargs)
        else:  # attr
            value = self.model
            for name in step.target.split("."):
                value = getattr(value, name)
        if step.cached and isinstance(value, torch.Tensor):
            self.stats.activation_misses += 1
            self._activations.put(self._step_key(index, step), value)
        return value

    def _memoised_forward(
        self, position: int, layer: HybridLayer, x: torch.Tensor, cache: bool = True
    ) -> torch.Tensor:
        """Layer ``position``'s output for ``self._states`` (memoised unless ``cache`` is
        False: on the graph path, a layer whose output only feeds operations whose own values
        are memoised)."""
        key = self._layer_key(position)
        out = self._activations.get(key) if cache else None
        if out is not None:
            self.stats.activation_hits += 1
            return out
        self.stats.activation_misses += 1
        state = self._states[position]
        if state is None:
            out = layer.digital(x)
        else:
            self._set_tile(position, state)
            # The layer's input is a function of the states before it: key its prepared form so.
            input_key = key[:-1]
            with seeded(_seed(self.seed, key)):
                out = self._analog_forward(position, x, input_key)
        if cache:
            self._activations.put(key, out)
        return out

    def _analog_forward(self, index: int, x: torch.Tensor, input_key: tuple) -> torch.Tensor:
        """``layers[index].analog(x)`` for its current tile state, through
        :mod:`hybrid.fast_analog` (same numbers, same random draws) with the input side
        memoised under ``input_key``; AIHWKit's own forward where the fast path does not apply.
        """
        module = self.layers[index].analog
        if not fast_analog.supports(module):
            return module(x)
        # Probe inputs (a few images per layer, reused at every step) are kept apart from the
        # evaluation batches', whose larger prepared inputs would evict them.
        probe = input_key[0] == "probe"
        prepared = self._probe_prepared.get(input_key) if probe else self._prepared.get(input_key)
        kept = True
        if prepared is None:
            prepared = fast_analog.prepare_input(module, x)
            if probe:
                self._probe_prepared[input_key] = prepared
            else:
                kept = self._prepared.put(input_key, prepared)
            self.stats.input_preparations += 1
        # An input too large to keep is used once: its rows may take a later round's values.
        return fast_analog.analog_forward(module, prepared, consume=not kept)

    def _set_tile(self, index: int, state: tuple[int, float]) -> None:
        """Put layer ``index``'s tiles into ``state`` (programming event, age)."""
        if self._current_tile.get(index) == state:
            return
        layer = self.layers[index]
        programming_id, age_s = state
        read_key = (index, programming_id, age_s)
        snapshot = self._tiles.get(read_key)
        if snapshot is None:
            variation = getattr(self, "tile_variation", None)  # absent from older pickles
            if variation is not None:
                variation(layer, index, programming_id)
            program_key = (index, programming_id)
            programmed = self._tiles.get(program_key)
            if programmed is None:
                with seeded(_seed(self.seed, 1, index, programming_id)):
                    layer.program()
                self.stats.tile_programs += 1
                programmed = layer.snapshot(include_read=False)
                self._tiles.put(program_key, programmed)
            with seeded(_seed(self.seed, 2, index, programming_id, age_s)):
                layer.restore(programmed, age_s)  # drifts to age_s: read noise drawn here
            self.stats.tile_reads += 1
            snapshot = layer.snapshot(include_read=True)
            self._tiles.put(read_key, snapshot)
        else:
            layer.restore(snapshot, age_s)
        self._current_tile[index] = state

    def _capture_probe(self) -> None:
        """Record each layer's digital input and output on the probe images."""
        inputs: dict[int, torch.Tensor] = {}
        outputs: dict[int, torch.Tensor] = {}

        def record(position: int, layer: HybridLayer, x: torch.Tensor) -> torch.Tensor:
            out = layer.digital(x)
            inputs[position], outputs[position] = x, out
            return out

        for position, layer in enumerate(self.layers):
            layer.forward_override = partial(record, position)
        try:
            with torch.no_grad():
                self.model(self._probe_source)
        finally:
            for layer in self.layers:
                layer.forward_override = None
        self._probe_inputs = [inputs[p] for p in range(self.n_layers)]
        self._probe_outputs = [outputs[p] for p in range(self.n_layers)]
