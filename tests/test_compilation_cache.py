"""The persistent compilation cache: where it goes, how it is turned off, and
that a second process loads what the first compiled."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from research import compilation_cache

pytestmark = pytest.mark.slow  # seconds a test: out of `-m 'not slow'`

REPO = pathlib.Path(__file__).resolve().parents[1]

RUN = """
import json, sys
import jax
events = []
jax.monitoring.register_event_listener(lambda name, **_: events.append(name))
import experiments
from research import config, registry
from research.train import run
c = config.merge(registry.get('quickstart').config(), {
    'train.num_epochs': 2, 'tracking.wandb': 'disabled', 'tracking.progress': False,
    'tracking.output_dir': sys.argv[1]})
s = run(c, restart=True)
print(json.dumps({'test': s['final']['test/accuracy'],
                  'hits': events.count('/jax/compilation_cache/cache_hits'),
                  'misses': events.count('/jax/compilation_cache/cache_misses')}))
"""


def test_cache_dir_from_the_environment(monkeypatch, tmp_path):
  monkeypatch.setenv(compilation_cache.ENV, 'off')
  assert compilation_cache.cache_dir() is None
  monkeypatch.setenv(compilation_cache.ENV, str(tmp_path / 'c'))
  assert compilation_cache.cache_dir() == tmp_path / 'c'
  monkeypatch.delenv(compilation_cache.ENV)
  monkeypatch.setenv('HOME', str(tmp_path))
  assert compilation_cache.cache_dir() == tmp_path / '.cache' / 'research' / 'jax'


def _run(cache: pathlib.Path, output: pathlib.Path) -> dict:
  env = {**os.environ, compilation_cache.ENV: str(cache),
         'PYTHONPATH': str(REPO)}
  done = subprocess.run([sys.executable, '-c', RUN, str(output)], env=env,
                        capture_output=True, text=True, timeout=240, check=True)
  return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_second_process_loads_the_compiled_programs(tmp_path):
  cache = tmp_path / 'cache'
  first = _run(cache, tmp_path / 'runs')
  written = sorted(p.name for p in cache.iterdir())
  assert written and first['hits'] == 0  # the epoch and the evaluation, at least
  second = _run(cache, tmp_path / 'runs')
  # What the first wrote, the second found, with the same result.
  assert second['hits'] >= len([n for n in written if not n.endswith('-atime')])
  # The second may add a program the first compiled in under
  # MIN_COMPILE_SECONDS (and so did not write): timing decides, not the test.
  assert set(written) <= {p.name for p in cache.iterdir()}
  assert second['test'] == first['test']
