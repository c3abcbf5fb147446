"""The architecture, checked: stage packages in pipeline order, commands on top, no cycles.

Every module under llmjax/ is parsed with `ast`; every import of an llmjax module (at module
level and inside functions) is an edge. The rules:
- a module imports only from its own stage or a lower one (STAGES, in pipeline order);
- no module imports a command (a module that runs as `python -m ...`);
- no import cycle, between modules or between stage packages;
- absl flags are defined only by commands, at module level.
`violations(root)` is a plain function, so the same check can be run on another tree:
  python -c "from tests.test_layout import violations; print(*violations('OTHER/llmjax'), sep='\n')"
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "llmjax"
# Pipeline order; a module may import from its own stage and the stages before it.
STAGES = ("foundation", "corpus", "tokenizer", "data", "model", "training", "sft", "evals",
          "hf", "experiments", "commands")
FOUNDATION = ("llmjax", "llmjax.config", "llmjax.errors", "llmjax.paths")


def module_names(root: pathlib.Path) -> dict[str, pathlib.Path]:
  out = {}
  for path in sorted(root.rglob("*.py")):
    parts = ("llmjax",) + path.relative_to(root).with_suffix("").parts
    if parts[-1] == "__init__":
      parts = parts[:-1]
    out[".".join(parts)] = path
  return out


def stage(module: str) -> str:
  if module in FOUNDATION:
    return "foundation"
  parts = module.split(".")
  if parts[1] in STAGES:
    return parts[1]
  if len(parts) == 2:  # a top-level module that is not foundation: a command
    return "commands"
  return f"unknown:{parts[1]}"


def _imports(tree: ast.AST, module: str, modules: set[str]) -> set[str]:
  """llmjax modules imported anywhere in the tree (a name imported from a package counts as
  its submodule when one exists)."""
  found = set()
  package = module if module in modules and _is_package(module, modules) else \
      module.rsplit(".", 1)[0]
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      found.update(a.name for a in node.names if a.name.split(".")[0] == "llmjax")
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:  # relative import
        base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                        + ([base] if base else []))
      if base.split(".")[0] != "llmjax":
        continue
      for alias in node.names:
        sub = f"{base}.{alias.name}"
        found.add(sub if sub in modules else base)
  return {m for m in found if m != module}


def _is_package(module: str, modules: set[str]) -> bool:
  return any(m.startswith(module + ".") for m in modules)


def is_command(tree: ast.Module) -> bool:
  """Runs as a program: has an `if __name__ == "__main__":` block."""
  for node in tree.body:
    if isinstance(node, ast.If) and isinstance(node.test, ast.Compare):
      left = node.test.left
      if isinstance(left, ast.Name) and left.id == "__name__":
        return True
  return False


def _flag_definitions(tree: ast.Module) -> tuple[int, int]:
  """(flag definitions at module level, flag definitions elsewhere). A definition on a
  private FlagValues (flag_values=...) is not a command-line flag."""
  def defines(node) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr.startswith("DEFINE")
            and not any(k.arg == "flag_values" for k in node.keywords))
  top = sum(1 for stmt in tree.body for n in ast.walk(stmt) if defines(n)
            and not isinstance(stmt, (ast.FunctionDef, ast.If, ast.ClassDef)))
  return top, sum(1 for n in ast.walk(tree) if defines(n)) - top


def graph(root: pathlib.Path) -> tuple[dict[str, set[str]], set[str], dict[str, ast.Module]]:
  """(imports per module, command modules, parsed trees)."""
  names = module_names(root)
  trees = {m: ast.parse(p.read_text(encoding="utf-8")) for m, p in names.items()}
  edges = {m: _imports(t, m, set(names)) for m, t in trees.items()}
  return edges, {m for m, t in trees.items() if is_command(t)}, trees


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
  """One cycle per strongly connected component with more than one node (Tarjan)."""
  index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

  def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in sorted(edges.get(v, ())):
      if w not in index:
        visit(w)
        low[v] = min(low[v], low[w])
      elif w in on:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      comp = []
      while True:
        w = stack.pop()
        on.discard(w)
        comp.append(w)
        if w == v:
          break
      if len(comp) > 1:
        out.append(sorted(comp))

  for v in sorted(edges):
    if v not in index:
      visit(v)
  return out


def violations(root: str | pathlib.Path = ROOT) -> list[str]:
  edges, commands, trees = graph(pathlib.Path(root))
  problems = []
  for m, targets in sorted(edges.items()):
    for t in sorted(targets):
      if t in commands:
        problems.append(f"{m} imports the command {t}")
      sm, st = stage(m), stage(t)
      if sm.startswith("unknown") or st.startswith("unknown"):
        problems.append(f"{m} -> {t}: module outside the stage packages")
      elif STAGES.index(st) > STAGES.index(sm):
        problems.append(f"{m} ({sm}) imports {t} ({st}): upward in the pipeline")
  for cycle in _cycles(edges):
    problems.append(f"import cycle between modules: {' -> '.join(cycle)}")
  package_edges: dict[str, set[str]] = {}
  for m, targets in edges.items():
    for t in targets:
      if stage(m) != stage(t):
        package_edges.setdefault(stage(m), set()).add(stage(t))
  for cycle in _cycles(package_edges):
    problems.append(f"import cycle between stages: {' -> '.join(cycle)}")
  for m, tree in sorted(trees.items()):
    top, nested = _flag_definitions(tree)
    if (top or nested) and m not in commands:
      problems.append(f"{m} defines flags but is not a command")
    if nested:
      problems.append(f"{m} defines flags inside a function or block, not at module level")
  return problems


def test_the_tree_follows_the_pipeline():
  assert violations() == []


def test_every_command_is_a_thin_absl_program():
  _, commands, trees = graph(ROOT)
  assert {"llmjax.train", "llmjax.evaluate", "llmjax.generate", "llmjax.bench",
          "llmjax.export"} <= commands
  for m in sorted(commands):
    doc = ast.get_docstring(trees[m]) or ""
    assert doc.startswith("Command:"), f"{m}: a command's docstring starts with 'Command:'"


def test_top_level_holds_only_foundation_and_commands():
  names = module_names(ROOT)
  top = {m for m in names if m.count(".") == 1 and not (ROOT / m.split(".")[1]).is_dir()}
  _, commands, _ = graph(ROOT)
  assert top - commands <= set(FOUNDATION), sorted(top - commands)


@pytest.mark.parametrize("source, expected", [
    ("from llmjax.model import moe\n", {"llmjax.model.moe"}),
    ("from llmjax import model\n", {"llmjax.model"}),
    ("def f():\n  import llmjax.evals.qa\n", {"llmjax.evals.qa"}),
    ("from .moe import route\n", {"llmjax.model.moe"}),
])
def test_import_parser(source, expected):
  modules = {"llmjax.model", "llmjax.model.moe", "llmjax.model.transformer", "llmjax.evals.qa"}
  assert _imports(ast.parse(source), "llmjax.model.transformer", modules) == expected


def test_checker_catches_upward_imports_cycles_and_commands(tmp_path):
  pkg = tmp_path / "llmjax"
  for rel, text in {
      "__init__.py": "", "config.py": "",
      "train.py": '"""Command: x"""\nfrom llmjax.training import loop\n'
                  'if __name__ == "__main__":\n  pass\n',
      "corpus/__init__.py": "", "corpus/text.py": "from llmjax.data import packing\n",
      "data/__init__.py": "", "data/packing.py": "from llmjax.corpus import text\n",
      "training/__init__.py": "", "training/loop.py": "import llmjax.train\n",
  }.items():
    (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
    (pkg / rel).write_text(text)
  found = "\n".join(violations(pkg))
  assert "llmjax.corpus.text (corpus) imports llmjax.data.packing (data): upward" in found
  assert "import cycle between modules: llmjax.corpus.text -> llmjax.data.packing" in found
  assert "llmjax.training.loop imports the command llmjax.train" in found


def _flag_names(tree: ast.Module) -> list[str]:
  """The names of a command's module-level flags (the first argument of each DEFINE_*)."""
  names = []
  for node in ast.walk(tree):
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr.startswith("DEFINE") and node.args
        and isinstance(node.args[0], ast.Constant)
        and not any(k.arg == "flag_values" for k in node.keywords)):
      names.append(node.args[0].value)
  return names


@pytest.mark.slow
def test_every_command_help_shows_all_its_flags():
  import concurrent.futures
  import subprocess
  import sys
  _, commands, trees = graph(ROOT)

  def helptext(module: str) -> str:
    proc = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT.parent,
                          capture_output=True, text=True, timeout=300)
    return proc.stdout + proc.stderr
  with concurrent.futures.ThreadPoolExecutor(4) as pool:
    texts = dict(zip(sorted(commands), pool.map(helptext, sorted(commands))))
  missing = {m: [n for n in _flag_names(trees[m])
                if f"--{n}" not in texts[m] and f"--[no]{n}" not in texts[m]]
             for m in sorted(commands)}
  assert len(commands) >= 20 and all(_flag_names(trees[m]) for m in commands), \
      [m for m in commands if not _flag_names(trees[m])]
  assert {m: v for m, v in missing.items() if v} == {}


def test_every_documented_command_exists():
  """Each `python -m llmjax.X` written in the README, docs, notebooks, configs and launchers
  names a command module of this tree (catches a rename the prose did not follow)."""
  import re
  repo = ROOT.parent
  texts = [repo / "README.md", *sorted((repo / "docs").glob("*.md")),
           *sorted((repo / "colab").glob("*.ipynb")), *sorted((repo / "configs").glob("*.py")),
           *sorted(p for p in (repo / "launch").rglob("*") if p.is_file())]
  _, commands, _ = graph(ROOT)
  named = {(path.relative_to(repo).as_posix(), m) for path in texts
           for m in re.findall(r"python3? -m (llmjax(?:\.\w+)+)", path.read_text(encoding="utf-8"))}
  assert len({m for _, m in named}) >= 15, sorted(named)
  assert sorted((p, m) for p, m in named if m not in commands) == []
