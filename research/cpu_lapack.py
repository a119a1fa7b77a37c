"""One OpenBLAS thread for LAPACK when several CPU devices call it at once.

On the CPU, JAX's eigh, QR, SVD and the other LAPACK custom calls run in
SciPy's OpenBLAS (jaxlib takes its kernels from `scipy.linalg.cython_lapack`).
With several CPU devices (`--xla_force_host_platform_device_count`, a
population's members sharded over them) each device's thread calls LAPACK at
the same time, and OpenBLAS's own thread pool, which they share, then
crawls: on 2 cores and 8 devices a SOAP step of the MNIST-1D MLP (small
eigh and QR per member) took 4 s instead of 0.05 s, the cores mostly idle.
One OpenBLAS thread per call removes that (the devices' threads are the
parallelism), as `OPENBLAS_NUM_THREADS=1` would at start-up. NumPy's own
OpenBLAS (a separate copy, `..._64_` symbols) is left as it is.
"""

import ctypes
import functools


@functools.cache
def single_threaded_lapack() -> tuple[str, ...]:
  """Sets SciPy's OpenBLAS to one thread; returns the libraries it set (none
  where none is loaded or found). Idempotent; a process-wide setting."""
  try:
    import scipy.linalg.cython_lapack  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import  (loads the library; scipy is slow to import)
    with open('/proc/self/maps', encoding='utf-8') as maps:
      paths = {line.split()[-1] for line in maps if 'openblas' in line}
  except (ImportError, OSError):
    return ()
  done = []
  for path in sorted(paths):
    try:
      set_threads = getattr(ctypes.CDLL(path), 'scipy_openblas_set_num_threads', None)
    except OSError:
      continue
    if set_threads is not None:
      set_threads(1)
      done.append(path)
  return tuple(done)
