"""Run tracking: the run directory, loggers (W&B), environment, progress.

Every run writes a `RunDir` (config, metrics as JSON lines, summary) and logs
through a `Logger`; `WandbLogger` falls back to offline files when W&B cannot
be reached, and `read_offline_run` reads them back.
"""

from research.tracking.environment import environment_info
from research.tracking.environment import git_info
from research.tracking.environment import package_versions
from research.tracking.jsonio import to_jsonable
from research.tracking.loggers import Logger
from research.tracking.loggers import MemoryLogger
from research.tracking.loggers import MultiLogger
from research.tracking.loggers import WandbLogger
from research.tracking.progress import ProgressBar
from research.tracking.run_dir import DamagedFileError
from research.tracking.run_dir import RunDir
from research.tracking.run_dir import RunDirInUseError
from research.tracking.wandb_mode import resolve_mode as resolve_wandb_mode
from research.tracking.wandb_offline import find_offline_runs
from research.tracking.wandb_offline import read_offline_run

__all__ = [
    'DamagedFileError',
    'Logger',
    'MemoryLogger',
    'MultiLogger',
    'ProgressBar',
    'RunDir',
    'RunDirInUseError',
    'WandbLogger',
    'environment_info',
    'find_offline_runs',
    'git_info',
    'package_versions',
    'read_offline_run',
    'resolve_wandb_mode',
    'to_jsonable',
]
