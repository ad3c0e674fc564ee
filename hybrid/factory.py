"""Models by reference: a factory named by an import path, and weights from a file.

A model factory is a function named ``"package.module:function"`` (an import path, so that a
run's ``config.json`` stays JSON and every process, subprocess workers included, can rebuild
the model). Called with the keyword ``options`` (none by default), it returns either

* a torch model whose forward returns one logits tensor per task: the tasks are the dataset's
  (by default the paper's two tasks on ``digits``), or
* ``(model, data)``: the model and its :class:`~hybrid.data.DatasetBundle` (its tasks in head
  order), e.g. ``load_dataset("digits").with_tasks([...])`` or ``multitask_dataset(...)``.

The module must be importable where the command runs: the repository root (``examples``), an
installed package, or a folder on ``PYTHONPATH``. :func:`load_weights` puts the weights of a
file the user gives (``torch.save(model.state_dict(), path)``) into a model, plain or hybrid.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hybrid.data import DatasetBundle

ModelFactory = Callable[..., Any]
"""A function returning a torch model, or ``(model, DatasetBundle)``."""


def import_factory(reference: str) -> ModelFactory:
    """The function named by ``"package.module:function"``, or a one-line ValueError."""
    module_name, separator, attribute = str(reference).partition(":")
    if not separator or not module_name or not attribute:
        raise ValueError(
            f"model factory {reference!r} must be an import path 'package.module:function'"
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            raise ValueError(
                f"model factory {reference!r}: no module {error.name!r} is importable here; run "
                "from the folder that holds it, install its package, or add its folder to "
                "PYTHONPATH"
            ) from None
        raise ValueError(f"model factory {reference!r}: importing it failed ({error})") from None
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ValueError(f"model factory {reference!r}: {module_name} has no {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"model factory {reference!r} is not a function")
    return target


def build_from_factory(
    reference: str, options: Mapping[str, Any] | None = None
) -> tuple[nn.Module, DatasetBundle | None]:
    """Call the factory ``reference`` with ``options``; the model and its data (None when the
    factory returned a model alone), or a one-line ValueError saying what it returned."""
    factory = import_factory(reference)
    options = dict(options or {})
    try:
        inspect.signature(factory).bind(**options)
    except TypeError as error:
        raise ValueError(
            f"model factory {reference!r} does not accept the options "
            f"{sorted(options) or 'given'} ({error})"
        ) from None
    except ValueError:  # no signature (a builtin): let the call decide
        pass
    result = factory(**options)
    model, data = (result, None) if isinstance(result, nn.Module) else _model_and_data(result)
    if model is None:
        raise ValueError(
            f"model factory {reference!r} returned {type(result).__name__}: return a torch "
            "model, or (model, data) with data a hybrid.data.DatasetBundle"
        )
    return model, data


def _model_and_data(result: Any) -> tuple[nn.Module | None, DatasetBundle | None]:
    if (
        isinstance(result, (tuple, list))
        and len(result) == 2
        and isinstance(result[0], nn.Module)
        and isinstance(result[1], DatasetBundle)
    ):
        return result[0], result[1]
    return None, None


def weights_digest(path: str | Path) -> str:
    """The first 16 hex digits of the file's SHA-256: which weights a run used."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def tensor_digest(*tensors: torch.Tensor) -> str:
    """The first 16 hex digits of a SHA-256 over the tensors' dtypes, shapes and values: which
    images, targets or weights a measurement used."""
    digest = hashlib.sha256()
    for tensor in tensors:
        _add_tensor(digest, tensor)
    return digest.hexdigest()[:16]


def state_digest(model: nn.Module) -> str:
    """The first 16 hex digits of a SHA-256 over a model's weights in memory: every parameter
    and buffer by its plain name, with its dtype, shape and values (an analog tile's state,
    rebuilt from the digital weights, is left out)."""
    own = [
        (plain, tensor)
        for key, tensor in [*model.named_parameters(), *model.named_buffers()]
        if (plain := _plain_name(key))
    ]
    digest = hashlib.sha256()
    for name, tensor in sorted(own, key=lambda item: item[0]):
        digest.update(f"{name}:".encode())
        _add_tensor(digest, tensor)
    return digest.hexdigest()[:16]


def _add_tensor(digest: Any, tensor: torch.Tensor) -> None:
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    digest.update(f"{flat.dtype}{tuple(tensor.shape)};".encode())
    digest.update(flat.view(torch.uint8).numpy().tobytes())


def _plain_name(name: str) -> str | None:
    """A parameter's name as in the plain torch model (``fc1.weight``), or None for the state
    of an analog tile (rebuilt from the digital weights, never loaded)."""
    parts = name.split(".")
    if "analog" in parts[:-1]:
        return None
    return ".".join(part for part in parts[:-1] if part != "digital") + "." + parts[-1]


def load_weights(model: nn.Module, path: str | Path) -> None:
    """Load the weights saved at ``path`` into ``model``, in place.

    The file holds a state dict (``torch.save(model.state_dict(), path)``; of the plain or the
    hybrid model) or a ``hybrid.pretrain`` cache file. Every parameter and buffer of the model
    must be in the file with its shape, and nothing else: otherwise a one-line ValueError
    names what differs. Hybrid layers pick the new weights up on their next analog use.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"model weights {path} do not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same advice
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(
            f"model weights {path} could not be read ({reason}): save them with "
            "torch.save(model.state_dict(), path)"
        ) from None
    if isinstance(payload, dict) and isinstance(payload.get("weights"), dict):
        payload = payload["weights"]  # a hybrid.pretrain cache file
    elif isinstance(payload, dict) and isinstance(payload.get("state_dict"), dict):
        payload = payload["state_dict"]
    if not isinstance(payload, dict) or not all(
        isinstance(v, torch.Tensor) for v in payload.values()
    ):
        raise ValueError(
            f"model weights {path} hold no state dict: save them with "
            "torch.save(model.state_dict(), path)"
        )
    saved = {plain: value for key, value in payload.items() if (plain := _plain_name(key))}
    own = {
        plain: tensor
        for key, tensor in [*model.named_parameters(), *model.named_buffers()]
        if (plain := _plain_name(key))
    }
    missing, unexpected = sorted(set(own) - set(saved)), sorted(set(saved) - set(own))
    if missing or unexpected:
        raise ValueError(
            f"model weights {path} do not fit the model: missing {_few(missing)}, unexpected "
            f"{_few(unexpected)}"
        )
    misshapen = [k for k in own if tuple(own[k].shape) != tuple(saved[k].shape)]
    if misshapen:
        raise ValueError(
            f"model weights {path} do not fit the model: "
            + ", ".join(
                f"{k} is {tuple(saved[k].shape)} in the file, {tuple(own[k].shape)} in the model"
                for k in misshapen[:5]
            )
        )
    with torch.no_grad():
        for key, tensor in own.items():
            tensor.copy_(saved[key])


def _few(names: list[str]) -> str:
    if not names:
        return "none"
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
