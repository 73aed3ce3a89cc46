"""The engine must stay headless: importing every indexer module loads no Textual."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import indexer


def all_indexer_modules() -> list[str]:
    names = ["indexer"]
    for info in pkgutil.walk_packages(indexer.__path__, prefix="indexer."):
        names.append(info.name)
    return names


def test_indexer_never_imports_textual():
    modules = all_indexer_modules()
    assert len(modules) > 3
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"indexer imported Textual modules: {out.stdout.strip()}"


def test_hygiene_check_detects_textual():
    """Guard the guard: the same probe does see Textual when the TUI is imported."""
    code = "import sys, tui.app\nprint(any(m.startswith('textual') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
