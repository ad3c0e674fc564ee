"""MkDocs hook: one API page per module of hybrid/, envs/ and agents/, found at build time.

The pages are not committed and no module path is typed anywhere: every build walks the package
folders, so a module that is added, moved or split gets its page (and its place in the
navigation) on the next build. Each page is a single mkdocstrings directive, ``::: module``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from mkdocs.structure.files import File

PACKAGES = ("hybrid", "envs", "agents")
"""The library packages documented, in the order data flows through them."""

SECTION = "API reference"
"""The navigation entry that receives the generated pages."""


class _DoctestOutputIsNotAReference(logging.Filter):
    """Drop autorefs' warning for a "target" that is no Python name.

    A doctest's input and output lines such as ``>>> [f(x) for x in xs]`` then
    ``['1s', '9min']`` read as a Markdown reference link ``[text][target]``; the target is a
    literal list, never a cross-reference. A real broken reference (a dotted name) still warns.
    """

    _LITERAL = re.compile(r"Could not find cross-reference target '(?![\w.]+')")

    def filter(self, record: logging.LogRecord) -> bool:
        return not self._LITERAL.search(record.getMessage())


def on_pre_build(config):
    # On mkdocs' own handlers (the console and the strict-mode counter, added just before this
    # event): a filter there sees the records of every plugin logger, whatever autorefs calls its
    # own.
    for handler in logging.getLogger("mkdocs").handlers:
        if not any(isinstance(f, _DoctestOutputIsNotAReference) for f in handler.filters):
            handler.addFilter(_DoctestOutputIsNotAReference())


def _modules(root: Path) -> list[str]:
    modules = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if any(p.startswith("_") and p != "__init__" for p in parts):
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules.append(".".join(parts))
    return modules


def _page(module: str) -> str:
    return f"api/{module}.md"


def on_config(config):
    root = Path(config["config_file_path"]).parent
    config["extra"]["api_modules"] = _modules(root)
    entries: dict[str, list] = {}
    for module in config["extra"]["api_modules"]:
        entries.setdefault(module.split(".")[0], []).append({module: _page(module)})
    api = [{"Overview": "api/index.md"}, *({p: e} for p, e in entries.items())]
    nav = config["nav"] or []
    for item in nav:
        if isinstance(item, dict) and SECTION in item:
            item[SECTION] = api
            break
    else:
        nav.append({SECTION: api})
    config["nav"] = nav
    return config


def on_files(files, config):
    modules = config["extra"]["api_modules"]
    index = [
        "# API reference",
        "",
        "Generated from the docstrings at every build, one page per module. Data flows one way: "
        "`hybrid` <- `envs` <- `agents` <- the scripts.",
        "",
        *(f"* [`{m}`]({m}.md)" for m in modules),
        "",
    ]
    files.append(File.generated(config, "api/index.md", content="\n".join(index)))
    for module in modules:
        page = f"# `{module}`\n\n::: {module}\n"
        files.append(File.generated(config, _page(module), content=page))
    return files
