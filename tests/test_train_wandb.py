"""A W&B offline run holds exactly what the run directory holds."""

import json

import pytest

from research.tracking import read_offline_run
from research.train import run
from train_helpers import tiny_config


@pytest.mark.slow
def test_offline_wandb_matches_run_directory(tmp_path, monkeypatch):
  monkeypatch.setenv('WANDB_MODE', 'offline')
  summary = run(tiny_config('tracking.wandb=offline', 'train.num_epochs=3', 'data.dev_size=500'),
                workdir=tmp_path)
  logged = read_offline_run(tmp_path, wait_s=30)  # W&B's writer may lag finish()
  rows = [json.loads(l) for l in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  history = [h for h in logged['history'] if 'train/loss' in h]
  assert len(history) == len(rows) == 3
  for h, r in zip(history, rows):
    for key, value in r.items():
      assert h[key] == pytest.approx(value, rel=0, abs=0), key
  assert logged['config']['optimizer']['learning_rate'] == 1e-2
  assert logged['config']['model']['hidden'] == [32, 32]
  assert logged['summary']['final']['test/accuracy'] == summary['final']['test/accuracy']
  assert logged['summary']['status'] == 'done'
