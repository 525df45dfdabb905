"""The house rules that docs/architecture.md states, checked on the source: imports run one way (no
circle among modules), no module takes another's private names, and no module or function grows
past the size a reader can hold (the verifier's grammar table aside, as its file says)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(p for d in ("grpo_lora", "rewards", "bench") for p in (ROOT / d).rglob("*.py"))
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80
LONGER_ON_PURPOSE = {"rewards/parse.py"}  # the grammar: one table reads better than several


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(p): p for p in SOURCES}


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module imported, names taken from it) for every import in the file, lazy ones included."""
    out = []
    package = _name(path) if path.name == "__init__.py" else _name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1], base]
                ).strip(".")
            for a in node.names:
                sub = f"{base}.{a.name}"
                out.append((sub, []) if sub in MODULES else (base, [a.name]))
    return [(m, names) for m, names in out if m in MODULES]


def test_no_module_imports_another_modules_private_names():
    taken = [
        f"{_name(p)} takes {n} from {m}"
        for p in SOURCES
        for m, names in _imports(p)
        for n in names
        if n.startswith("_") and m != _name(p)
    ]
    assert not taken, taken


def test_imports_run_one_way():
    graph = {m: {i for i, _ in _imports(p) if i != m} for m, p in MODULES.items()}
    state: dict[str, int] = {}  # 1: on the path being walked, 2: done

    def circle_from(m: str, path: list[str]) -> list[str] | None:
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return [*path, m, n]
            if n not in state and (c := circle_from(n, [*path, m])):
                return c
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            assert (c := circle_from(m, [])) is None, " -> ".join(c[c.index(c[-1]) :])


def test_modules_and_functions_stay_small():
    too_long = []
    for p in SOURCES:
        rel = str(p.relative_to(ROOT))
        source = p.read_text()
        if source.count("\n") > MAX_MODULE_LINES and rel not in LONGER_ON_PURPOSE:
            too_long.append(f"{rel}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    too_long.append(f"{rel}:{node.lineno} {node.name}: {n} lines")
    assert not too_long, too_long
