"""The documentation site builds offline with warnings as errors, with one API page per module."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _hook():
    spec = importlib.util.spec_from_file_location("api_pages", ROOT / "docs/hooks/api_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_api_pages_follow_the_package_tree(tmp_path):
    """A module added, moved or split gets its page: the list is walked, never typed."""
    for path in (
        "hybrid/__init__.py",
        "hybrid/energy.py",
        "envs/__init__.py",
        "agents/__init__.py",
        "agents/policies/__init__.py",
        "agents/policies/ppo.py",
        "agents/_private.py",
    ):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text('"""A module."""\n')
    assert _hook()._modules(tmp_path) == [
        "hybrid",
        "hybrid.energy",
        "envs",
        "agents",
        "agents.policies",
        "agents.policies.ppo",
    ]


def test_make_docs_builds_strictly_with_every_module(tmp_path):
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for module in _hook()._modules(ROOT):
        assert (site / "api" / module / "index.html").exists(), module
    assert "HybridPartitionEnv" in (site / "api" / "envs.partition_env" / "index.html").read_text()
    assert (site / "results" / "index.html").exists()


def test_the_readme_example_runs(capsys):
    """The ten-line example of README.md, run as a reader would paste it."""
    text = (ROOT / "README.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    assert len(code.strip().splitlines()) <= 10
    exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["all-digital", "threshold", "greedy"]
    assert lines[0].split()[2] == "-12.00"  # all-digital loses no accuracy and pays full energy
