"""The package has no import cycle, counting imports inside functions too."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "vidssl"


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """module -> the vidssl modules it imports anywhere in its file (``from a import b``: a.b if that is a module)."""
    modules = {_module(p): p for p in ROOT.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("vidssl"):
                deps.add(node.module)
                deps.update(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.startswith("vidssl"))
        graph[name] = {d for d in deps if d in modules and d != "vidssl" and d != name}
    return graph


def test_no_module_imports_one_that_imports_it_back():
    graph = _imports()
    assert "vidssl.checkpoint" in graph["vidssl.api"] and "vidssl.methods" in graph["vidssl.checkpoint"]
    in_cycle = []
    for start in graph:  # a module is on a cycle when it can reach itself
        seen, todo = set(), list(graph[start])
        while todo:
            mod = todo.pop()
            if mod not in seen:
                seen.add(mod)
                todo.extend(graph[mod])
        if start in seen:
            in_cycle.append(start)
    assert not in_cycle, f"modules on an import cycle: {', '.join(sorted(in_cycle))}"
