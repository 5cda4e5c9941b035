"""Data flows one way: a module never imports a layer above its own (STYLE.md, rule 1).

    errors <- io <- bio <- tokenize <- data <- model <- train <- report <- tasks <- cli

``errors`` is the leaf everyone may import; ``genolm/__init__.py`` (the version) may be imported by
anyone, and it and ``__main__.py`` are exempt.  Imports inside functions count too, and so do
``importlib.import_module("genolm.…")`` calls with a literal name.  A new top-level package must
be given its place in LAYERS before this test passes.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

import genolm

PACKAGE = Path(genolm.__file__).resolve().parent
# Rank of each layer: a module may import its own rank or lower.  `report` sits right under
# `tasks` (tasks may import report, report may not import tasks).
LAYERS = ["errors", "io", "bio", "tokenize", "data", "model", "train", "report", "tasks", "cli"]
RANK = {name: i for i, name in enumerate(LAYERS)}
EXEMPT = {"__init__", "__main__"}  # genolm/__init__.py and genolm/__main__.py


def layer_of(module: str) -> str | None:
    """``genolm.io.seqio`` -> ``io``; ``genolm`` itself (the version) -> None (anyone may use it)."""
    parts = module.split(".")
    assert parts[0] == "genolm", module
    return parts[1] if len(parts) > 1 else None


def module_name(path: Path, root: Path = PACKAGE) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, absolute module) of every genolm import in ``source``, wherever it sits in the file.

    ``from genolm import io`` names the subpackage ``genolm.io``; relative imports are resolved
    against ``module`` (the importing module's dotted name).
    """
    tree = ast.parse(source)
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "genolm"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "genolm":
                continue
            if target == "genolm":  # from genolm import io, __version__
                for a in node.names:
                    sub = f"genolm.{a.name}"
                    found.append((node.lineno, sub if _is_submodule(a.name) else "genolm"))
            else:
                found.append((node.lineno, target))
        elif (isinstance(node, ast.Call) and _call_name(node.func) in ("import_module", "__import__")
              and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str) and node.args[0].value.startswith("genolm")):
            found.append((node.lineno, node.args[0].value))
    return sorted(found)


def _is_submodule(name: str) -> bool:
    return name in RANK or (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").is_file()


def _call_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def violations(source: str, module: str, where: str, is_package: bool = False) -> list[str]:
    """'file:line: genolm.X (layer) imports genolm.Y (higher layer)' for each import going up."""
    own = layer_of(module)
    if own is None or own in EXEMPT:
        return []
    if own not in RANK:
        return [f"{where}:1: {module} is in no layer: add {own!r} to LAYERS in tests/test_layers.py"]
    out = []
    for line, target in imported_modules(source, module, is_package):
        layer = layer_of(target)
        if layer is None or layer == "errors":
            continue
        if layer not in RANK:
            out.append(f"{where}:{line}: {module} imports {target}, which is in no layer")
        elif RANK[layer] > RANK[own]:
            out.append(f"{where}:{line}: {module} ({own}) imports {target} ({layer}), a higher layer")
    return out


def all_modules(root: Path = PACKAGE) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def scan(root: Path = PACKAGE) -> list[str]:
    """Every layer violation in the package at ``root``, as 'genolm/x/y.py:LINE: …'."""
    problems = []
    for path in all_modules(root):
        rel = path.relative_to(root.parent)
        problems += violations(path.read_text(encoding="utf-8"), module_name(path, root), str(rel),
                               is_package=path.name == "__init__.py")
    return problems


def test_package_has_modules_in_several_layers():
    layers = {layer_of(module_name(p)) for p in all_modules()}
    assert {"errors", "io", "bio", "tasks", "cli"} <= layers


def test_no_module_imports_a_higher_layer():
    problems = scan()
    assert not problems, "imports against the layer order " + " <- ".join(LAYERS) + ":\n" + "\n".join(problems)


# ----------------------------------------------------------------------------- the checker itself


def test_checker_finds_imports_going_up():
    src = (
        "import os\n"
        "from genolm.errors import GenolmError\n"       # errors: fine from anywhere
        "from genolm import __version__\n"              # the version: fine
        "from genolm.io.seqio import read_records\n"    # lower: fine
        "def f():\n"
        "    from genolm.tasks import prepare\n"        # line 6: inside a function, still up
        "    import genolm.model.gpt as gpt\n"          # line 7: up
        "from genolm import cli\n"                      # line 8: up, via 'from genolm import'
        "from ..train import loop\n"                    # line 9: relative, up
        "from . import kmers\n"                         # same layer: fine
        "import importlib\n"
        "importlib.import_module('genolm.cli')\n"       # line 12: up
    )
    found = violations(src, "genolm.tokenize.bpe", "genolm/tokenize/bpe.py")
    assert [v.split(":")[1] for v in found] == ["6", "7", "8", "9", "12"]
    assert all(v.startswith("genolm/tokenize/bpe.py:") for v in found)
    assert "genolm.tasks (tasks), a higher layer" in found[0]
    assert "imports genolm.train (train)" in found[3]


def test_checker_allows_the_same_and_lower_layers():
    src = ("from genolm.io.alphabet import DNA\nfrom genolm.bio import seq\nimport genolm.errors\n"
           "from genolm.tokenize.vocab import Vocab\nfrom .build import x\n")
    assert violations(src, "genolm.data.shards", "genolm/data/shards.py") == []
    assert violations("from genolm.tasks import prepare\n", "genolm.cli", "genolm/cli.py") == []
    assert violations("from genolm.cli import main\n", "genolm.__main__", "genolm/__main__.py") == []


def test_checker_resolves_relative_imports_in_packages():
    # in genolm/io/__init__.py, "from .seqio import x" is genolm.io.seqio; ".." is genolm
    assert imported_modules("from .seqio import x\nfrom ..bio import y\n", "genolm.io", is_package=True) == [
        (1, "genolm.io.seqio"), (2, "genolm.bio")]
    assert violations("from ..bio import y\n", "genolm.io", "genolm/io/__init__.py", is_package=True)


def test_checker_rejects_a_module_outside_every_layer():
    found = violations("import os\n", "genolm.plugins.x", "genolm/plugins/x.py")
    assert found and "in no layer" in found[0]


@pytest.mark.parametrize("low, high", [("errors", "io"), ("io", "bio"), ("bio", "tokenize"),
                                       ("tokenize", "data"), ("data", "model"), ("model", "train"),
                                       ("train", "tasks"), ("report", "tasks"), ("tasks", "cli")])
def test_every_step_of_the_order_is_enforced(low, high):
    assert violations(f"from genolm.{high} import x\n", f"genolm.{low}.m", "m.py")
    assert not violations(f"from genolm.{low} import x\n", f"genolm.{high}.m", "m.py")


def test_scan_catches_a_violation_planted_in_a_copy_of_the_package(tmp_path):
    copy = tmp_path / "genolm"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert scan(copy) == scan()
    seqio = copy / "io" / "seqio.py"
    lines = seqio.read_text().splitlines()
    lines.append("def _late():")
    lines.append("    from genolm.tasks.prepare import prepare  # planted")
    seqio.write_text("\n".join(lines) + "\n")
    planted = [p for p in scan(copy) if p not in scan()]
    assert planted == [f"genolm/io/seqio.py:{len(lines)}: genolm.io.seqio (io) imports "
                       "genolm.tasks.prepare (tasks), a higher layer"]
