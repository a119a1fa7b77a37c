"""Test settings: W&B never reaches the network, and the shared data is found."""

import atexit
import os
import pathlib
import shutil
import tempfile

import opt_in  # pylint: disable=g-bad-import-order  (these two import no JAX)
import xla_flags

# Before anything imports wandb or jax.
os.environ.setdefault('WANDB_MODE', 'offline')
os.environ.setdefault('WANDB_SILENT', 'true')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
# XLA at -O0: the tests are compile-bound (see xla_flags.py).
xla_flags.apply()
# One persistent compilation cache for the session, in a new temporary
# directory: tests, and the processes they start (pytest-xdist's workers
# too: they inherit it), that compile a program compiled before load it (a
# quarter of the suite's time was compiling the same tiny runs again).
# Nothing goes to ~/.cache and nothing is loaded from an earlier session.
# test_compilation_cache.py uses caches of its own.
if 'RESEARCH_COMPILATION_CACHE' not in os.environ:
  _CACHE = tempfile.mkdtemp(prefix='research-tests-jax-cache-')
  atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
  os.environ['RESEARCH_COMPILATION_CACHE'] = _CACHE
# Generated datasets (MNIST-1D) likewise: generated once for the session, not
# in every process that loads them (test_data_generated_cache.py uses
# directories of its own).
if 'RESEARCH_DATA_CACHE' not in os.environ:
  _DATA_CACHE = tempfile.mkdtemp(prefix='research-tests-data-cache-')
  atexit.register(shutil.rmtree, _DATA_CACHE, ignore_errors=True)
  os.environ['RESEARCH_DATA_CACHE'] = _DATA_CACHE

import pytest  # pylint: disable=g-import-not-at-top

REPO = pathlib.Path(__file__).resolve().parents[1]


def shared_data_dir() -> pathlib.Path | None:
  """$RESEARCH_DATA_DIR, else ../shared/data next to the checkout, else None."""
  candidates = [os.environ.get('RESEARCH_DATA_DIR'), REPO.parent / 'shared' / 'data']
  for c in candidates:
    if c and (pathlib.Path(c) / 'mnist').is_dir():
      return pathlib.Path(c)
  return None


@pytest.fixture
def mnist_dir() -> pathlib.Path:
  d = shared_data_dir()
  if d is None:
    pytest.skip('the official MNIST files are not here: set RESEARCH_DATA_DIR '
                f'to a directory holding mnist/ (looked in {REPO.parent / "shared" / "data"})')
  return d / 'mnist'


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
  """No W&B key, mode or netrc anywhere: what a fresh machine has."""
  for name in ('WANDB_MODE', 'WANDB_API_KEY', 'WANDB_IDENTITY_TOKEN_FILE',
               'WANDB_BASE_URL', 'NETRC'):
    monkeypatch.delenv(name, raising=False)
  monkeypatch.setenv('HOME', str(tmp_path / 'home'))
  (tmp_path / 'home').mkdir()
  return tmp_path / 'home'


# The files that take longest (seconds of their tests, measured 2026-12-02),
# longest first. pytest-xdist hands out whole files in collection order, so
# these go first and the short files fill the workers' ends: otherwise the
# run can end with one worker on a minute-long file while the other idles.
LONGEST_FILES = (
    'test_launch_slurm_real.py', 'test_parallel.py', 'test_faults.py',
    'test_cli_configs.py', 'test_distributed.py', 'test_population.py',
    'test_optim_matrix.py', 'test_quantization.py', 'test_train_loop.py',
    'test_lbfgs.py', 'test_tracking_wandb_unreachable.py',
    'test_optim_plugin.py', 'test_compilation_cache.py')


# Tests marked `exhaustive` repeat a check that the default run makes on
# representative cases, over every case (every optimizer, one more device
# layout): they keep the default run under 10 minutes and run when asked for.
EXHAUSTIVE_ENV = 'RESEARCH_TESTS_EXHAUSTIVE'


def pytest_collection_modifyitems(config, items):
  rank = {name: i for i, name in enumerate(LONGEST_FILES)}
  # A stable sort: the tests of a file keep their order.
  items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
  if not opt_in.wanted(config, 'exhaustive', EXHAUSTIVE_ENV):
    skip = pytest.mark.skip(reason=f'an exhaustive case: run with {EXHAUSTIVE_ENV}=1 '
                                   '(or -m exhaustive)')
    for item in items:
      if 'exhaustive' in item.keywords:
        item.add_marker(skip)
