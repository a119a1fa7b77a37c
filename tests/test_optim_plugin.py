"""Adding an optimizer from outside the package, as README.md shows it: the
README's two files are written out and run, end to end, through the CLI and
through the optimizer test matrix."""

import importlib
import json
import os
import pathlib
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from research.optim import registry

pytestmark = pytest.mark.slow  # seconds a test: out of `-m 'not slow'`

REPO = pathlib.Path(__file__).resolve().parents[1]


def readme_files() -> dict[str, str]:
  """{file name: source} of README's python blocks whose first line names a file."""
  text = (REPO / 'README.md').read_text()
  blocks = re.findall(r'```python\n# (\w+\.py)\n(.*?)```', text, re.S)
  return {name: f'# {name}\n{body}' for name, body in blocks}


@pytest.fixture
def example_dir(tmp_path):
  files = readme_files()
  assert {'my_optimizers.py', 'my_config.py'} <= set(files), sorted(files)
  for name, source in files.items():
    (tmp_path / name).write_text(source)
  return tmp_path


def _env(extra_path=None):
  env = dict(os.environ)
  if extra_path:
    env['PYTHONPATH'] = os.pathsep.join([str(extra_path), str(REPO),
                                         env.get('PYTHONPATH', '')])
  return env


def test_the_example_optimizer_is_optaxs_adamax(example_dir, monkeypatch):
  # Registered in a copy of the registry, which the test then drops.
  monkeypatch.setattr(registry, 'REGISTRY', dict(registry.REGISTRY))
  monkeypatch.syspath_prepend(str(example_dir))
  module = importlib.import_module('my_optimizers')
  try:
    entry = registry.entry('adamax')
    assert entry.defaults == {'b1': 0.9, 'b2': 0.999, 'eps': 1e-8}
    rng = np.random.default_rng(0)
    params = {'w': jnp.asarray(rng.normal(size=(3, 4)), jnp.float32),
              'b': jnp.asarray(rng.normal(size=4), jnp.float32)}
    ours = registry.get('adamax', 0.1, b1=0.8, b2=0.99, eps=1e-3)
    theirs = optax.adamax(0.1, b1=0.8, b2=0.99, eps=1e-3)
    state, reference = ours.init(params), theirs.init(params)
    for _ in range(5):
      g = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), p.dtype),
                       params)
      updates, state = ours.update(g, state, params, value=0.0, grad=g,
                                   value_fn=None)
      expected, reference = theirs.update(g, reference, params)
      jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6),
                   updates, expected)
  finally:
    sys.modules.pop(module.__name__, None)


@pytest.mark.slow
def test_the_example_runs_from_the_cli(example_dir, tmp_path):
  runs = tmp_path / 'runs'
  result = subprocess.run(
      [sys.executable, '-m', 'launch.cli', 'run', '--config', 'my_config.py',
       '--set', 'train.num_epochs=2', '--set', 'tracking.wandb=disabled',
       '--set', 'tracking.progress=false', '--set', f'tracking.output_dir={runs}'],
      cwd=example_dir, env=_env(REPO), capture_output=True, text=True,
      timeout=240, check=False)
  assert result.returncode == 0, result.stdout + result.stderr
  assert 'status: done' in result.stdout
  (run_dir,) = (runs / 'my_config').iterdir()
  config = json.loads((run_dir / 'config.json').read_text())
  assert config['optimizer']['name'] == 'adamax'
  assert config['optimizer']['hparams'] == {'b1': 0.9, 'b2': 0.99, 'eps': 1e-8}
  summary = json.loads((run_dir / 'summary.json').read_text())
  assert summary['final']['train/accuracy'] > 0.2  # 10 classes: it learned


@pytest.mark.slow
def test_the_optimizer_matrix_picks_the_example_up(example_dir):
  result = subprocess.run(
      [sys.executable, '-m', 'pytest', '-q', '-p', 'my_optimizers',
       '-p', 'no:cacheprovider', 'tests/test_optim_matrix.py', '-k', 'adamax'],
      cwd=REPO, env=_env(example_dir), capture_output=True, text=True,
      timeout=240, check=False)
  assert result.returncode == 0, result.stdout + result.stderr
  passed = re.search(r'(\d+) passed', result.stdout)
  assert passed and int(passed.group(1)) >= 7, result.stdout


@pytest.mark.slow
def test_the_example_is_scored_beside_the_others(example_dir, tmp_path):
  results = tmp_path / 'results'
  result = subprocess.run(
      [sys.executable, '-m', 'launch.cli', 'bench-optimizers', '--import',
       'my_optimizers.py', '--optimizers', 'adamax,adam', '--workloads',
       'bench_mnist1d_mlp', '--studies', '1', '--trials', '2', '--set',
       'train.num_epochs=2', '--output-dir', str(tmp_path / 'runs'),
       '--results-dir', str(results), '--wandb', 'disabled', '--quiet'],
      cwd=example_dir, env=_env(REPO), capture_output=True, text=True,
      timeout=240, check=False)
  assert result.returncode == 0, result.stdout + result.stderr
  table = (results / 'optimizer_benchmark.md').read_text()
  assert '| adamax |' in table and '| adam |' in table
