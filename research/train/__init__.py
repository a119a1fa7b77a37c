"""Train state, pure steps, the epoch loop, checkpoints, and running a config."""

from research.train.checkpointing import Checkpointer
from research.train.early_stopping import Monitor
from research.train.loop import train
from research.train.runner import default_run_dir, run
from research.train.state import TrainState, create_train_state
from research.train.steps import make_eval_step, make_train_step

__all__ = ['Checkpointer', 'Monitor', 'TrainState', 'create_train_state',
           'default_run_dir', 'make_eval_step', 'make_train_step', 'run', 'train']
