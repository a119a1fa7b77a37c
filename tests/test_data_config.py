"""validate_data_config: each bad value is a ConfigError naming its key."""

import subprocess
import sys
import time

import ml_collections
import pytest

from research import data
from research.errors import ConfigError


def test_defaults_are_valid():
  data.validate_data_config(data.default_data_config())


def test_reads_no_data():
  c = data.default_data_config()
  c.name, c.dir = 'mnist', '/no/such/dir'
  start = time.perf_counter()
  data.validate_data_config(c)
  data.validate_data_config(ml_collections.ConfigDict({'name': 'cifar10'}))
  assert time.perf_counter() - start < 0.1


@pytest.mark.parametrize('key, value, match', [
    ('name', '', 'data.name'),
    ('name', 3, 'data.name'),
    ('dir', 5, 'data.dir'),
    ('tfds_dir', 5, 'data.tfds_dir'),
    ('dev_size', -1, 'data.dev_size'),
    ('dev_size', 1.5, 'data.dev_size'),
    ('dev_size', True, 'data.dev_size'),
    ('split_seed', -2, 'data.split_seed'),
    ('classes', 3, 'data.classes'),
    ('classes', (3, 3), 'data.classes'),
    ('classes', (3, -1), 'data.classes'),
    ('classes', ('3',), 'data.classes'),
    ('normalization', 'foo',
     r"data.normalization: 'foo' is not one of "
     r"\['none', 'standardize', 'unit_interval'\]"),
    ('dev_szie', 10, 'data.dev_szie: unknown key'),
])
def test_bad_value_names_key(key, value, match):
  c = data.default_data_config().to_dict()
  c[key] = value  # a plain dict: ConfigDict itself would refuse some types
  with pytest.raises(ConfigError, match=match):
    data.validate_data_config(c)


def test_unknown_names_are_left_to_load_time():
  c = data.default_data_config()
  c.name = 'some_tfds_dataset'
  data.validate_data_config(c)


def test_import_is_light():
  # tensorflow_datasets and mnist1d (which imports matplotlib) are slow to
  # import; only the sources that need them import them.
  code = ('import sys, research; before = set(sys.modules); '
          'import research.data; new = set(sys.modules) - before; '
          'print(sorted(m for m in ("tensorflow_datasets", "mnist1d", '
          '"matplotlib") if m in new))')
  out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                       text=True, check=True, timeout=60).stdout
  assert out.strip() == '[]'
