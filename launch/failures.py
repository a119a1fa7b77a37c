"""What `research run` says when the machine, not the config, is at fault:
a run directory that cannot be written, a full or read-only disk (found
inside orbax's and TensorStore's errors too, and said in one line instead
of a traceback from each of orbax's threads), XLA out of memory."""

import errno
import logging
import os
import pathlib
import re
import sys


def run_dir_problem(path, origin: str) -> str | None:
  """Why `path` cannot be a run directory (a file, under a file, a name too
  long, nowhere writable), naming `origin` (the option or key that chose
  it); None if it can. Creates nothing: asked before the run starts."""
  path = pathlib.Path(path)
  too_long = [p for p in path.parts if len(os.fsencode(p)) > 255]
  if too_long:
    return (f'{origin}: the run directory {path} has a name of '
            f'{len(os.fsencode(too_long[0]))} bytes (at most 255)')
  if path.exists() and not path.is_dir():
    return f'{origin}: {path} is a file, not a directory'
  existing = path
  while not existing.exists() and existing != existing.parent:
    existing = existing.parent
  if not existing.is_dir():
    return (f'{origin}: {existing} is a file, so the run directory {path} '
            'cannot be created under it')
  if not os.access(existing, os.W_OK | os.X_OK):
    return (f'{origin}: {existing} is not writable (read-only or no '
            f'permission): the run directory {path} cannot be written')
  return None


# OSErrors that say what is wrong with a path the user gave (or its disk).
FILE_SYSTEM_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES,
                       errno.EPERM, errno.ENOTDIR, errno.EEXIST,
                       errno.ENAMETOOLONG, errno.EISDIR)


def _file_system_error(e: BaseException, workdir) -> OSError | None:
  """The OSError of a full, read-only or forbidden disk behind `e` (in its
  chain, or as TensorStore words it inside orbax's errors) with a path:
  the one it names, else `workdir`; None if `e` is something else."""
  seen = set()
  while e is not None and id(e) not in seen:
    seen.add(id(e))
    if isinstance(e, OSError) and e.errno in FILE_SYSTEM_ERRNOS:
      if e.filename is None:  # a write to an open file: name where it went
        e.filename = str(workdir)
      return e
    code = _os_error_code(str(e))
    if code in FILE_SYSTEM_ERRNOS:
      quoted = re.search(r'"(/[^"]+)"', str(e))
      return OSError(code, os.strerror(code),
                     quoted.group(1) if quoted else str(workdir))
    e = e.__cause__ or e.__context__
  return None


def _os_error_code(message: str) -> int | None:
  """The errno in an error's words: TensorStore's os_error_code='28', or a
  'No space left on device' alone."""
  match = re.search(r"os_error_code='(\d+)'", message)
  if match:
    return int(match.group(1))
  return errno.ENOSPC if os.strerror(errno.ENOSPC) in message else None


# Where orbax's threads and tasks log an error that the main thread raises
# too: absl.logging, and asyncio's "Task exception was never retrieved".
_THREAD_LOGGERS = ('absl', 'asyncio')


class _DropFileSystemTracebacks(logging.Filter):
  """Drops the tracebacks that orbax's threads log for a disk error the main
  thread then raises: that error's one line says it all."""

  def filter(self, record: logging.LogRecord) -> bool:
    text = record.getMessage()
    if record.exc_info and record.exc_info[1] is not None:
      text += str(record.exc_info[1])
    return _os_error_code(text) not in FILE_SYSTEM_ERRNOS


def os_error_line(e: OSError) -> str:
  """'no space left on device: /path' from an OSError."""
  reason = (e.strerror or os.strerror(e.errno)).lower()
  paths = [str(p) for p in (e.filename, e.filename2) if p is not None]
  return f'{reason}: {" -> ".join(paths)}' if paths else reason


def run_reporting_failures(run, config, workdir, restart: bool) -> dict | None:
  """`run(config)`: a full, read-only or forbidden disk raised as one OSError
  naming the path (for `main`), XLA running out of memory said in one line
  (then None)."""
  drop = _DropFileSystemTracebacks()
  loggers = [logging.getLogger(name) for name in _THREAD_LOGGERS]
  for logger in loggers:
    logger.addFilter(drop)
  keep_filter = False
  try:
    return run(config, workdir=workdir, restart=restart)
  except Exception as e:  # pylint: disable=broad-except  (re-raised unless a disk's)
    first_line = (str(e).strip().splitlines() or [''])[0]
    if ('RESOURCE_EXHAUSTED' in first_line
        and 'out of memory' in first_line.lower()):  # XLA's, from a size
      print(f'error: out of memory: {first_line}; a size in the config is too '
            'large for this machine (train.batch_size, train.eval_batch_size, '
            'model.hidden)', file=sys.stderr)
      return None
    found = _file_system_error(e, workdir)
    if found is None:
      raise
    # orbax's unretrieved tasks log the same error again when they are
    # collected, as the process exits: the filter stays for them.
    keep_filter = True
    raise found from e
  finally:
    if not keep_filter:
      for logger in loggers:
        logger.removeFilter(drop)
