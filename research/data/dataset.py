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
  """Train / train-dev / dev / test splits, normalized, ready for the device.

  `x_*` are float32 in their natural shape ((N, 40) for mnist1d, (N, H, W, C)
  for images); `y_*` are int32 in [0, num_classes). The dev split has 0 rows
  when `dev_size` is 0, the train-dev split (held out of training, same
  distribution) when `train_dev_size` is 0. Under `data.shift`, dev and test
  come from the shifted (target) distribution.
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
  # None -> 0 rows shaped like the training split.
  x_train_dev: np.ndarray | None = None
  y_train_dev: np.ndarray | None = None

  def __post_init__(self):
    if self.x_train_dev is None:
      object.__setattr__(self, 'x_train_dev', self.x_train[:0])
    if self.y_train_dev is None:
      object.__setattr__(self, 'y_train_dev', self.y_train[:0])

  @property
  def input_shape(self) -> tuple[int, ...]:
    return tuple(self.x_train.shape[1:])

  def __repr__(self) -> str:
    sizes = ', '.join(f'{s}={len(getattr(self, "x_" + s))}'
                      for s in ('train', 'train_dev', 'dev', 'test'))
    kind = self.normalization.kind if self.normalization else 'none'
    return (f'Dataset({self.name!r}, {sizes}, input_shape={self.input_shape}, '
            f'num_classes={self.num_classes}, normalization={kind!r}, '
            f'source={self.source!r})')
