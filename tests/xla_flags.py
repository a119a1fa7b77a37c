"""XLA's CPU backend without LLVM's optimization passes, for the tests.

The tests are compile-bound (hundreds of tiny runs, each compiling its own
programs), and -O0 cuts a tiny run's compile by about a third (the full
run: 12-14 min -> about 10). Results agree with the optimized build's to
float32 rounding: a tiny run's final metrics were identical and its
parameters within 3e-7. Processes that tests start inherit it; those that
set XLA_FLAGS themselves (fake devices) add `child_flags()`. A check that
needs XLA compiled as users' is runs in a child pytest
(`@compiled_as_users_are`). Users' runs are not affected.
"""

import functools
import inspect
import os
import subprocess
import sys

O0_FLAG = '--xla_backend_optimization_level=0'
# Set in a child pytest that must compile as users' runs do.
OPTIMIZED_ENV = 'RESEARCH_TESTS_XLA_OPTIMIZED'
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def apply() -> None:
  """Adds the flag to XLA_FLAGS (before JAX is imported), unless this is an
  optimized child."""
  flags = os.environ.get('XLA_FLAGS', '')
  if os.environ.get(OPTIMIZED_ENV) != '1' and O0_FLAG not in flags:
    os.environ['XLA_FLAGS'] = f'{flags} {O0_FLAG}'.strip()


def optimized() -> bool:
  """Whether this process compiles as users' runs do."""
  return O0_FLAG not in os.environ.get('XLA_FLAGS', '')


def child_flags(*flags: str) -> str:
  """XLA_FLAGS for a process a test starts with flags of its own (a fake
  device count): those, compiled as this process compiles."""
  return ' '.join([*flags, *(() if optimized() else (O0_FLAG,))])


def run_test_optimized(nodeid: str, timeout: int = 300) -> None:
  """Runs the test `nodeid` (path::name, from the repository root) in a child
  pytest compiled as users' runs are; raises AssertionError with its output
  if it does not pass."""
  env = {**os.environ, OPTIMIZED_ENV: '1',
         'XLA_FLAGS': os.environ.get('XLA_FLAGS', '').replace(O0_FLAG, '').strip()}
  done = subprocess.run(
      [sys.executable, '-m', 'pytest', nodeid, '-q', '-n', '0', '-p', 'no:cacheprovider'],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
  assert done.returncode == 0 and ' passed' in done.stdout, (
      f'{nodeid} in an optimized child pytest:\n{done.stdout[-4000:]}{done.stderr[-2000:]}')


def compiled_as_users_are(test):
  """Decorates a test (not parametrized) that must run compiled as users'
  runs are, being runtime-bound or sensitive to code generation: at the
  tests' -O0 it runs itself in an optimized child pytest instead."""
  nodeid = f'{os.path.relpath(inspect.getfile(test), ROOT)}::{test.__name__}'

  @functools.wraps(test)  # pytest reads the fixtures off the wrapped signature
  def wrapper(*args, **kwargs):
    if optimized():
      return test(*args, **kwargs)
    return run_test_optimized(nodeid)
  return wrapper
