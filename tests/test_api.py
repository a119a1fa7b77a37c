"""research.api: training and loading runs from Python, and README's example."""

import importlib
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from research import api, registry
from research import config as config_lib
from research.errors import ConfigError

importlib.import_module('experiments')  # registers them

REPO = pathlib.Path(__file__).resolve().parents[1]
HEADING = '### From Python (a notebook)'
# Small and fast: 2 epochs of a small MLP, with a dev set so that a best
# checkpoint exists too.
OVERRIDES = ['train.num_epochs=2', 'model.hidden=(32, 32)',
             'data.dev_size=500', 'train.monitor=dev/accuracy']
AS_DICT = {'train.num_epochs': 2, 'model.hidden': (32, 32),
           'data.dev_size': 500, 'train.monitor': 'dev/accuracy'}


def readme_example() -> str:
  """The first ```python block after the README's API subsection heading."""
  text = (REPO / 'README.md').read_text()
  assert HEADING in text, f'README.md lost its {HEADING!r} subsection'
  found = re.search(r'```python\n(.*?)```', text[text.index(HEADING):], re.S)
  assert found, f'no ```python block under {HEADING!r} in README.md'
  return found.group(1)


@pytest.fixture(scope='module')
def result(tmp_path_factory):
  """One run trained through the API with list overrides."""
  output_dir = tmp_path_factory.mktemp('api_runs')
  return api.train('quickstart',
                   [*OVERRIDES, f'tracking.output_dir={output_dir}'])


def test_readme_example_runs(tmp_path, monkeypatch, capsys):
  monkeypatch.chdir(tmp_path)  # the default output dir, runs/, lands here
  namespace = {}
  code = compile(readme_example(), 'README.md', 'exec')
  exec(code, namespace)  # pylint: disable=exec-used
  result, trained = namespace['result'], namespace['trained']
  assert result.run_dir.resolve().is_relative_to(tmp_path / 'runs' / 'quickstart')
  assert len(result.history) == 2
  y = trained.dataset.y_test
  assert np.mean(trained.predict(trained.dataset.x_test) == y) == pytest.approx(
      result.summary['final']['test/accuracy'], abs=1e-6)
  assert namespace['logits'].shape == (5, 10)
  assert str(result.run_dir) in capsys.readouterr().out


def test_history_has_one_record_per_epoch(result):
  assert result.summary['status'] == 'done'
  assert [r['epoch'] for r in result.history] == [1, 2]
  assert result.history[-1]['test/accuracy'] == pytest.approx(
      result.summary['final']['test/accuracy'])
  assert (result.run_dir / 'summary.json').is_file()


def test_dict_and_list_overrides_are_the_same_run(result):
  # Same config, same run directory: the finished run is not trained again.
  again = api.train('quickstart', {**AS_DICT, 'tracking.output_dir':
                                   str(result.run_dir.parents[1])})
  assert again.run_dir == result.run_dir
  assert again.summary['already_finished']
  assert again.history == result.history


@pytest.mark.parametrize('overrides', [{'model.hiden': 3}, ['model.hiden=3']])
def test_an_unknown_key_raises_config_error_naming_it(overrides, tmp_path):
  with pytest.raises(ConfigError, match=r'model\.hiden.*model\.hidden'):
    api.train('quickstart', overrides, workdir=tmp_path / 'run')
  assert not (tmp_path / 'run').exists()


def test_a_bad_key_is_refused_before_jax_loads():
  probe = ('import experiments\nfrom research import api\nimport sys\n'
           'try:\n  api.train("quickstart", ["model.hiden=3"])\n'
           'except api.ConfigError:\n  pass\n'
           'print("jax" in sys.modules)')
  out = subprocess.run([sys.executable, '-c', probe], cwd=REPO, check=True,
                       capture_output=True, text=True, timeout=120).stdout
  assert out.split() == ['False']


def test_tracking_is_quiet_unless_asked():
  quiet = api.make_config('quickstart')
  assert not quiet.tracking.progress and quiet.tracking.wandb == 'disabled'
  asked = api.make_config('quickstart', ['tracking.wandb=offline'])
  assert asked.tracking.wandb == 'offline' and not asked.tracking.progress
  loud = api.make_config('quickstart', quiet=False)
  assert loud.tracking.to_dict() == config_lib.base_config().tracking.to_dict()


def test_a_config_needs_no_registration():
  base = registry.get('quickstart').config()
  config = api.make_config(base, {'seed': 3})
  assert config.seed == 3 and config.data.name == 'mnist1d'
  assert base.seed == 0  # the caller's config is not changed


def test_an_unregistered_name_says_to_import_experiments(monkeypatch):
  monkeypatch.setattr(registry, '_REGISTRY', {})
  with pytest.raises(ConfigError, match='import experiments'):
    api.train('quickstart')


def test_a_string_of_overrides_is_refused():
  with pytest.raises(TypeError, match='key=value'):
    api.make_config('quickstart', 'seed=1')


def test_history_frame(result):
  pandas = pytest.importorskip('pandas')
  frame = result.history_frame()
  assert isinstance(frame, pandas.DataFrame)
  assert list(frame['epoch']) == [1, 2]


def test_history_frame_without_pandas_says_so(result, monkeypatch):
  monkeypatch.setitem(sys.modules, 'pandas', None)  # import pandas fails
  with pytest.raises(ImportError, match='pip install pandas'):
    result.history_frame()


def test_load_predicts_the_summarys_test_accuracy(result):
  trained = result.load()
  x, y = trained.dataset.x_test, trained.dataset.y_test
  predicted = trained.predict(x)
  assert predicted.shape == y.shape and predicted.dtype == np.int32
  assert np.mean(predicted == y) == pytest.approx(
      result.summary['final']['test/accuracy'], abs=1e-6)
  np.testing.assert_array_equal(np.argmax(trained.apply(x), -1), predicted)
  assert trained.config.model.hidden == (32, 32)
  assert trained.params is trained.state.params


def test_load_best(result):
  best = api.load(result.run_dir, 'best', dataset=result.load().dataset)
  x, y = best.dataset.x_test, best.dataset.y_test
  assert np.mean(best.predict(x) == y) == pytest.approx(
      result.summary['best']['test/accuracy'], abs=1e-6)


def test_load_refuses_what_is_not_a_run(tmp_path):
  with pytest.raises(ValueError, match='latest'):
    api.load(tmp_path, 'newest')
  with pytest.raises(FileNotFoundError, match='config.json'):
    api.load(tmp_path)
