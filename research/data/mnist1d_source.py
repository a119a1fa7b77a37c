"""MNIST-1D, generated locally with the authors' default arguments.

`mnist1d.data.make_dataset(get_dataset_args())`: 4000 train / 1000 test
signals of 40 features, 10 classes, data seed 42. Never `get_dataset`, which
downloads.
"""

import contextlib
import functools
import io
import random

import numpy as np

from research.data.dataset import RawDataset

SOURCE = 'mnist1d(make_dataset, seed 42)'
CLASS_NAMES = tuple('0123456789')


def load_mnist1d() -> RawDataset:
  """The official MNIST-1D train and test splits (x float32, y int32)."""
  x_train, y_train, x_test, y_test = _generate()
  return RawDataset(x_train, y_train, x_test, y_test, CLASS_NAMES, SOURCE)


@functools.lru_cache(maxsize=1)  # Generating takes about 1.5 s.
def _generate() -> tuple[np.ndarray, ...]:
  # Imported here: mnist1d imports matplotlib, slow and needed by no other
  # source.
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
  arrays = (d['x'].astype(np.float32), d['y'].astype(np.int32),
            d['x_test'].astype(np.float32), d['y_test'].astype(np.int32))
  for a in arrays:
    a.flags.writeable = False  # Shared by every caller of the cache.
  return arrays
