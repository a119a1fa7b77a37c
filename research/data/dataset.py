"""The containers a source returns and `load_dataset` hands to training."""

import dataclasses
from typing import NamedTuple

import numpy as np

from research.data.normalization import Normalization


class RawDataset(NamedTuple):
  """What a source reads: the official train and test splits, unnormalized.

  `x` keeps its stored dtype (uint8 for images, so that 'unit_interval' is
  exactly x / 255) and `y` holds ids in [0, len(class_names)).
  """
  x_train: np.ndarray
  y_train: np.ndarray
  x_test: np.ndarray
  y_test: np.ndarray
  class_names: tuple[str, ...]
  source: str  # where it came from, e.g. 'idx:/data/mnist'


# eq=False: == on array fields is ambiguous; a Dataset compares by identity.
@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Dataset:
  """Train / dev / test splits, normalized, ready to move to the device.

  `x_*` are float32 in their natural shape ((N, 40) for mnist1d, (N, H, W, C)
  for images); `y_*` are int32 in [0, num_classes). The dev split has 0 rows
  when `dev_size` is 0.
  """
  name: str
  x_train: np.ndarray
  y_train: np.ndarray
  x_dev: np.ndarray
  y_dev: np.ndarray
  x_test: np.ndarray
  y_test: np.ndarray
  num_classes: int
  class_names: tuple[str, ...]  # after class subsetting, in label order
  source: str
  # Original label id of each new label (all ids when there is no subset).
  class_ids: tuple[int, ...] = ()
  # x = (x_raw - normalization.shift) / normalization.scale, on every split.
  normalization: Normalization | None = None

  @property
  def input_shape(self) -> tuple[int, ...]:
    return tuple(self.x_train.shape[1:])

  def __repr__(self) -> str:
    sizes = ', '.join(f'{s}={len(getattr(self, "x_" + s))}'
                      for s in ('train', 'dev', 'test'))
    kind = self.normalization.kind if self.normalization else 'none'
    return (f'Dataset({self.name!r}, {sizes}, input_shape={self.input_shape}, '
            f'num_classes={self.num_classes}, normalization={kind!r}, '
            f'source={self.source!r})')
