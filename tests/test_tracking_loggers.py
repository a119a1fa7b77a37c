"""Tests of the in-memory and fan-out loggers."""

from research.tracking import Logger
from research.tracking import MemoryLogger
from research.tracking import MultiLogger
from research.tracking import WandbLogger


def test_loggers_satisfy_the_protocol(tmp_path):
  disabled = WandbLogger(project='p', directory=tmp_path, run_id='r',
                         mode='disabled')
  for logger in (MemoryLogger(), MultiLogger(), disabled):
    assert isinstance(logger, Logger)


def test_memory_and_multi_logger_fan_out():
  a, b = MemoryLogger(), MemoryLogger()
  logger = MultiLogger(a, b)
  logger.log_config({'lr': 0.1})
  logger.log_metrics({'epoch': 1, 'train/loss': 0.5}, step=10)
  logger.log_metrics({'epoch': 2, 'train/loss': 0.25}, step=20)
  logger.log_summary({'best': 0.9})
  logger.finish()
  for m in (a, b):
    assert m.config == {'lr': 0.1}
    assert m.history == [(10, {'epoch': 1, 'train/loss': 0.5}),
                         (20, {'epoch': 2, 'train/loss': 0.25})]
    assert m.summary == {'best': 0.9} and m.finished
