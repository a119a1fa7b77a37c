"""Configs from files: a Python file whose `get_config()` returns a
ConfigDict (as the flax examples and big_vision), or a run directory's
`config.json`."""

import importlib.util
import pathlib
import sys

import ml_collections

from research.config.keys import differences, merge
from research.config.sections import base_config
from research.errors import ConfigError
from research.tracking import jsonio
from research.tracking.run_dir import CONFIG

def load_config_file(path: str | pathlib.Path) -> ml_collections.ConfigDict:
  """The config that `get_config()` of the Python file at `path` returns.

  The file is imported as a module named after it, with its directory on
  `sys.path` as for a script (so the optimizers it imports register), and
  its config is checked against the base config's keys. An unnamed config
  is named after the file.
  """
  path = pathlib.Path(path)
  if not path.is_file() or path.suffix != '.py':
    raise ConfigError(f'--config: {path} is not a Python file')
  directory = str(path.resolve().parent)
  if directory not in sys.path:
    sys.path.insert(0, directory)
  name = f'research_config_{path.stem}'
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  sys.modules[name] = module
  spec.loader.exec_module(module)
  get_config = getattr(module, 'get_config', None)
  if not callable(get_config):
    raise ConfigError(f'--config: {path} defines no get_config()')
  config = get_config()
  if not isinstance(config, ml_collections.ConfigDict):
    raise ConfigError(f'--config: get_config() in {path} returned a '
                      f'{type(config).__name__}, not a ConfigDict')
  # Every key must be one the base has: a typo fails here, naming the key.
  config = merge(base_config(), differences(config, base_config()))
  if not config.experiment:
    config.experiment = path.stem
  return config


def read_run_config(run_dir: str | pathlib.Path) -> dict:
  """The config a run directory recorded, as written (a dict)."""
  path = pathlib.Path(run_dir) / CONFIG
  try:
    written = jsonio.read_json(path)
  except (OSError, ValueError) as e:
    raise ConfigError(f'--from: cannot read {path}: {e}') from e
  if written is None:
    raise ConfigError(f'--from: {run_dir} holds no {CONFIG}: not a run '
                      'directory')
  return written
