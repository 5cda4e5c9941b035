"""One house for each capability, and data flowing one way (STYLE.md, rule 1):

    errors <- io <- bio <- tokenize <- data <- model <- train <- infer <- report
           <- {metagenome, environment, evolution, generation, finetune} <- commands <- cli

- a module never imports a layer above its own;
- the capability packages share one rank and never import each other;
- no module imports another module's private (``_underscored``) name;
- there is no import cycle between modules.

``errors`` is the leaf everyone may import; ``genolm/__init__.py`` (the version) may be imported by
anyone, and it and ``__main__.py`` are exempt.  Imports inside functions count too, and so do
``importlib.import_module("genolm.…")`` calls with a literal name.  A new top-level package must
be given its place in LAYERS before this test passes.  Each rule is shown to catch a violation
planted in a copy of the package.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

import genolm

PACKAGE = Path(genolm.__file__).resolve().parent
LAYERS = ["errors", "io", "bio", "tokenize", "data", "model", "train", "infer", "report",
          "capabilities", "commands", "cli"]
CAPABILITIES = ("metagenome", "environment", "evolution", "generation", "finetune")
RANK = {name: i for i, name in enumerate(LAYERS)} | {c: LAYERS.index("capabilities") for c in CAPABILITIES}
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


def imports(source: str, module: str, is_package: bool = False) -> list[tuple[int, str, tuple[str, ...]]]:
    """(line, absolute module, names taken from it) of every genolm import in ``source``, wherever
    it sits in the file.  ``from genolm import io`` names the subpackage ``genolm.io``; relative
    imports are resolved against ``module`` (the importing module's dotted name)."""
    tree = ast.parse(source)
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, ()) for a in node.names if a.name.split(".")[0] == "genolm"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "genolm":
                continue
            names = tuple(a.name for a in node.names)
            if target == "genolm":  # from genolm import io, __version__
                for a in node.names:
                    found.append((node.lineno, f"genolm.{a.name}" if _is_submodule(a.name) else "genolm", ()))
            else:
                found.append((node.lineno, target, names))
        elif (isinstance(node, ast.Call) and _call_name(node.func) in ("import_module", "__import__")
              and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str) and node.args[0].value.startswith("genolm")):
            found.append((node.lineno, node.args[0].value, ()))
    return sorted(found)


def imported_modules(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    return [(line, target) for line, target, _ in imports(source, module, is_package)]


def _is_submodule(name: str) -> bool:
    return name in RANK or (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").is_file()


def _call_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def violations(source: str, module: str, where: str, is_package: bool = False) -> list[str]:
    """'file:line: …' for each import that goes up a layer, crosses from one capability to
    another, or takes another module's private name."""
    own = layer_of(module)
    if own is None or own in EXEMPT:
        return []
    if own not in RANK:
        return [f"{where}:1: {module} is in no layer: add {own!r} to LAYERS in tests/test_layers.py"]
    out = []
    for line, target, names in imports(source, module, is_package):
        layer = layer_of(target)
        private = [n for n in names if n.startswith("_") and not n.startswith("__")]
        if private and target != module:
            out.append(f"{where}:{line}: {module} imports the private name {private[0]} of {target}")
        if layer is None or layer == "errors":
            continue
        if layer not in RANK:
            out.append(f"{where}:{line}: {module} imports {target}, which is in no layer")
        elif RANK[layer] > RANK[own]:
            out.append(f"{where}:{line}: {module} ({own}) imports {target} ({layer}), a higher layer")
        elif own in CAPABILITIES and layer in CAPABILITIES and layer != own:
            out.append(f"{where}:{line}: {module} ({own}) imports {target} ({layer}): capabilities never "
                       f"import each other; move what both need to a shared layer")
    return out


def all_modules(root: Path = PACKAGE) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def scan(root: Path = PACKAGE) -> list[str]:
    """Every layer, capability and private-name violation in the package at ``root``."""
    problems = []
    for path in all_modules(root):
        rel = path.relative_to(root.parent)
        problems += violations(path.read_text(encoding="utf-8"), module_name(path, root), str(rel),
                               is_package=path.name == "__init__.py")
    return problems


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the genolm modules it imports (anywhere in the file), resolved to modules that
    exist in the package (``from genolm.io import seqio`` -> genolm.io.seqio)."""
    modules = {module_name(p, root): p for p in all_modules(root)}
    graph = {}
    for name, path in modules.items():
        edges = set()
        for _, target, names in imports(path.read_text(encoding="utf-8"), name, path.name == "__init__.py"):
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules]
            edges.update(subs or ([target] if target in modules else []))
        graph[name] = edges - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each as a sorted list."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


# ----------------------------------------------------------------------------- the package


def test_every_layer_and_capability_holds_modules():
    layers = {layer_of(module_name(p)) for p in all_modules()}
    assert set(LAYERS) - {"capabilities"} <= layers and set(CAPABILITIES) <= layers, sorted(layers)


def test_no_import_goes_up_across_capabilities_or_to_a_private_name():
    problems = scan()
    assert not problems, "imports against the layer order " + " <- ".join(LAYERS) + ":\n" + "\n".join(problems)


def test_no_import_cycle():
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_commands_hold_no_library_code_others_import():
    # A command module is imported by the CLI table only: what another module needs lives in a
    # capability or a shared layer.
    graph = import_graph()
    users = {m: [u for u, edges in graph.items() if m in edges and u != "genolm.cli"] for m in graph
             if m.startswith("genolm.commands.") and m != "genolm.commands.options"}
    assert not {m: u for m, u in users.items() if u}


# ----------------------------------------------------------------------------- the checker itself


def test_checker_finds_imports_going_up():
    src = (
        "import os\n"
        "from genolm.errors import GenolmError\n"       # errors: fine from anywhere
        "from genolm import __version__\n"              # the version: fine
        "from genolm.io.seqio import read_records\n"    # lower: fine
        "def f():\n"
        "    from genolm.commands import prepare\n"     # line 6: inside a function, still up
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
    assert "genolm.commands (commands), a higher layer" in found[0]
    assert "imports genolm.train (train)" in found[3]


def test_checker_allows_the_same_and_lower_layers():
    src = ("from genolm.io.alphabet import DNA\nfrom genolm.bio import seq\nimport genolm.errors\n"
           "from genolm.tokenize.vocab import Vocab\nfrom .build import x\n")
    assert violations(src, "genolm.data.shards", "genolm/data/shards.py") == []
    assert violations("from genolm.commands import prepare\n", "genolm.cli", "genolm/cli.py") == []
    assert violations("from genolm.cli import main\n", "genolm.__main__", "genolm/__main__.py") == []
    assert violations("from genolm.infer.embedding import Embedder\nfrom genolm.metagenome.reads import x\n",
                      "genolm.metagenome.binning", "genolm/metagenome/binning.py") == []


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
                                       ("train", "infer"), ("infer", "report"), ("report", "metagenome"),
                                       ("evolution", "commands"), ("commands", "cli")])
def test_every_step_of_the_order_is_enforced(low, high):
    assert violations(f"from genolm.{high} import x\n", f"genolm.{low}.m", "m.py")
    assert not violations(f"from genolm.{low} import x\n", f"genolm.{high}.m", "m.py")


@pytest.mark.parametrize("planted, expected", [
    # a back-import: io reaching up to a command
    (("io/seqio.py", "from genolm.commands.prepare import prepare"), "(io) imports genolm.commands.prepare (commands), a higher layer"),
    # a cross-capability import: evolution using metagenome code
    (("evolution/forecast.py", "from genolm.metagenome.reads import read_inputs"), "capabilities never import each other"),
    # a private name taken from another module
    (("generation/viability.py", "from genolm.infer.sampling import _static_step"), "imports the private name _static_step"),
])
def test_each_rule_catches_a_violation_planted_in_a_copy_of_the_package(tmp_path, planted, expected):
    copy = tmp_path / "genolm"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert scan(copy) == scan()
    target = copy / planted[0]
    lines = target.read_text().splitlines()
    lines += ["def _late():", f"    {planted[1]}  # planted"]
    target.write_text("\n".join(lines) + "\n")
    new = [p for p in scan(copy) if p not in scan()]
    assert len(new) == 1 and new[0].startswith(f"genolm/{planted[0]}:{len(lines)}: ") and expected in new[0], new


def test_a_planted_import_cycle_is_found(tmp_path):
    copy = tmp_path / "genolm"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert cycles(import_graph(copy)) == []
    # infer.embedding already imports train.distributed; the reverse import closes a loop
    target = copy / "train" / "distributed.py"
    target.write_text(target.read_text() + "\ndef _late():\n    from genolm.infer.embedding import Embedder  # planted\n")
    found = cycles(import_graph(copy))
    assert found and ["genolm.infer.embedding", "genolm.train.distributed"] == [m for m in found[0]
                                                                             if m in ("genolm.infer.embedding",
                                                                                      "genolm.train.distributed")]
