"""Tests of environment_info and the progress bar."""

import io
import re
import shutil
import sys

import pytest

from research.tracking import ProgressBar
from research.tracking import environment_info
from research.tracking import progress

PACKAGES = {'jax', 'jaxlib', 'flax', 'optax', 'orbax-checkpoint', 'chex',
            'numpy', 'ml_collections', 'tensorflow-datasets', 'wandb'}


def test_environment_info_has_the_documented_keys():
  info = environment_info()
  assert {'python', 'platform', 'hostname', 'cpu_count', 'jax_backend',
          'devices', 'device_kind', 'packages', 'git'} <= set(info)
  assert set(info['packages']) == PACKAGES
  assert re.fullmatch(r'\d+\.\d+.*', info['packages']['jax'])
  assert info['devices'] and all(isinstance(d, str) for d in info['devices'])
  assert info['jax_backend'] in ('cpu', 'gpu', 'tpu', 'cuda', 'rocm')
  assert set(info['git']) == {'commit', 'dirty'}


def test_git_commit_of_this_checkout():
  if shutil.which('git') is None:
    pytest.skip('git is not installed')
  git = environment_info()['git']
  assert re.fullmatch(r'[0-9a-f]{40}', git['commit'])
  assert isinstance(git['dirty'], bool)


def test_disabled_progress_bar_prints_nothing(capsys):
  bar = ProgressBar(100, enabled=False, desc='train')
  for step in range(1, 101):
    bar.update(step, 1, 2, {'train/loss': 0.5})
  bar.close()
  out, err = capsys.readouterr()
  assert out == '' and err == ''


def test_enabled_progress_bar_writes_to_stderr(capsys, monkeypatch):
  class Terminal(io.StringIO):
    def isatty(self):
      return True

  monkeypatch.setattr(sys, 'stderr', Terminal())  # a bar (else a line an epoch)
  with ProgressBar(10, initial_step=4, desc='train') as bar:
    for step in range(5, 11):
      bar.update(step, 2, 3, {'train/loss': 0.123456, 'train/accuracy': 0.9,
                              'dev/accuracy': 0.875})
  out, _ = capsys.readouterr()
  err = sys.stderr.getvalue()
  assert out == ''
  assert 'train' in err and '10/10' in err
  assert 'ep 2/3 loss 0.1235 acc 90.0% dev 87.5%' in err


def test_postfix_formatting():
  assert progress.format_postfix(1, 5, {}) == 'ep 1/5'
  assert progress.format_postfix(1, 5, {'loss': float('nan')}) == (
      'ep 1/5 loss nan')
