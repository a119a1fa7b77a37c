"""Tests for experiments/test_set_size.py: its tables against error_interval."""

import re

import pytest

from experiments import test_set_size_report as experiment
from research import metrics
from research import registry
from research.tables import TableInputs


def _section(text: str, heading_start: str) -> list[list[str]]:
  """The body rows of the markdown table in the section whose heading starts so."""
  sections = re.split(r'^## ', text, flags=re.M)
  matches = [s for s in sections if s.startswith(heading_start)]
  assert len(matches) == 1, f'no single section {heading_start!r}'
  lines = [l for l in matches[0].splitlines() if l.startswith('|')]
  return [[c.strip() for c in l.strip('|').split('|')] for l in lines[2:]]


def _half_width(error_rate, n):
  low, high = metrics.error_interval(error_rate * n, n, 0.95)
  return 100 * (high - low) / 2


@pytest.fixture(scope='module')
def report_text(tmp_path_factory):
  figures = tmp_path_factory.mktemp('results') / 'figures' / 'test_set_size'
  inputs = TableInputs(experiment='test_set_size', records=[], sweeps=[],
                       figures_dir=figures, log=lambda message: None)
  exp = registry.get('test_set_size')
  assert not exp.trainable and exp.load_report() is experiment.report
  return exp.make_report(inputs), figures


def test_width_table_matches_error_interval(report_text):
  text, _ = report_text
  rows = _section(text, 'Half-width of the 95% interval')
  assert [int(r[0].replace(',', '')) for r in rows] == [100, 300, 1000, 3000, 10_000,
                                                         30_000, 100_000]
  for row in rows:
    n = int(row[0].replace(',', ''))
    for error_rate, cell in zip((0.01, 0.10, 0.30), row[1:]):
      assert float(cell.lstrip('±')) == pytest.approx(_half_width(error_rate, n),
                                                      abs=0.005)
  # Ten times the examples, 1 / sqrt(10) the width.
  assert float(rows[4][2].lstrip('±')) == pytest.approx(
      float(rows[2][2].lstrip('±')) / 10**0.5, rel=0.05)


def test_size_table_gives_the_smallest_n(report_text):
  text, _ = report_text
  rows = _section(text, 'Test examples needed')
  assert [r[0] for r in rows] == ['±0.1', '±0.25', '±0.5', '±1', '±2']
  for row in rows:
    half = float(row[0].lstrip('±'))
    for error_rate, cell in zip((0.01, 0.10, 0.30), row[1:]):
      n = int(cell.replace(',', ''))
      assert _half_width(error_rate, n) <= half < _half_width(error_rate, n - 1)


def test_yardsticks_hold_and_the_figure_exists(report_text):
  text, figures = report_text
  rows = _section(text, "REFERENCES.md's statistical yardstick")
  assert [r[-1] for r in rows] == ['yes'] * 3
  mnist = rows[0]
  assert mnist[1] == '10,000'
  assert float(mnist[3].lstrip('±')) == pytest.approx(_half_width(0.015, 10_000),
                                                      abs=0.005)
  assert 'Every stated yardstick holds' in text

  figure = figures / experiment.FIGURE
  assert figure.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
  assert f'(figures/test_set_size/{experiment.FIGURE})' in text
  assert all(s.startswith('## ') for s in re.split(r'\n(?=#)', text.strip()))
