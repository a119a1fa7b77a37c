"""A throwaway one-node SLURM cluster for the tests, started as root.

`start()` runs munged, mariadbd, slurmdbd, slurmctld and slurmd in the
foreground (as child processes, not services), each with its own files in one
temporary directory: a private munge key and socket, a private MariaDB data
directory on a free TCP port, and a slurm.conf naming free ports, so that
nothing of the machine's own SLURM, MariaDB or munge (if any) is read or
changed. The one node is `localhost` (slurmd -N localhost), so the job's host
list resolves wherever it runs. Accounting goes through slurmdbd: without it
`sacct` fails, and submitit, which asks `sacct` for the state of a job, never
sees a requeued or cancelled job end.

slurmctld registers its cluster with slurmdbd itself, and no limits are
enforced (no AccountingStorageEnforce), so no sacctmgr step is needed.
Jobs are scheduled at once on submit, and a requeued job may start again
after 11 s (cred_expire + 1; SLURM's default is 121 s).

Clients find the cluster through SLURM_CONF (`Cluster.environ`). `stop()`
cancels every job, stops the daemons it started (by their process ids) and
removes the directory.

Where SLURM cannot be started (not root, a binary missing, a daemon that does
not come up), `start()` raises `Unavailable` with the reason and the tail of
the daemon's log; the tests skip with it. RESEARCH_NO_SLURM=1 skips them too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time

NODE = 'localhost'
CLUSTER = 'researchtest'
PARTITION = 'debug'
CRED_EXPIRE_S = 10
# The programs `start` runs, and the clients the tests and submitit call.
DAEMONS = ('munged', 'mariadbd', 'slurmdbd', 'slurmctld', 'slurmd')
CLIENTS = ('sbatch', 'srun', 'squeue', 'sacct', 'scancel', 'scontrol', 'sinfo')
# Where Debian puts the daemons (not always on a user's PATH).
SBIN = ('/usr/sbin', '/usr/local/sbin', '/sbin')


class Unavailable(Exception):
  """SLURM cannot be started here; the message says why."""


@dataclasses.dataclass
class Cluster:
  directory: pathlib.Path
  conf: pathlib.Path  # slurm.conf, for SLURM_CONF
  processes: dict[str, subprocess.Popen]  # daemon name -> process
  timings: dict[str, float]  # phase -> seconds

  @property
  def environ(self) -> dict[str, str]:
    """What a client (sbatch, squeue, sacct, submitit) needs to see the cluster."""
    return {'SLURM_CONF': str(self.conf)}

  def run(self, *args: str, timeout: float = 30, check: bool = True,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """A SLURM client command against this cluster, in this environment
    with `env` (sbatch passes it all to the job)."""
    return subprocess.run(args, env={**os.environ, **(env or {}), **self.environ},
                          text=True, capture_output=True, timeout=timeout,
                          check=check)

  def stop(self, remove: bool = True) -> dict[str, float]:
    """Cancels all jobs, stops the daemons, removes the directory (unless
    `remove` is false); returns how long each step took."""
    timings = {}
    started = time.perf_counter()
    if self.processes.get('slurmctld') and self.processes['slurmctld'].poll() is None:
      with contextlib.suppress(Exception):
        self.run('scancel', '--full', '--user', 'root', timeout=10, check=False)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
          out = self.run('squeue', '-h', '-o', '%i', timeout=10, check=False)
          if out.returncode == 0 and not out.stdout.strip():
            break
          time.sleep(0.25)
    timings['cancel_jobs'] = time.perf_counter() - started
    # The job steps' slurmstepd processes outlive slurmd: wait for them.
    _wait_for_steps(self.directory, 15)
    for name in reversed(DAEMONS):
      proc = self.processes.pop(name, None)
      if proc is None:
        continue
      phase = time.perf_counter()
      _terminate(proc)
      timings[f'stop_{name}'] = time.perf_counter() - phase
    for pid in _stepd_pids(self.directory):  # left over after 15 s: kill them
      with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if remove:
      shutil.rmtree(self.directory, ignore_errors=True)
    timings['stop_total'] = time.perf_counter() - started
    return timings


def why_unavailable() -> str | None:
  """Why `start` cannot work here (before trying), or None."""
  if os.environ.get('RESEARCH_NO_SLURM'):
    return 'RESEARCH_NO_SLURM is set'
  if not hasattr(os, 'geteuid') or os.geteuid() != 0:
    return ('starting a SLURM cluster needs root (the daemons run as root, '
            'SlurmUser=root); run the tests as root, as CI does')
  missing = [name for name in (*DAEMONS, *CLIENTS, 'munge', 'mariadb-admin')
             if _which(name) is None]
  if missing:
    return (f'SLURM is not installed here: no {", ".join(missing)} on PATH or in '
            f'{":".join(SBIN)} (.ci/run installs the Debian packages slurmctld '
            'slurmd slurm-client munge slurmdbd mariadb-server)')
  return None


def start(directory: str | os.PathLike | None = None,
          timeout_s: float = 60) -> Cluster:
  """Starts the cluster and waits until its node is idle; raises Unavailable."""
  reason = why_unavailable()
  if reason:
    raise Unavailable(reason)
  if directory is None:
    # Under /tmp, not pytest's tmp_path: munged wants every directory above
    # its socket to be searchable by all, and pytest's is private to root.
    directory = tempfile.mkdtemp(prefix='research-slurm-')
  root = pathlib.Path(directory)
  cluster = Cluster(directory=root, conf=root / 'etc' / 'slurm.conf',
                    processes={}, timings={})
  try:
    _start(cluster, timeout_s)
  except BaseException:
    cluster.stop(remove=not os.environ.get('RESEARCH_SLURM_KEEP'))
    raise
  return cluster


# --------------------------------------------------------------------------


def _start(cluster: Cluster, timeout_s: float) -> None:
  root = cluster.directory
  deadline = time.monotonic() + timeout_s
  for sub in ('etc', 'log', 'run', 'state', 'spool', 'mysql'):
    (root / sub).mkdir(parents=True, exist_ok=True)
  # munged: every directory above its socket must be searchable by all.
  root.chmod(0o755)
  (root / 'run').chmod(0o755)
  ports = _free_ports(4)
  mysql_port, dbd_port, ctld_port, slurmd_port = ports
  munge_socket = root / 'run' / 'munge.sock'
  mysql_socket = root / 'run' / 'mysql.sock'

  def phase(name, fn):
    begun = time.perf_counter()
    fn()
    cluster.timings[name] = time.perf_counter() - begun

  # ---- munge: a private key and socket
  def munge():
    key = root / 'etc' / 'munge.key'
    key.write_bytes(secrets.token_bytes(1024))
    key.chmod(0o400)
    _spawn(cluster, 'munged', [
        _which('munged'), '--foreground', f'--key-file={key}',
        f'--socket={munge_socket}', f'--pid-file={root / "run" / "munged.pid"}',
        f'--seed-file={root / "state" / "munge.seed"}',
        f'--log-file={root / "log" / "munged.log"}'])
    _wait(cluster, 'munged', deadline, lambda: subprocess.run(
        [_which('munge'), '-n', '-S', str(munge_socket)], capture_output=True,
        timeout=5).returncode == 0)

  # ---- MariaDB: a fresh data directory; no grant tables (any local user is
  # every user), TCP on 127.0.0.1 only, small InnoDB files.
  def mariadb():
    _spawn(cluster, 'mariadbd', [
        _which('mariadbd'), '--no-defaults', f'--datadir={root / "mysql"}',
        f'--socket={mysql_socket}', f'--port={mysql_port}',
        '--bind-address=127.0.0.1', '--skip-grant-tables', '--user=root',
        f'--pid-file={root / "run" / "mysql.pid"}',
        f'--log-error={root / "log" / "mariadbd.log"}',
        '--innodb-log-file-size=8M', '--innodb-buffer-pool-size=32M',
        '--innodb-flush-log-at-trx-commit=2', '--skip-log-bin'])
    _wait(cluster, 'mariadbd', deadline, lambda: subprocess.run(
        [_which('mariadb-admin'), f'--socket={mysql_socket}', 'ping'],
        capture_output=True, timeout=5).returncode == 0)

  auth = f'AuthType=auth/munge\nAuthInfo=socket={munge_socket}\n'
  # cred_expire is also how long a requeued job waits before it may start
  # again (default 120 s); a step's credential is used within a second here.
  ctld_auth = (f'AuthType=auth/munge\nAuthInfo=socket={munge_socket},'
               f'cred_expire={CRED_EXPIRE_S}\n')

  # ---- slurmdbd: its conf must be 600 and owned by SlurmUser (root).
  def slurmdbd():
    conf = root / 'etc' / 'slurmdbd.conf'
    conf.write_text(
        f'{auth}DbdHost=localhost\nDbdAddr=127.0.0.1\nDbdPort={dbd_port}\n'
        'SlurmUser=root\nDebugLevel=info\n'
        f'LogFile={root / "log" / "slurmdbd.log"}\n'
        f'PidFile={root / "run" / "slurmdbd.pid"}\n'
        'StorageType=accounting_storage/mysql\nStorageHost=127.0.0.1\n'
        f'StoragePort={mysql_port}\nStorageUser=root\nStorageLoc=slurm_acct_db\n')
    conf.chmod(0o600)
    os.chown(conf, 0, 0)
    # slurmdbd reads the slurmdbd.conf next to SLURM_CONF.
    _spawn(cluster, 'slurmdbd', [_which('slurmdbd'), '-D'],
           env={'SLURM_CONF': str(cluster.conf)})
    _wait(cluster, 'slurmdbd', deadline, lambda: _listening(dbd_port))

  def slurm_conf():
    memory_mb = _memory_mb()
    cluster.conf.write_text(
        f'ClusterName={CLUSTER}\nSlurmctldHost={NODE}\n'
        f'SlurmctldPort={ctld_port}\nSlurmdPort={slurmd_port}\n'
        f'{ctld_auth}CredType=cred/munge\nSlurmUser=root\nSlurmdUser=root\n'
        f'StateSaveLocation={root / "state"}\nSlurmdSpoolDir={root / "spool"}\n'
        f'SlurmctldPidFile={root / "run" / "slurmctld.pid"}\n'
        f'SlurmdPidFile={root / "run" / "slurmd.pid"}\n'
        f'SlurmctldLogFile={root / "log" / "slurmctld.log"}\n'
        f'SlurmdLogFile={root / "log" / "slurmd.log"}\n'
        'SlurmctldDebug=info\nSlurmdDebug=info\n'
        # No cgroups here: processes are tracked through /proc.
        'ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n'
        'SelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n'
        'SchedulerType=sched/builtin\n'
        # Schedule at once on submit, and every second (a requeued job's
        # start time passes with no event to schedule it).
        'SchedulerParameters=batch_sched_delay=0,sched_interval=1\n'
        'MpiDefault=none\nSwitchType=switch/none\n'
        'AccountingStorageType=accounting_storage/slurmdbd\n'
        f'AccountingStorageHost=localhost\nAccountingStoragePort={dbd_port}\n'
        # For slurmdbd this is the munge socket to use.
        f'AccountingStoragePass={munge_socket}\n'
        'JobAcctGatherType=jobacct_gather/none\nJobCompType=jobcomp/none\n'
        'ReturnToService=2\nKillWait=5\nMinJobAge=300\nMailProg=/bin/true\n'
        'InactiveLimit=0\nSlurmdTimeout=60\nSlurmctldTimeout=30\n'
        f'NodeName={NODE} NodeAddr=127.0.0.1 CPUs={os.cpu_count() or 1} '
        f'RealMemory={memory_mb} State=UNKNOWN\n'
        f'PartitionName={PARTITION} Nodes={NODE} Default=YES MaxTime=INFINITE '
        'State=UP\n')

  def slurmctld():
    _spawn(cluster, 'slurmctld', [_which('slurmctld'), '-D', '-i', '-f', str(cluster.conf)])
    _wait(cluster, 'slurmctld', deadline, lambda: cluster.run(
        'scontrol', 'ping', timeout=5, check=False).stdout.count('UP') >= 1)

  def slurmd():
    _spawn(cluster, 'slurmd', [_which('slurmd'), '-D', '-N', NODE, '-f', str(cluster.conf)])
    _wait(cluster, 'slurmd', deadline, lambda: _node_state(cluster) in ('idle',))

  phase('munged', munge)
  phase('mariadbd', mariadb)
  phase('slurm_conf', slurm_conf)
  phase('slurmdbd', slurmdbd)
  phase('slurmctld', slurmctld)
  phase('slurmd', slurmd)
  cluster.timings['start_total'] = sum(cluster.timings.values())


def _spawn(cluster: Cluster, name: str, args: list[str], *, env=None) -> None:
  log = cluster.directory / 'log' / f'{name}.stdout'
  environ = {**os.environ, **(env or {})}
  with open(log, 'ab') as out:
    # A session of its own: a Ctrl-C at the terminal goes to pytest only,
    # and stop() ends the daemons in order.
    cluster.processes[name] = subprocess.Popen(
        [str(a) for a in args], stdin=subprocess.DEVNULL, stdout=out,
        stderr=subprocess.STDOUT, env=environ, cwd=cluster.directory,
        start_new_session=True)


def _wait(cluster: Cluster, name: str, deadline: float, ready) -> None:
  proc = cluster.processes[name]
  while True:
    if proc.poll() is not None:
      raise Unavailable(f'{name} exited with status {proc.returncode} while '
                        f'starting:\n{_logs(cluster, name)}')
    try:
      if ready():
        return
    except (subprocess.SubprocessError, OSError):
      pass
    if time.monotonic() > deadline:
      raise Unavailable(f'{name} did not become ready in time:\n{_logs(cluster, name)}')
    time.sleep(0.05)


def _logs(cluster: Cluster, name: str) -> str:
  parts = []
  for path in (cluster.directory / 'log' / f'{name}.log',
               cluster.directory / 'log' / f'{name}.stdout'):
    tail = _tail(path, 15)
    if tail:
      parts.append(f'--- {path.name}:\n{tail}')
  return '\n'.join(parts) or '(no log written)'


def _tail(path: pathlib.Path, lines: int) -> str:
  try:
    return '\n'.join(path.read_text(errors='replace').splitlines()[-lines:])
  except OSError:
    return ''


def _node_state(cluster: Cluster) -> str:
  out = cluster.run('sinfo', '-h', '-n', NODE, '-o', '%T', timeout=5, check=False)
  return out.stdout.strip().rstrip('*~#!%$@^-') if out.returncode == 0 else ''


def _which(name: str) -> str | None:
  found = shutil.which(name)
  if found:
    return found
  for folder in SBIN:
    candidate = os.path.join(folder, name)
    if os.access(candidate, os.X_OK):
      return candidate
  return None


def _free_ports(count: int) -> list[int]:
  sockets = []
  try:
    for _ in range(count):
      s = socket.socket()
      s.bind(('127.0.0.1', 0))
      sockets.append(s)
    return [s.getsockname()[1] for s in sockets]
  finally:
    for s in sockets:
      s.close()


def _listening(port: int) -> bool:
  with socket.socket() as s:
    s.settimeout(0.5)
    return s.connect_ex(('127.0.0.1', port)) == 0


def _memory_mb() -> int:
  with open('/proc/meminfo') as f:
    for line in f:
      if line.startswith('MemTotal:'):
        return max(int(line.split()[1]) // 1024 - 512, 512)
  return 1024


def _stepd_pids(directory: pathlib.Path) -> list[int]:
  """slurmstepd processes of this cluster's slurmd (their spool is ours)."""
  pids = []
  spool = str(directory / 'spool')
  for entry in pathlib.Path('/proc').iterdir():
    if not entry.name.isdigit():
      continue
    try:
      if not (entry / 'comm').read_text().startswith('slurmstepd'):
        continue
      links = [os.readlink(fd) for fd in (entry / 'fd').iterdir()]
    except OSError:
      continue
    if any(link.startswith(spool) for link in links):
      pids.append(int(entry.name))
  return pids


def _wait_for_steps(directory: pathlib.Path, timeout_s: float) -> None:
  deadline = time.monotonic() + timeout_s
  while _stepd_pids(directory) and time.monotonic() < deadline:
    time.sleep(0.2)


def _terminate(proc: subprocess.Popen, timeout_s: float = 10) -> None:
  if proc.poll() is None:
    proc.terminate()
    try:
      proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
      proc.kill()
      proc.wait(5)
