"""Datasets on the host: sources, splits, class subsets, domain shift and
normalization.

`load_dataset(config.data)` returns a `Dataset` of float32 inputs and int32
labels. tensorflow_datasets and mnist1d are imported only when a dataset needs
them.
"""

from research.data.config import DATA_DIR_ENV
from research.data.corruption import symmetric_noise
from research.data.config import default_data_config
from research.data.config import LOCAL_SOURCES
from research.data.config import NORMALIZATIONS
from research.data.config import resolve_data_config
from research.data.config import validate_data_config
from research.data.dataset import Dataset
from research.data.dataset import RawDataset
from research.data.idx import IdxFormatError
from research.data.idx import read_idx
from research.data.idx import write_idx
from research.data.loading import load_dataset
from research.data.loading import read_source
from research.data.normalization import fit_normalization
from research.data.normalization import normalize
from research.data.normalization import Normalization
from research.data.shift import apply_shift
from research.data.shift import SHIFTS
from research.data.splits import hold_out
from research.data.splits import hold_out_indices
from research.data.splits import hold_out_train_dev
from research.data.splits import select_classes
from research.data.splits import repeat
from research.data.splits import subsample

__all__ = [
    'DATA_DIR_ENV',
    'Dataset',
    'IdxFormatError',
    'LOCAL_SOURCES',
    'NORMALIZATIONS',
    'Normalization',
    'RawDataset',
    'SHIFTS',
    'apply_shift',
    'default_data_config',
    'fit_normalization',
    'hold_out',
    'hold_out_indices',
    'hold_out_train_dev',
    'load_dataset',
    'normalize',
    'read_idx',
    'read_source',
    'repeat',
    'resolve_data_config',
    'select_classes',
    'subsample',
    'symmetric_noise',
    'validate_data_config',
    'write_idx',
]
