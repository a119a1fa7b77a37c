"""SIGTERM (a scheduler preempting the job), SIGUSR2 (SLURM's warning that the
time limit is near: `sbatch --signal=USR2@90`, submitit's default) and SIGINT
ask the loop to stop at the end of the current epoch, after saving a
checkpoint."""

import contextlib
import signal
import threading


class StopRequest:
  def __init__(self):
    self.signal_name: str | None = None

  @property
  def requested(self) -> bool:
    return self.signal_name is not None


@contextlib.contextmanager
def stop_on_signals(signals=(signal.SIGTERM, signal.SIGUSR2, signal.SIGINT)):
  """Yields a StopRequest that the handlers set; restores old handlers after.

  Outside the main thread Python cannot install handlers: the request is then
  never set, and the run behaves as before.
  """
  request = StopRequest()
  if threading.current_thread() is not threading.main_thread():
    yield request
    return

  def handler(signum, frame):  # pylint: disable=unused-argument
    if request.requested and signum == signal.SIGINT:
      raise KeyboardInterrupt  # a second Ctrl-C: stop now
    request.signal_name = signal.Signals(signum).name

  previous = {s: signal.signal(s, handler) for s in signals}
  try:
    yield request
  finally:
    for s, h in previous.items():
      signal.signal(s, h)
