"""The package's shape: the stages import each other along the data flow only, and the stages that
read or write a built site start without TensorFlow."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gallery"
TENSORFLOW_FREE = ("gallery.site", "gallery.config", "gallery.plan", "gallery.results", "gallery.fingerprints",
                   "gallery.store", "gallery.estimate", "gallery.figure", "gallery.report", "gallery.publish",
                   "gallery.serve", "gallery.cli")


def module_imports() -> dict[str, set[str]]:
    """Every gallery module and the gallery modules it imports (any import statement, typing ones too)."""
    files = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    edges: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], *filter(None, [base])])
                targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            else:
                continue
            edges[name].update(t for t in targets if t in files and t != name)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(edges[node]):
            if state.get(target) == "open":
                cycle = [*stack[stack.index(target):], target]
                # A package's __init__ re-exporting its own modules is no cycle between stages.
                if not all(name == cycle[0] or name.startswith(cycle[0] + ".") for name in cycle):
                    found.append(cycle)
            elif target not in state:
                visit(target, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    return found


def test_no_import_cycles() -> None:
    edges = module_imports()
    assert "gallery.site" in edges and "gallery.renderers.attribution.base" in edges
    assert cycles(edges) == []


def test_the_checker_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"p": {"p.m"}, "p.m": {"p"}}) == []  # a package re-exporting its module


def test_site_config_figure_report_publish_serve_need_no_tensorflow() -> None:
    code = ("import sys\n" + "".join(f"import {name}\n" for name in TENSORFLOW_FREE)
            + "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
