"""The run folder: what ``train_agent.py`` writes and every other tool reads.

A run folder holds::

    config.json          the training options ("args"), the environment's id ("env_id") and
                         keyword arguments ("env") and their resolved values ("env_resolved"),
                         the layer names, and the outcome ("result", later "comparison")
    model.zip            the final agent (stable-baselines3 / sb3-contrib archive)
    vecnormalize.pkl     the observation statistics the agent was trained with
    checkpoints/         ppo_<tag>_<steps>_steps.zip and ppo_vecnormalize_<steps>_steps.pkl
    eval/, best/, tb/    validation logs, the best validated agent, tensorboard logs
    heuristics.json      optional: tuned heuristic parameters (benchmarks/tune_heuristics.py
                         --out), which evaluate.py then uses for the heuristics

Agents shipped with the package are run folders too (``model.zip``, ``vecnormalize.pkl`` and
``config.json``) under ``agents/pretrained/``; wherever a run folder is read, a shipped agent's
name (``layers-digits``) stands for its folder when no such path exists.

This module is the only one that knows those names. Errors are :class:`RunFolderError`, one
line that says how to get a usable folder.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import gymnasium as gym

MODEL_FILE = "model.zip"
NORMALIZER_FILE = "vecnormalize.pkl"
CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_PREFIX = "ppo"
"""Checkpoints are ``ppo_<steps>_steps.zip`` (SB3's CheckpointCallback) or
``ppo_<tag>_<steps>_steps.zip`` (an interrupted run)."""
TENSORBOARD_DIR, EVAL_DIR, BEST_DIR = "tb", "eval", "best"
HEURISTICS_FILE = "heuristics.json"
"""Tuned heuristic parameters a run folder may hold (``benchmarks/tune_heuristics.py --out``)."""


SHIPPED_DIR = Path(__file__).resolve().parent / "pretrained"
"""Shipped agents, one run folder each: ``layers-digits`` is the depth-independent layer policy
(``--policy-net layers``) trained with ``train_agent.py``'s defaults (paper network, embedded
digits, scenario strong-drift, 50,000 steps, seed 0), the starting point for placing another
network (``train_agent.py --init-from layers-digits``)."""


class RunFolderError(ValueError):
    """A run folder or model file is missing, incomplete or corrupt; the message says the fix."""


def default_run_dir(dataset: str, scenario: str, seed: int) -> Path:
    """Where a run goes when no ``--out`` is given: ``runs/<dataset>-<scenario>-seed<seed>``."""
    return Path("runs") / f"{dataset}-{scenario}-seed{seed}"


def shipped_or_path(path: str | Path) -> Path:
    """``path``, or the shipped agent of that name (:data:`SHIPPED_DIR`) when no such path
    exists and one is shipped."""
    path = Path(path)
    shipped = SHIPPED_DIR / path
    if not path.exists() and len(path.parts) == 1 and (shipped / MODEL_FILE).exists():
        return shipped
    return path


def shipped_agents() -> list[str]:
    """Names of the agents shipped with the package."""
    return sorted(p.name for p in SHIPPED_DIR.glob("*") if (p / MODEL_FILE).exists())


def resolve_run(path: str | Path) -> tuple[Path, Path]:
    """``(run folder, model file)`` of a run folder, a ``model.zip`` path or a shipped agent's
    name, or a one-line error."""
    path = shipped_or_path(path)
    if path.is_dir():
        folder, model = path, path / MODEL_FILE
    elif path.suffix == ".zip":
        folder, model = path.parent, path
    else:
        raise RunFolderError(
            f"{path} is neither a run folder nor a model.zip: train one with "
            f"`python train_agent.py --out DIR` (shipped agents: {', '.join(shipped_agents())})"
        )
    if not model.exists():
        raise RunFolderError(
            f"no {model.name} in {folder}: train with `python train_agent.py --out {folder}` "
            "(or resume with --resume)"
        )
    if not zipfile.is_zipfile(model):
        raise RunFolderError(f"{model} is corrupt (not a zip archive): retrain or restore it")
    return folder, model


def read_run_config(folder: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a run folder (or shipped agent), or a one-line error saying what is
    missing."""
    path = shipped_or_path(folder) / CONFIG_FILE
    if not path.exists():
        raise RunFolderError(
            f"{path} is missing: the run folder needs the config.json train_agent.py writes"
        )
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise RunFolderError(
            f"{path} is not valid JSON ({error.msg}): restore or retrain"
        ) from None


def write_run_config(folder: str | Path, config: dict[str, Any]) -> None:
    """Write ``config.json`` atomically (an interrupted write never leaves half a file)."""
    write_json(Path(folder) / CONFIG_FILE, config)


def write_json(path: Path, payload: Any) -> None:
    """``payload`` as indented JSON at ``path``, atomically; paths and the like become text."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(jsonable(payload), indent=2))
    tmp.replace(path)


def jsonable(value: Any) -> Any:
    """``value`` with everything JSON cannot hold (paths, numpy scalars) turned into text."""
    return json.loads(json.dumps(value, default=str))


def is_masked(config: dict[str, Any]) -> bool:
    """Whether a run (its ``config.json``) was trained with action masking."""
    return bool(config.get("args", {}).get("mask_reprogram", False))


def env_kwargs_from_config(config: dict[str, Any]) -> dict[str, Any]:
    """The ``gymnasium.make`` keyword arguments a run was trained with."""
    try:
        return dict(config["env"])
    except KeyError:
        raise RunFolderError(
            "config.json has no 'env' section: it was not written by train_agent.py; retrain"
        ) from None


def env_id_from_config(config: dict[str, Any]) -> str:
    """The environment a run was trained in (runs from before HybridTraining-v0 name none:
    HybridPartition-v0)."""
    import envs

    return envs.check_env_id(config.get("env_id", envs.ENV_ID))


def make_env_from_config(config: dict[str, Any], **overrides: Any) -> gym.Env:
    """Rebuild the environment a run was trained in (``overrides`` replace keyword arguments)."""
    return gym.make(env_id_from_config(config), **{**env_kwargs_from_config(config), **overrides})


def heuristic_params(path: Path | None, run: Path | None) -> dict[str, dict[str, Any]]:
    """Parameters per heuristic from ``path`` (or the run's ``heuristics.json``), checked
    against the registry, or {} for the defaults."""
    from agents.base import make_policy, policy_names

    if path is None and run is not None and (run / HEURISTICS_FILE).is_file():
        path = run / HEURISTICS_FILE
    if path is None:
        return {}
    try:
        params = json.loads(Path(path).read_text())["params"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        raise ValueError(
            f"--heuristic-params {path} is not a file written by benchmarks/tune_heuristics.py "
            "--out (JSON with a 'params' mapping)"
        ) from None
    for name, values in params.items():
        if name not in policy_names() or name == "ppo" or not isinstance(values, dict):
            raise ValueError(f"{path}: {name!r} is not a heuristic with parameters")
        try:
            make_policy(name, **values)
        except TypeError:
            raise ValueError(f"{path}: {name} does not take {', '.join(values)}") from None
    print(f"heuristic parameters from {path}: {params}")
    return params


TUNABLE_RULES: tuple[str, ...] = (
    "threshold",
    "greedy",
    "saving-vs-noise",
    "noise-refresh",
    "scheduled-refresh",
    "schedule",
)
"""Rules whose default parameters were tuned on the paper's network (``digits``): on any other
network they are tuned first (``benchmarks/tune_heuristics.py``)."""

NETWORK_KEYS = ("network", "model_factory")
"""The environment options that name a network other than the paper's."""


def network_label(kwargs: dict[str, Any]) -> str | None:
    """The network an environment's keyword arguments deploy when it is not the paper's
    default (``network=`` or ``model_factory=``), else None."""
    if kwargs.get("model_factory"):
        return str(kwargs["model_factory"])
    network = kwargs.get("network", "paper")
    return None if network == "paper" else str(network)


def tune_command(kwargs: dict[str, Any], run: Path | None) -> str:
    """The command that tunes the rules for the network of ``kwargs`` (or of ``run``)."""
    if run is not None:
        return f"python benchmarks/tune_heuristics.py --model {run} --out {run / HEURISTICS_FILE}"
    options = " ".join(
        f"--{key.replace('_', '-')} {kwargs[key]}"
        for key in ("dataset", "scenario", *NETWORK_KEYS)
        if kwargs.get(key)
    )
    return f"python benchmarks/tune_heuristics.py {options} --out heuristics.json"


def check_rules_tuned(
    rules: list[str],
    params: dict[str, dict[str, Any]],
    kwargs: dict[str, Any],
    run: Path | None,
    tuned_on: dict[str, Any] | None = None,
) -> None:
    """A one-line ValueError when a rule of :data:`TUNABLE_RULES` would run on a network other
    than the paper's with parameters tuned for another one: the defaults (tuned on the paper's
    network), or a file tuned on another network (``tuned_on``: its ``tuned_on.env``)."""
    network = network_label(kwargs)
    if tuned_on is not None and network_label(tuned_on) != network:
        source = network_label(tuned_on) or "the paper network"
        raise ValueError(
            f"the heuristic parameters were tuned on {source}, not on "
            f"{network or 'the paper network'}: tune them with {tune_command(kwargs, run)}"
        )
    untuned = [rule for rule in rules if rule in TUNABLE_RULES and rule not in params]
    if network is None or not untuned:
        return
    then = (
        "(evaluate.py reads it from the run)"
        if run is not None
        else "and pass --heuristic-params heuristics.json"
    )
    raise ValueError(
        f"{', '.join(untuned)}: default parameters were tuned on the paper's network, not "
        f"{network}; tune them with {tune_command(kwargs, run)} {then} (or choose untuned rules "
        "with --policies)"
    )


def tuned_on(path: Path | None, run: Path | None) -> dict[str, Any] | None:
    """The environment a heuristic-parameters file was tuned in (its ``tuned_on.env``), or None
    when it does not say."""
    if path is None and run is not None and (run / HEURISTICS_FILE).is_file():
        path = run / HEURISTICS_FILE
    if path is None:
        return None
    try:
        env = json.loads(Path(path).read_text()).get("tuned_on", {}).get("env")
    except (OSError, json.JSONDecodeError, AttributeError):
        return None
    return dict(env) if isinstance(env, dict) else None


def checkpoint_paths(folder: Path, steps: int, tag: str = "") -> tuple[Path, Path]:
    """``(model, normaliser)`` file names of a checkpoint taken after ``steps`` steps."""
    directory = folder / CHECKPOINT_DIR
    name = (
        f"{CHECKPOINT_PREFIX}_{tag}_{steps}_steps" if tag else f"{CHECKPOINT_PREFIX}_{steps}_steps"
    )
    return (
        directory / f"{name}.zip",
        directory / f"{CHECKPOINT_PREFIX}_vecnormalize_{steps}_steps.pkl",
    )


def newest_checkpoint(folder: Path) -> tuple[Path, Path | None, int] | None:
    """The newest saved agent of a run, ``(model.zip, vecnormalize.pkl or None, steps)``:
    the final model or a checkpoint, whichever has more steps."""
    found = []
    for path in (folder / CHECKPOINT_DIR).glob(f"{CHECKPOINT_PREFIX}_*_steps.zip"):
        match = re.search(r"_(\d+)_steps\.zip$", path.name)
        if match:
            steps = int(match.group(1))
            normaliser = checkpoint_paths(folder, steps)[1]
            found.append((path, normaliser if normaliser.exists() else None, steps))
    final = folder / MODEL_FILE
    if final.exists():
        steps = int(read_run_config(folder).get("result", {}).get("num_timesteps", 0))
        normaliser = folder / NORMALIZER_FILE
        found.append((final, normaliser if normaliser.exists() else None, steps))
    return max(found, key=lambda item: item[2]) if found else None


def newest_run(runs_dir: Path, env_id: str | None = None) -> Path | None:
    """The run folder under ``runs_dir`` whose model.zip was written last (None if none); with
    ``env_id``, the newest trained in that environment."""
    models = [path for path in runs_dir.rglob(MODEL_FILE) if path.is_file()]
    if env_id is not None:
        models = [path for path in models if _trained_on(path.parent) == env_id]
    return max(models, key=lambda path: path.stat().st_mtime).parent if models else None


def _trained_on(folder: Path) -> str | None:
    """The environment id of a run folder (None if its config.json is unreadable)."""
    try:
        return env_id_from_config(read_run_config(folder))
    except ValueError:
        return None
