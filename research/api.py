"""Training and loading runs from Python (a notebook): the CLI's `research run`
as two calls.

  import experiments  # registers the experiments by name
  from research import api

  result = api.train('quickstart', overrides={'train.num_epochs': 3})
  result.summary['final']['test/accuracy'], len(result.history)
  trained = result.load()  # or api.load(result.run_dir)
  trained.predict(trained.dataset.x_test)

`train` goes through the one runner (`research.train.run`), so a run started
here is the CLI's run: the same run directory, resumed or left alone when
finished. Tracking is quiet unless asked: no progress bar, W&B disabled.

The library never imports `experiments` (DESIGN.md: imports point down), so
an experiment is found by name only once `import experiments` has registered
it; a config needs no registration. JAX is imported by the calls, not here:
a bad key is refused at once.
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import ml_collections

from research import config as config_lib
from research import registry
from research.errors import ConfigError

if TYPE_CHECKING:
  import numpy as np
  from research.data import Dataset
  from research.models import MLP
  from research.train.state import TrainState

# What `train` sets unless its overrides set them: a notebook shows no
# progress bar and sends nothing to W&B. (Tracking is not part of a run's
# identity, so these change no run directory.)
QUIET = {'tracking.progress': False, 'tracking.wandb': 'disabled'}

Overrides = Mapping[str, Any] | Iterable[str] | None


def _base_config(experiment: str | ml_collections.ConfigDict
                ) -> ml_collections.ConfigDict:
  if isinstance(experiment, ml_collections.ConfigDict):
    return experiment
  if not isinstance(experiment, str):
    raise TypeError('train takes an experiment name or an ml_collections '
                    f'ConfigDict, not {type(experiment).__name__}')
  if not registry.names():
    raise ConfigError(f'unknown experiment {experiment!r}: no experiment is '
                      'registered; `import experiments` first')
  return registry.get(experiment).config()


def _override_keys(overrides: Overrides) -> tuple[list, set[str]]:
  """(overrides as (key, value) pairs, the keys they set). Strings are
  'key=value' as on the command line; a mapping's values are Python values."""
  if overrides is None:
    return [], set()
  if isinstance(overrides, str):
    raise TypeError("overrides is a dict or a list of 'key=value' strings, "
                    f'not the string {overrides!r}')
  if isinstance(overrides, Mapping):
    pairs = list(overrides.items())
  else:
    pairs = [(key, config_lib.parse_value(text))
             for key, text in map(config_lib.split_override, overrides)]
  return pairs, {key for key, _ in pairs}


def make_config(experiment: str | ml_collections.ConfigDict,
                overrides: Overrides = None, *,
                quiet: bool = True) -> ml_collections.ConfigDict:
  """The config `train` runs: the experiment's (or `experiment` itself) with
  `overrides`, and the `QUIET` tracking settings they leave unset unless not
  `quiet`. An unknown key raises ConfigError naming it; no JAX is imported."""
  config = _base_config(experiment)
  pairs, keys = _override_keys(overrides)
  if quiet:
    config = config_lib.merge(
        config, {k: v for k, v in QUIET.items() if k not in keys})
  return config_lib.merge(config, pairs)


@dataclasses.dataclass(frozen=True)
class Result:
  """A finished (or stopped) run: what `train` returns."""
  summary: dict[str, Any]  # summary.json: status, epochs, 'final', 'best', ...
  history: list[dict[str, Any]]  # metrics.jsonl: one record per epoch
  run_dir: pathlib.Path

  def history_frame(self):
    """The history as a pandas DataFrame (pandas is not a dependency)."""
    try:
      import pandas  # pylint: disable=g-import-not-at-top
    except ImportError as e:
      raise ImportError('Result.history_frame needs pandas (pip install '
                        'pandas); Result.history holds the same records '
                        'as a list of dicts') from e
    return pandas.DataFrame.from_records(self.history)

  def load(self, which: str = 'latest') -> Trained:
    """The trained model and parameters: `load(self.run_dir, which)`."""
    return load(self.run_dir, which)


def train(experiment: str | ml_collections.ConfigDict,
          overrides: Overrides = None, *,
          workdir: str | pathlib.Path | None = None, restart: bool = False,
          quiet: bool = True) -> Result:
  """Trains an experiment (by name, once `import experiments` has registered
  it) or a config, through the same runner as `research run`.

  Args:
    experiment: a registered experiment's name or an `ml_collections`
      ConfigDict (e.g. `research.config.base_config()` changed).
    overrides: {dotted key: value} or ['key=value', ...] as with `--set`; an
      unknown key raises ConfigError naming it.
    workdir: the run directory; by default the CLI's,
      <tracking.output_dir>/<experiment>/seed<k>-<hash>.
    restart: train again a run that finished there (else it is left alone
      and its summary returned, marked 'already_finished').
    quiet: no progress bar and W&B disabled, unless `overrides` set
      `tracking.progress` or `tracking.wandb`; False keeps the config's.

  Returns:
    Result: the summary, the per-epoch history and the run directory.
  """
  config = make_config(experiment, overrides, quiet=quiet)
  # JAX from here on (see the module's docstring).
  from research.tracking.run_dir import RunDir  # pylint: disable=g-import-not-at-top
  from research.train import default_run_dir, run  # pylint: disable=g-import-not-at-top
  from research.train.resolve import resolve  # pylint: disable=g-import-not-at-top
  config = resolve(config)  # the one check of every value
  path = pathlib.Path(workdir or default_run_dir(config))
  summary = run(config, workdir=path, restart=restart)
  return Result(summary=summary, history=RunDir(path).read_metrics(),
                run_dir=path)


@dataclasses.dataclass(frozen=True)
class Trained:
  """A trained run's model and state, for predictions.

  `x` is as the run's dataset holds its inputs (normalized as the run's
  `data.normalization`; `dataset.normalization` and `research.data.normalize`
  map raw inputs there), a batch with a leading example axis. Predictions are
  evaluation's: BatchNorm's running statistics, no dropout, the config's
  test-time augmentation.
  """
  config: ml_collections.ConfigDict
  model: MLP
  state: TrainState
  dataset: Dataset

  @property
  def params(self):
    return self.state.params

  @functools.cached_property
  def _steps(self):
    import jax  # pylint: disable=g-import-not-at-top
    from research import augment  # pylint: disable=g-import-not-at-top
    from research.train import epoch, steps  # pylint: disable=g-import-not-at-top
    views = (None if self.config.augment.tta == 'none'
             else augment.tta_views(self.config.augment.tta,
                                    self.dataset.x_train.shape[1:]))
    options = dict(views=views,
                   bn_batch_statistics=self.config.train.bn_eval == 'batch')
    # The loop's own chunked prediction, so accuracies are evaluation's.
    predict = epoch.make_predict(
        steps.make_predict_step(self.model, **options),
        batch_size=self.config.train.eval_batch_size)
    logits = steps.make_test_time_logits(self.model, **options)
    return jax.jit(logits), jax.jit(predict)

  def apply(self, x) -> np.ndarray:
    """Logits, (N, num_classes), of the batch `x` (in one chunk)."""
    import numpy as np  # pylint: disable=g-import-not-at-top
    return np.asarray(self._steps[0](self.state, np.asarray(x, np.float32)))

  def predict(self, x) -> np.ndarray:
    """Predicted classes, (N,) int32, as evaluation computes them."""
    import numpy as np  # pylint: disable=g-import-not-at-top
    return np.asarray(self._steps[1](self.state, np.asarray(x, np.float32)))


def load(run_dir: str | pathlib.Path, which: str = 'latest', *,
         dataset: Dataset | None = None) -> Trained:
  """The model and state of the run in `run_dir` from its `latest` or `best`
  checkpoint (`best` exists where the run monitors a metric, train.monitor).
  The run's data is loaded again unless `dataset` is given."""
  if which not in ('latest', 'best'):
    raise ValueError(f"which is 'latest' or 'best', not {which!r}")
  from research.train.restore import load_trained  # pylint: disable=g-import-not-at-top
  trained = load_trained(run_dir, which, dataset=dataset)
  return Trained(config=trained.config, model=trained.model,
                 state=trained.state, dataset=trained.dataset)
