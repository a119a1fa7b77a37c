"""Reads and writes the IDX format of the MNIST files, gzip-compressed or not.

An IDX file is a big-endian header, the magic number `0x0000TTNN` (TT: the
element type, NN: the number of dimensions) and NN dimension sizes as uint32,
followed by the elements in C order. MNIST images have magic 2051 (uint8, 3
dimensions), labels 2049 (uint8, 1 dimension).
"""

import gzip
import math
import os
import zlib

import numpy as np

from research.errors import DataError

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049

# IDX type code -> element type (big-endian where it matters).
_DTYPES = {
    0x08: np.dtype('u1'),
    0x09: np.dtype('i1'),
    0x0B: np.dtype('>i2'),
    0x0C: np.dtype('>i4'),
    0x0D: np.dtype('>f4'),
    0x0E: np.dtype('>f8'),
}
_CODES = {dtype.newbyteorder('='): code for code, dtype in _DTYPES.items()}
_GZIP_MAGIC = b'\x1f\x8b'


class IdxFormatError(DataError):
  """A file is not valid IDX; the message names the file and the problem."""


def read_idx(path: str | os.PathLike[str],
             expected_magic: int | None = None) -> np.ndarray:
  """Returns the array stored in an IDX file, in native byte order.

  Args:
    path: the file; gzip compression is detected from its content, not its
      name.
    expected_magic: if given, the magic number the file must have (e.g.
      `IMAGES_MAGIC`), so labels passed as images fail here, clearly.

  Raises:
    IdxFormatError: wrong magic number, truncated or overlong data, or a
      corrupt gzip stream; the message names the file.
  """
  path = os.fspath(path)
  raw = _read_bytes(path)
  if len(raw) < 4:
    raise IdxFormatError(
        f'{path}: {len(raw)} bytes, too short for an IDX header')
  magic = int.from_bytes(raw[:4], 'big')
  if expected_magic is not None and magic != expected_magic:
    raise IdxFormatError(
        f'{path}: magic number {magic} (0x{magic:08x}), expected '
        f'{expected_magic} (0x{expected_magic:08x}); wrong file or not IDX')
  code, ndim = raw[2], raw[3]
  if raw[:2] != b'\0\0' or code not in _DTYPES:
    raise IdxFormatError(
        f'{path}: magic number 0x{magic:08x} is not an IDX magic number')
  header_size = 4 + 4 * ndim
  if len(raw) < header_size:
    raise IdxFormatError(
        f'{path}: truncated: {len(raw)} bytes, less than the '
        f'{header_size}-byte header of a {ndim}-dimensional IDX file')

  shape = tuple(int(d) for d in np.frombuffer(raw, '>u4', ndim, offset=4))
  dtype = _DTYPES[code]
  # Python ints: a damaged header's sizes must not overflow into a match.
  count = math.prod(shape)
  expected = count * dtype.itemsize
  present = len(raw) - header_size
  if present != expected:
    problem = 'truncated' if present < expected else 'overlong'
    raise IdxFormatError(
        f'{path}: {problem}: the header gives shape {shape}, {expected} bytes '
        f'of data, but {present} bytes follow the header')
  data = np.frombuffer(raw, dtype, count=count, offset=header_size)
  # astype copies: a writable array that does not pin the file's bytes.
  return data.reshape(shape).astype(dtype.newbyteorder('='))


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> None:
  """Writes `array` as IDX; gzip-compressed when the name ends in '.gz'."""
  path = os.fspath(path)
  array = np.asarray(array)
  native = array.dtype.newbyteorder('=')
  if native not in _CODES:
    raise ValueError(f'IDX cannot store dtype {array.dtype}; one of '
                     f'{sorted(str(d) for d in _CODES)}')
  code = _CODES[native]
  header = bytes([0, 0, code, array.ndim]) + np.asarray(
      array.shape, '>u4').tobytes()
  payload = header + array.astype(_DTYPES[code]).tobytes()
  if path.endswith('.gz'):
    payload = gzip.compress(payload)
  with open(path, 'wb') as f:
    f.write(payload)


def _read_bytes(path: str) -> bytes:
  with open(path, 'rb') as f:
    raw = f.read()
  if raw[:2] != _GZIP_MAGIC:
    return raw
  try:
    return gzip.decompress(raw)
  except (EOFError, OSError, zlib.error) as e:  # BadGzipFile is an OSError.
    raise IdxFormatError(
        f'{path}: corrupt or truncated gzip stream ({e})') from e
