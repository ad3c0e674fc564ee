"""Shared fixtures: one pretrained digits model per test session, trained into a temporary cache,
a short PPO run, and the two command-line scripts loaded from their files."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

import pytest

from agents.training import TrainConfig, train
from hybrid.pretrain import PretrainedModel, load_or_pretrain

ROOT = Path(__file__).resolve().parents[1]

Main = Callable[[Sequence[str]], int]


def load_script_module(name: str) -> ModuleType:
    """A script (``train_agent``, ``evaluate``, ``benchmarks/policy_quality``) loaded from its
    file: the scripts are not packages, and no test edits ``sys.path``."""
    spec = importlib.util.spec_from_file_location(f"script_{Path(name).name}", ROOT / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def load_script(name: str) -> Main:
    """The ``main`` of a script, loaded from its file (:func:`load_script_module`)."""
    return load_script_module(name).main


@pytest.fixture(scope="session")
def script_module() -> Callable[[str], ModuleType]:
    """``script_module("benchmarks/tune_heuristics")``: the script's module, from its file."""
    return load_script_module


@pytest.fixture(scope="session")
def train_main() -> Main:
    """``train_agent.main``: parses argv, trains, returns the exit code."""
    return load_script("train_agent")


@pytest.fixture(scope="session")
def evaluate_main() -> Main:
    """``evaluate.main``: parses argv, evaluates or validates, returns the exit code."""
    return load_script("evaluate")


@pytest.fixture(scope="session")
def policy_quality_main() -> Main:
    """``benchmarks/policy_quality.py``'s ``main``: measures runs, returns the exit code."""
    return load_script("benchmarks/policy_quality")


@pytest.fixture
def cli_error(capsys: pytest.CaptureFixture[str]) -> Callable[[Main, Sequence[str]], str]:
    """``cli_error(main, argv)`` runs a script's ``main`` expecting a configuration error: exit
    code 2 and exactly one line ``error: ...`` on standard error, which it returns."""

    def run(main: Main, argv: Sequence[str]) -> str:
        capsys.readouterr()
        assert main(list(argv)) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err
        return err.strip()

    return run


@pytest.fixture(scope="session")
def digits_pretrained(tmp_path_factory: pytest.TempPathFactory) -> PretrainedModel:
    """The default pretrained digits model (shipped with the package), cached in a temporary
    folder. Shared by every test: tests must not change its weights or placement (copy it)."""
    cache_dir = tmp_path_factory.mktemp("pretrained")
    return load_or_pretrain("digits", cache_dir=cache_dir, progress=False)


@pytest.fixture(scope="session")
def cache_dir(digits_pretrained: PretrainedModel) -> Path:
    """The folder of the session's pretrained model: pass it as ``cache_dir=`` to environments
    so they load that model instead of training into the user's cache."""
    return digits_pretrained.path.parent


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PPO run folder of 2048 steps (about a minute), shared by the training and evaluation
    tests: read it, copy it to change it."""
    out = tmp_path_factory.mktemp("runs") / "smoke"
    config = TrainConfig(
        timesteps=2048, out=out, seed=0, progress=False, compare_episodes=0, envelope_chips=2
    )
    return train(config)
