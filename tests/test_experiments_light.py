"""Registering the experiments stays light: `research list` and `research
--help` import no JAX, SciPy or matplotlib; a report named as
'module:function' is checked when registered and imported when needed."""

import subprocess
import sys

import pytest

from research import registry
from research.errors import ConfigError
from research.tables import TableInputs
import experiments  # pylint: disable=unused-import  (registers them)

HEAVY = ('jax', 'optax', 'flax', 'scipy', 'matplotlib', 'orbax', 'wandb',
         'tensorflow_datasets')


@pytest.mark.parametrize('module', ['experiments', 'launch.cli'])
def test_import_loads_no_heavy_module(module):
  """In a fresh interpreter: what `research list` and `--help` import."""
  code = (f'import sys, {module}\n'
          f'print(" ".join(m for m in {HEAVY!r} if m in sys.modules))')
  result = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, check=True, timeout=120)
  assert result.stdout.split() == []


def test_every_named_report_resolves():
  """Every report named as 'module:function' imports to a function."""
  named = [registry.get(n) for n in registry.names()
           if isinstance(registry.get(n).report, str)]
  assert named  # the heavy reports are named, not imported
  for experiment in named:
    assert callable(experiment.load_report()), experiment.name


def test_report_path_is_checked_at_registration():
  for bad in ('experiments.nowhere', 'no colon', 'a.b:c:d', ':report', 'x.:r', 42):
    with pytest.raises(ValueError, match="'package.module:function'"):
      registry.register('_bad_report', description='', report=bad)
    with pytest.raises(ValueError, match="'package.module:function'"):
      registry.register_table('_bad_report', description='', report=bad)
  with pytest.raises(ValueError, match="'package.module:function'"):
    registry.register_table('_bad_report', description='', report=None)
  assert '_bad_report' not in registry.names()


def test_named_report_is_imported_when_made(tmp_path, monkeypatch):
  (tmp_path / '_lazy_report_module.py').write_text(
      'def report(inputs):\n  return f"## From {inputs.experiment}"\n')
  monkeypatch.syspath_prepend(str(tmp_path))
  monkeypatch.delitem(sys.modules, '_lazy_report_module', raising=False)
  monkeypatch.setattr(registry, '_REGISTRY', {})
  registry.register_table('_lazy', description='d', report='_lazy_report_module:report')
  # Registering it twice (`python -m` imports a module twice) is not a conflict.
  registry.register_table('_lazy', description='d', report='_lazy_report_module:report')
  experiment = registry.get('_lazy')
  assert experiment.report is not None and '_lazy_report_module' not in sys.modules
  inputs = TableInputs('_lazy', [], [], tmp_path, log=lambda line: None)
  assert experiment.make_report(inputs) == '## From _lazy'
  assert experiment.load_report() is sys.modules['_lazy_report_module'].report

  registry.register_table('_missing', description='d',
                          report='_lazy_report_module:not_there')
  with pytest.raises(ValueError, match='not a function of that module'):
    registry.get('_missing').make_report(inputs)
  registry.register('_no_report', description='d')(lambda: None)
  assert registry.get('_no_report').load_report() is None
  with pytest.raises(ConfigError, match='has no report'):
    registry.get('_no_report').make_report(inputs)
