"""research/data/generated_cache.py: generated datasets cached on disk, read
back bit for bit, regenerated when an entry is damaged, and never a reason
for loading data to fail."""

import os
import subprocess
import sys

import numpy as np
import pytest

from research.data import generated_cache, mnist1d_source


class Generator:
  """Random arrays of several dtypes and shapes, counting its calls."""

  def __init__(self, seed=0):
    self.calls = 0
    self.seed = seed

  def __call__(self):
    self.calls += 1
    rng = np.random.default_rng(self.seed)
    return (rng.normal(size=(7, 3)).astype(np.float32),
            rng.integers(0, 10, size=7).astype(np.int32),
            rng.normal(size=(2, 2, 2)))


@pytest.fixture
def cache(tmp_path, monkeypatch):
  monkeypatch.setenv(generated_cache.ENV, str(tmp_path / 'cache'))
  return tmp_path / 'cache'


def _assert_same(a, b):
  assert len(a) == len(b)
  for x, y in zip(a, b):
    assert x.dtype == y.dtype and x.shape == y.shape
    np.testing.assert_array_equal(x, y)


def test_second_call_reads_what_the_first_generated(cache):
  generate = Generator()
  first = generated_cache.cached('toy', 'key', generate)
  second = generated_cache.cached('toy', 'key', generate)
  assert generate.calls == 1
  _assert_same(first, generate())
  _assert_same(second, first)
  # Written atomically: one entry, no temporary file left beside it.
  assert [p.name for p in cache.iterdir()] == [generated_cache.entry_path('toy', 'key').name]


def test_another_key_is_another_entry(cache):
  a, b = Generator(0), Generator(1)
  generated_cache.cached('toy', 'args 1', a)
  out = generated_cache.cached('toy', 'args 2', b)
  assert a.calls == b.calls == 1
  _assert_same(out, b())
  assert len(list(cache.iterdir())) == 2


@pytest.mark.parametrize('damage', ['truncated', 'one_bit_flipped', 'empty', 'not_npz'])
def test_a_damaged_entry_is_generated_again_and_replaced(cache, damage):
  generate = Generator()
  expected = generated_cache.cached('toy', 'key', generate)
  path = generated_cache.entry_path('toy', 'key')
  data = bytearray(path.read_bytes())
  if damage == 'truncated':
    data = data[:len(data) // 2]
  elif damage == 'one_bit_flipped':
    # Inside the first array's values (after its 128-byte .npy header): the
    # .npz still opens; only the member's CRC-32 tells.
    offset = data.index(b'\x93NUMPY') + 128 + 5
    data[offset] ^= 0x10
  elif damage == 'empty':
    data = bytearray()
  else:
    data = bytearray(b'not a zip file at all')
  path.write_bytes(bytes(data))
  _assert_same(generated_cache.cached('toy', 'key', generate), expected)
  assert generate.calls == 2
  # Replaced by a sound entry: the next call reads it.
  generated_cache.cached('toy', 'key', generate)
  assert generate.calls == 2


def test_off_writes_nothing(tmp_path, monkeypatch):
  monkeypatch.setenv(generated_cache.ENV, 'off')
  monkeypatch.setenv('HOME', str(tmp_path))
  generate = Generator()
  generated_cache.cached('toy', 'key', generate)
  generated_cache.cached('toy', 'key', generate)
  assert generate.calls == 2
  assert generated_cache.entry_path('toy', 'key') is None
  assert list(tmp_path.iterdir()) == []


def test_default_directory_is_under_the_home_cache(monkeypatch, tmp_path):
  monkeypatch.delenv(generated_cache.ENV, raising=False)
  monkeypatch.setenv('HOME', str(tmp_path))
  assert generated_cache.cache_dir() == tmp_path / '.cache' / 'research' / 'data'


@pytest.mark.skipif(os.geteuid() == 0, reason='root writes into read-only directories')
def test_an_unwritable_cache_costs_only_the_time(tmp_path, monkeypatch):
  read_only = tmp_path / 'read-only'
  read_only.mkdir()
  read_only.chmod(0o500)
  monkeypatch.setenv(generated_cache.ENV, str(read_only / 'cache'))
  generate = Generator()
  _assert_same(generated_cache.cached('toy', 'key', generate), Generator()())
  assert not (read_only / 'cache').exists()


def test_a_cache_that_is_a_file_costs_only_the_time(tmp_path, monkeypatch):
  # Root can write anywhere; a path under a regular file fails for everyone.
  blocker = tmp_path / 'file'
  blocker.write_text('')
  monkeypatch.setenv(generated_cache.ENV, str(blocker / 'cache'))
  generate = Generator()
  _assert_same(generated_cache.cached('toy', 'key', generate), Generator()())
  assert generate.calls == 1


def test_mnist1d_from_the_cache_is_the_generated_data(cache):
  generated = mnist1d_source._make_dataset()  # pylint: disable=protected-access
  mnist1d_source._generate.cache_clear()  # pylint: disable=protected-access
  try:
    first = mnist1d_source._generate()  # pylint: disable=protected-access
    mnist1d_source._generate.cache_clear()  # pylint: disable=protected-access
    second = mnist1d_source._generate()  # pylint: disable=protected-access
  finally:
    mnist1d_source._generate.cache_clear()  # pylint: disable=protected-access
  _assert_same(first, generated)
  _assert_same(second, generated)
  assert len([p for p in cache.iterdir() if p.name.startswith('mnist1d-')]) == 1


def test_a_process_with_the_entry_does_not_import_the_generator(cache):
  mnist1d_source._generate.cache_clear()  # pylint: disable=protected-access
  try:
    expected = mnist1d_source._generate()  # pylint: disable=protected-access
  finally:
    mnist1d_source._generate.cache_clear()  # pylint: disable=protected-access
  code = ('import sys; import numpy as np\n'
          'from research.data import mnist1d_source\n'
          'x = mnist1d_source.load_mnist1d().x_train\n'
          'print("mnist1d.data" in sys.modules, float(np.sum(x)))\n')
  env = {**os.environ, generated_cache.ENV: str(cache)}
  done = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True,
                        text=True, timeout=120, check=True)
  imported, total = done.stdout.split()
  assert imported == 'False'
  assert float(total) == float(np.sum(expected[0]))
