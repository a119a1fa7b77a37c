"""MNIST-1D, generated locally with the authors' default arguments.

`mnist1d.data.make_dataset(get_dataset_args())`: 4000 train / 1000 test
signals of 40 features, 10 classes, data seed 42. Never `get_dataset`, which
downloads. The arrays are kept in `research.data.generated_cache` (keyed by
the mnist1d package's version, which fixes the default arguments), so a
process reads them instead of generating them again.
"""

import contextlib
import functools
import importlib.metadata
import io
import random

import numpy as np

from research.data import generated_cache
from research.data.dataset import RawDataset

SOURCE = 'mnist1d(make_dataset, seed 42)'
CLASS_NAMES = tuple('0123456789')


def load_mnist1d() -> RawDataset:
  """The official MNIST-1D train and test splits (x float32, y int32)."""
  x_train, y_train, x_test, y_test = _generate()
  return RawDataset(x_train, y_train, x_test, y_test, CLASS_NAMES, SOURCE)


@functools.lru_cache(maxsize=1)  # Once a process, and once a machine on disk.
def _generate() -> tuple[np.ndarray, ...]:
  key = (f'mnist1d {importlib.metadata.version("mnist1d")} '
         'make_dataset(get_dataset_args()) x float32 y int32')
  arrays = generated_cache.cached('mnist1d', key, _make_dataset)
  for a in arrays:
    a.flags.writeable = False  # Shared by every caller of the cache.
  return arrays


def _make_dataset() -> tuple[np.ndarray, ...]:
  """Generates the splits (about 3 s with the import, on 2 CPU cores)."""
  # Imported here: mnist1d imports matplotlib, slow and needed by no other
  # source, and not at all when the arrays are cached.
  import mnist1d.data  # pylint: disable=g-import-not-at-top  (matplotlib: slow)

  args = mnist1d.data.get_dataset_args()
  # make_dataset reseeds the global `random` and `np.random` generators; put
  # the caller's state back so loading data has no hidden effect on it.
  np_state, py_state = np.random.get_state(), random.getstate()
  try:
    with contextlib.redirect_stdout(io.StringIO()):
      d = mnist1d.data.make_dataset(args)
  finally:
    np.random.set_state(np_state)
    random.setstate(py_state)
  return (d['x'].astype(np.float32), d['y'].astype(np.int32),
          d['x_test'].astype(np.float32), d['y_test'].astype(np.int32))
