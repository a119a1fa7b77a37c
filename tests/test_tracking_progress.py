"""One run's progress (research.tracking.progress): a line per epoch when
stderr is not a terminal, and the population display."""

import io
import re
import sys

import pytest

from launch.cli import main
from research.tracking import ProgressBar
from research.tracking import progress

METRICS = {'train/loss': 0.34123, 'train/accuracy': 0.901, 'dev/accuracy': 0.897}
POPULATION = {'running': 30, 'total': 32, 'monitor': 'dev/accuracy', 'best': 0.9712}


class Terminal(io.StringIO):

  def isatty(self):
    return True


def test_not_a_terminal_prints_a_plain_line_per_epoch(capsys):
  with ProgressBar(100, initial_step=20, desc='quickstart') as bar:
    bar.update(30, 3, 10, {**METRICS, 'time_s': 12.34})
    bar.update(30, 3, 10, METRICS)  # the same epoch again: no second line
    bar.update(40, 4, 10, {})
  out, err = capsys.readouterr()
  first, second = err.splitlines()
  assert out == '' and '\r' not in err
  assert first == 'quickstart ep 3/10 loss 0.3412 acc 90.1% dev 89.7% (12.3 s)'
  # No time_s in the metrics: the time since the bar was made.
  assert re.fullmatch(r'quickstart ep 4/10 \(\d+\.\d s\)', second)

  ProgressBar(10).update(1, 1, 1, METRICS)
  assert capsys.readouterr().err.startswith('ep 1/1 loss')  # no desc, no leading space


def test_a_population_shows_members_running_and_the_best(capsys, monkeypatch):
  with ProgressBar(100, desc='quickstart x32') as bar:
    bar.update(30, 3, 10, {'time_s': 5.0}, members=POPULATION)
  assert capsys.readouterr().err == (
      'quickstart x32 ep 3/10 · 30/32 running · best dev/accuracy 97.1% (5.0 s)\n')

  monkeypatch.setattr(sys, 'stderr', Terminal())
  with ProgressBar(100, desc='quickstart x32') as bar:
    bar.update(30, 3, 10, {}, members=POPULATION)
  screen = sys.stderr.getvalue().rsplit('\r', 1)[-1]
  assert screen.startswith('quickstart x32:  30%|') and '30/100' in screen
  assert screen.rstrip().endswith('ep 3/10 · 30/32 running · best dev/accuracy 97.1%]')


@pytest.mark.parametrize('members, shown', [
    (POPULATION, ['30/32 running', 'best dev/accuracy 97.1%']),
    ({**POPULATION, 'best': None}, ['30/32 running']),  # nothing evaluated yet
    ({'running': 2, 'total': 4, 'monitor': 'dev/loss', 'best': 0.123456},
     ['2/4 running', 'best dev/loss 0.1235']),
    ({'running': 0, 'total': 4, 'monitor': 'dev/accuracy', 'best': float('nan')},
     ['0/4 running', 'best dev/accuracy nan']),
])
def test_format_members(members, shown):
  assert progress.format_members(members) == shown


def test_disabled_prints_nothing_for_a_population(capsys):
  with ProgressBar(10, enabled=False) as bar:
    bar.update(5, 1, 2, METRICS, members=POPULATION)
  assert capsys.readouterr() == ('', '')


@pytest.mark.slow
def test_research_run_prints_a_line_per_epoch(tmp_path, capsys):
  # The loop's bar, stderr not being a terminal; `--quiet` turns it off
  # (tests/test_launch_progress.py: tracking.progress=False).
  args = ['run', 'quickstart', '--set', 'train.num_epochs=2', '--set', 'tracking.wandb=disabled',
          '--set', 'model.hidden=(16,)', '--workdir', str(tmp_path)]
  assert main(args) == 0
  lines = [l for l in capsys.readouterr().err.splitlines() if l.startswith('quickstart ')]
  assert len(lines) == 2, lines
  for epoch, line in enumerate(lines, start=1):
    assert re.fullmatch(rf'quickstart ep {epoch}/2 loss \S+ acc \S+%( dev \S+%)? \(\d+\.\d s\)',
                        line), line
