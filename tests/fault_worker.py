"""`research ARGS...` in a process that kills itself at a chosen point
(tests/test_faults.py).

  python tests/fault_worker.py [--kill WHEN:TARGET:N[:MATCH]]
      [--hold TARGET:N[:S]] [--cache-all] [--trace FILE]
      -- run EXPERIMENT --set ... --workdir DIR

Each TARGET is a dotted function or method (`package.module.Class.method`,
async methods included), wrapped before `launch.cli.main(ARGS)` runs:

  --kill before:TARGET:N   SIGKILL on entering the N-th call of TARGET (N >= 1)
  --kill after:TARGET:N    SIGKILL when the N-th call of TARGET returns
           with :MATCH, only calls whose arguments' repr matches the regular
           expression MATCH count (e.g. the orbax path object of one step).
  --hold TARGET:N[:S]      the N-th call of TARGET waits S seconds (default
           HOLD_S) before it runs: of two saves that may run on threads at
           once, a kill armed on the other then lands before this one starts
           (where the two run in turn, this one just starts late).
  The trace's 'n' counts every call of a target; a kill's N only the calls
  that match.
  --cache-all              JAX's persistent cache keeps every compiled program
           (research.compilation_cache.MIN_COMPILE_SECONDS = 0): the many
           processes of a test load rather than compile; results do not change.
  --trace FILE             appends one JSON line per call and return of the
           watched functions (TRACED, and every TARGET): {'t': seconds since
           the worker started, 'event': 'call' | 'return' | 'hold' | 'kill',
           'target', 'n'}; the first line is {'event': 'start', 'pid',
           'time'}, the last of a process that was not killed {'event':
           'exit', 'code'}.

SIGKILL is what a killed job, an OOM kill or a power cut leaves: no handler,
no `finally`, no flush. The process exits with -9 (`Popen.returncode`);
every other exit is `launch.cli.main`'s.
"""

import argparse
import functools
import importlib
import inspect
import json
import os
import pathlib
import re
import signal
import sys
import threading
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
# The run's bookkeeping, traced whenever --trace is given.
TRACED = (
    'research.tracking.run_dir.RunDir.write_config',
    'research.tracking.run_dir.RunDir.append_metrics',
    'research.tracking.run_dir.RunDir.write_summary',
    'research.train.checkpointing.Checkpointer.save_best',
    'research.train.checkpointing.Checkpointer.save_latest',
)
# How long a held call waits for the kill before it goes on.
HOLD_S = 5.0

_STARTED = time.monotonic()
_lock = threading.Lock()
_counts: dict[str, int] = {}  # target -> calls so far
_trace_fd: int | None = None


def _trace(**record) -> None:
  if _trace_fd is not None:
    line = json.dumps({'t': round(time.monotonic() - _STARTED, 6), **record})
    os.write(_trace_fd, (line + '\n').encode())  # O_APPEND: one write a line


def _die(reason: str) -> None:
  _trace(event='kill', reason=reason)
  sys.stderr.write(f'fault_worker: SIGKILL {reason}\n')
  sys.stderr.flush()
  os.kill(os.getpid(), signal.SIGKILL)
  time.sleep(60)  # never reached: SIGKILL is not deliverable late


def _resolve(target: str):
  """(owner, attribute name) of a dotted `module[.Class].function`."""
  parts = target.split('.')
  for i in range(len(parts) - 1, 0, -1):
    try:
      owner = importlib.import_module('.'.join(parts[:i]))
    except ModuleNotFoundError:
      continue
    for name in parts[i:-1]:
      owner = getattr(owner, name)
    if not hasattr(owner, parts[-1]):
      raise SystemExit(f'fault_worker: {target}: no attribute {parts[-1]!r}')
    return owner, parts[-1]
  raise SystemExit(f'fault_worker: {target}: no such module')


class _Kill:
  """A kill armed on the N-th (matching) call of a target."""

  def __init__(self, spec: str):
    when, rest = spec.split(':', 1)
    if when not in ('before', 'after'):
      raise SystemExit(f'fault_worker: --kill {spec}: before or after?')
    fields = rest.split(':', 2)
    self.when, self.target, self.n = when, fields[0], int(fields[1])
    self.match = re.compile(fields[2]) if len(fields) > 2 else None
    self.seen = 0

  def counts(self, args, kwargs) -> bool:
    """Whether this call counts (and is then the N-th: fires)."""
    if self.match and not self.match.search(repr((args, kwargs))):
      return False
    self.seen += 1
    return self.seen == self.n


def _wrap(owner, name: str, target: str, kills: list[_Kill],
          holds: dict[int, float]):
  original = inspect.getattr_static(owner, name)
  kind = type(original) if isinstance(
      original, (staticmethod, classmethod)) else None
  function = original.__func__ if kind else original

  def enter(args, kwargs) -> tuple[int, bool]:
    with _lock:
      n = _counts[target] = _counts.get(target, 0) + 1
    if n in holds:  # until the kill (nothing ends the wait early)
      _trace(event='hold', target=target, n=n)
      threading.Event().wait(holds[n])
    with _lock:
      fired = [kill for kill in kills if kill.counts(args, kwargs)]
    _trace(event='call', target=target, n=n,
           **({'args': repr(args)[:300]} if kills else {}))
    if any(kill.when == 'before' for kill in fired):
      _die(f'before call {n} of {target}')
    return n, any(kill.when == 'after' for kill in fired)

  def leave(n: int, armed: bool) -> None:
    _trace(event='return', target=target, n=n)
    if armed:
      _die(f'after call {n} of {target}')

  if inspect.iscoroutinefunction(function):
    @functools.wraps(function)
    async def wrapper(*args, **kwargs):
      n, armed = enter(args, kwargs)
      result = await function(*args, **kwargs)
      leave(n, armed)
      return result
  else:
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
      n, armed = enter(args, kwargs)
      result = function(*args, **kwargs)
      leave(n, armed)
      return result
  setattr(owner, name, kind(wrapper) if kind else wrapper)


def main(argv: list[str]) -> int:
  global _trace_fd
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--kill', action='append', default=[])
  parser.add_argument('--hold', action='append', default=[])
  parser.add_argument('--trace')
  parser.add_argument('--cache-all', action='store_true')
  parser.add_argument('args', nargs=argparse.REMAINDER)
  args = parser.parse_args(argv)
  cli_args = args.args[1:] if args.args[:1] == ['--'] else args.args
  if args.trace:
    _trace_fd = os.open(args.trace, os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                        0o644)
    _trace(event='start', pid=os.getpid(), time=time.time())

  sys.path.insert(0, str(REPO))
  kills = [_Kill(spec) for spec in args.kill]
  holds = []  # (target, call number, seconds)
  for hold in args.hold:
    target, n, *seconds = hold.split(':')
    holds.append((target, int(n), float(seconds[0]) if seconds else HOLD_S))
  targets = list(dict.fromkeys(
      [*(TRACED if args.trace else ()), *(k.target for k in kills),
       *(t for t, _, _ in holds)]))
  for target in targets:
    owner, name = _resolve(target)
    _wrap(owner, name, target, [k for k in kills if k.target == target],
          {n: s for t, n, s in holds if t == target})

  if args.cache_all:
    from research import compilation_cache  # pylint: disable=g-import-not-at-top
    compilation_cache.MIN_COMPILE_SECONDS = 0.0
  from launch import cli  # pylint: disable=g-import-not-at-top
  code = cli.main(cli_args)
  _trace(event='exit', code=code)
  return code


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
