"""Loading MNIST from its IDX files against loading the same data from TFDS.

  python -m experiments.benchmarks.tfds_loading [--data-dir ../shared/data]
      [--tfds-dir DIR] [--repeats 3] [--output PATH]

Builds TFDS 'mnist' (its real features: PNG `Image`, `ClassLabel`; ArrayRecord)
from the IDX files, without TensorFlow or network, in `--tfds-dir` (a
temporary directory if not given; reused if already prepared there). Then
times `research.data.loading.read_source` on each (the unnormalized train and
test splits, as `load_dataset` reads them), and for comparison the reading
the TFDS source did before (`as_data_source`, one example at a time, TFDS's
per-image PIL decode). Checks that all three give the same examples.
"""

import argparse
import datetime
import importlib
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from research.data import idx_source
from research.data import loading
from research.tracking import environment


def build_tfds_mnist(tfds_dir: str, idx_dir: Path) -> float:
  """Prepares TFDS 'mnist' in `tfds_dir` from the IDX files; seconds taken
  (0 if already prepared).

  TFDS's own builder downloads the IDX files and PNG-encodes each image with
  `tf.image.encode_png`; here the files are read from `idx_dir` and encoded
  with PIL (which may choose other PNG row filters than libpng does).
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top  (slow; timed separately)
  from PIL import Image  # pylint: disable=g-import-not-at-top

  builder = tfds.builder('mnist', data_dir=tfds_dir,
                         file_format='array_record')
  if builder.is_prepared():
    return 0.0
  raw = idx_source.load_idx_dataset(idx_dir, 'mnist')

  def png(image):
    buffer = io.BytesIO()
    Image.fromarray(image[..., 0]).save(buffer, format='PNG')
    return buffer.getvalue()

  def examples(x, y):
    for i, (image, label) in enumerate(zip(x, y)):
      yield i, {'image': png(image), 'label': int(label)}

  builder._split_generators = lambda dl_manager: {  # pylint: disable=protected-access  (no download: the local files)
      'train': examples(raw.x_train, raw.y_train),
      'test': examples(raw.x_test, raw.y_test)}
  started = time.perf_counter()
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(try_download_gcs=False))
  return time.perf_counter() - started


def read_one_by_one(tfds_dir: str) -> tuple[np.ndarray, ...]:
  """The TFDS source's reading before batching: example by example."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  builder = tfds.builder('mnist', data_dir=tfds_dir)
  arrays = []
  for split in ('train', 'test'):
    source = builder.as_data_source(split=split)
    examples = [source[i] for i in range(len(source))]
    arrays += [np.stack([e['image'] for e in examples]),
               np.array([e['label'] for e in examples], np.int64)]
  return tuple(arrays)


def canonical(x: np.ndarray, y: np.ndarray) -> list[bytes]:
  """Examples as a sorted list (TFDS stores them shuffled)."""
  return sorted(image.tobytes() + int(label).to_bytes(1, 'little')
                for image, label in zip(x, y))


def timed(fn, repeats: int, before=lambda: None
          ) -> tuple[list[float], object]:
  """Seconds of `repeats` calls of `fn` (each after `before`, untimed), and
  its last result."""
  times, result = [], None
  for _ in range(repeats):
    before()
    started = time.perf_counter()
    result = fn()
    times.append(time.perf_counter() - started)
  return times, result


def hardware() -> str:
  cpu = environment.cpu_model() or platform.processor() or platform.machine()
  load = ', '.join(f'{x:.1f}' for x in os.getloadavg())
  return (f'{cpu}, {os.cpu_count()} cores (os.cpu_count()), load average at '
          f'start {load}; Python {platform.python_version()}')


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--data-dir', default='../shared/data',
                      help="the MNIST IDX files ('' -> $RESEARCH_DATA_DIR)")
  parser.add_argument('--tfds-dir', default='',
                      help='where to build TFDS mnist (default: a temporary '
                      'directory)')
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--skip-one-by-one', action='store_true',
                      help='do not time the old example-by-example reading')
  parser.add_argument('--output', default='experiments/results/tfds_loading.md',
                      help="where to write the report ('' for nowhere)")
  args = parser.parse_args(argv)
  data_dir = args.data_dir or os.environ.get('RESEARCH_DATA_DIR', '')
  idx_dir = idx_source.find_idx_dir(data_dir, 'mnist') if data_dir else None
  if idx_dir is None:
    print(f'no MNIST IDX files under {data_dir!r}; pass --data-dir',
          file=sys.stderr)
    return 1
  machine = hardware()
  with tempfile.TemporaryDirectory() as scratch:
    tfds_dir = args.tfds_dir or scratch
    started = time.perf_counter()
    importlib.import_module('tensorflow_datasets')  # its import, timed alone
    import_s = time.perf_counter() - started
    build_s = build_tfds_mnist(tfds_dir, idx_dir)

    rows = []
    # The IDX reader caches the decoded files within a process: clear it, so
    # that every run reads and decompresses them.
    idx_times, idx_raw = timed(
        lambda: loading.read_source('mnist', data_dir, ''), args.repeats,
        before=idx_source._read.cache_clear)  # pylint: disable=protected-access
    rows.append(('IDX files (`idx_source`)', idx_times))
    # data_dir '' and no $RESEARCH_DATA_DIR: read_source goes to TFDS.
    os.environ.pop('RESEARCH_DATA_DIR', None)
    loading.read_source('mnist', '', tfds_dir)  # untimed: TFDS's lazy imports
    tfds_times, tfds_raw = timed(
        lambda: loading.read_source('mnist', '', tfds_dir), args.repeats)
    rows.append(('TFDS, batched (`tfds_source` now)', tfds_times))
    assert tfds_raw.source.startswith('tfds:'), tfds_raw.source
    reference = [canonical(*idx_raw[:2]), canonical(*idx_raw[2:4])]
    checks = [[canonical(*tfds_raw[:2]), canonical(*tfds_raw[2:4])]]
    if not args.skip_one_by_one:
      old_times, old = timed(lambda: read_one_by_one(tfds_dir), 1)
      rows.append(('TFDS, one example at a time (before)', old_times))
      checks.append([canonical(*old[:2]), canonical(*old[2:])])
    same = all(c == reference for c in checks)

  table = ['| source | examples | median (s) | min-max (s) | runs |',
           '|---|---:|---:|---:|---:|']
  n = len(idx_raw.x_train) + len(idx_raw.x_test)
  for label, times in rows:
    table.append(f'| {label} | {n:,} | {statistics.median(times):.2f} | '
                 f'{min(times):.2f}-{max(times):.2f} | {len(times)} |')
  command = 'python -m experiments.benchmarks.tfds_loading' + ''.join(
      f' {flag}' for flag in (argv if argv is not None else sys.argv[1:]))
  text = REPORT.format(
      command=command, hardware=machine,
      date=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
      table='\n'.join(table), import_s=import_s,
      build=(f'{build_s:.1f} s' if build_s else 'already prepared'),
      same='yes' if same else 'NO')
  print(text)
  if args.output:
    with open(args.output, 'w') as f:
      f.write(text)
  return 0 if same else 1


REPORT = """# Loading MNIST: IDX files against TFDS (ArrayRecord)

Command: `{command}`
Hardware: {hardware}
Date: {date}

{table}

Same 70,000 (image, label) examples from every row (compared as sorted sets;
TFDS stores them shuffled): {same}.

Notes:
- Each row times `research.data.loading.read_source('mnist', ...)` in one
  process: the unnormalized uint8 train and test splits, as `load_dataset`
  reads them. TFDS is imported before timing ({import_s:.1f} s, once per
  process; IDX runs never import it), and one untimed TFDS read runs first
  (the rest of TFDS's lazy imports). The IDX reader's in-process cache is
  cleared before each IDX run.
- The TFDS copy is built from the same IDX files by this script (TFDS 'mnist'
  with its real features: PNG-encoded `Image`, `ClassLabel`; ArrayRecord;
  built in {build}), without TensorFlow or network.
- "now": records read 10,000 at a time (`__getitems__`), tf.Examples parsed
  with protobuf, the PNGs decoded with PIL directly. "before":
  `as_data_source(split)[i]` for every i, each a separate ArrayRecord read,
  TFDS's generic tf.Example parse and image decode.
"""


if __name__ == '__main__':
  sys.exit(main())
