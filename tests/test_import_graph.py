"""The import graph: no cycles among the project's modules, and the paths that
must answer at once (`research --help`, `research list`, a bad key) import no
JAX."""

import ast
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ('research', 'launch', 'experiments')
HEAVY = ('jax', 'optax', 'flax', 'orbax', 'scipy', 'matplotlib', 'wandb',
         'tensorflow_datasets')


def _modules() -> dict[str, pathlib.Path]:
  found = {}
  for package in PACKAGES:
    for path in (REPO / package).rglob('*.py'):
      parts = path.relative_to(REPO).with_suffix('').parts
      name = '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)
      found[name] = path
  return found


def _top_level_imports(path: pathlib.Path, name: str, modules) -> set[str]:
  """The project's modules that `path` imports when it is imported (imports
  inside functions and under `if TYPE_CHECKING` do not count)."""
  tree = ast.parse(path.read_text())
  package = name if path.name == '__init__.py' else name.rpartition('.')[0]
  found = set()
  for node in tree.body:
    if isinstance(node, ast.Import):
      found |= {a.name for a in node.names if a.name in modules}
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ''
      if node.level:
        base = '.'.join(package.split('.')[:len(package.split('.')) - node.level + 1]
                        + ([base] if base else []))
      for alias in node.names:
        child = f'{base}.{alias.name}'
        if child in modules:
          found.add(child)
        elif base in modules:
          found.add(base)
  found.discard(name)
  return found


def test_no_import_cycles():
  modules = _modules()
  graph = {name: _top_level_imports(path, name, modules)
           for name, path in modules.items()}
  state, stack, cycles = {}, [], []

  def visit(node):
    state[node] = 'open'
    stack.append(node)
    for nxt in sorted(graph[node]):
      if state.get(nxt) == 'open':
        cycles.append(stack[stack.index(nxt):] + [nxt])
      elif nxt not in state:
        visit(nxt)
    stack.pop()
    state[node] = 'done'

  for node in sorted(graph):
    if node not in state:
      visit(node)
  assert not cycles, '\n'.join(' -> '.join(c) for c in cycles)


def _imported_heavy(code: str) -> list[str]:
  probe = (f'{code}\nimport sys\n'
           f'print(" ".join(m for m in {HEAVY!r} if m in sys.modules))')
  result = subprocess.run([sys.executable, '-c', probe], cwd=REPO,
                          capture_output=True, text=True, check=True, timeout=120)
  return result.stdout.split()


def test_config_and_a_bad_key_import_no_jax():
  # (`import experiments` and `import launch.cli`: test_experiments_light.py.)
  assert _imported_heavy('import research.config') == []
  # A bad key is refused before JAX loads.
  code = ('from launch.cli import main\n'
          'assert main(["run", "quickstart", "--set", "model.hiden=3"]) == 2')
  assert _imported_heavy(code) == []
