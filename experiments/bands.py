"""Published numbers and accept bands (REFERENCES.md) beside our means.

A reproduction's `report` lists its `Target`s; `accept_section` matches each
to the finished trial records whose overrides hold the target's, and says
whether the mean over seeds lands in the band.
"""

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from research.results import finished_holding
from research.tables import markdown_table


@dataclasses.dataclass(frozen=True)
class Target:
  label: str
  overrides: tuple[str, ...]  # 'key=value' strings a trial must hold ('' none)
  published: str  # as the paper states it
  band: tuple[float, float] | None  # accept band of the mean test accuracy, %


def mean_accuracy(records: Sequence[Mapping[str, Any]], overrides: Sequence[str],
                  key: str = 'test/accuracy') -> tuple[float | None, int]:
  """(mean in %, number of finished seeds) of the records holding `overrides`."""
  values = [100 * r['final'][key] for r in finished_holding(records, overrides)
            if key in (r.get('final') or {})]
  return (float(np.mean(values)) if values else None), len(values)


def accept_section(records: Sequence[Mapping[str, Any]], targets: Sequence[Target],
                   reference: str) -> str:
  rows = []
  for t in targets:
    test, seeds = mean_accuracy(records, t.overrides)
    train, _ = mean_accuracy(records, t.overrides, 'train/accuracy')
    if test is None:
      rows.append([t.label, '0', '—', '—', t.published, _band(t.band), 'not run'])
      continue
    verdict = ('no band' if t.band is None else
               '**yes**' if t.band[0] <= test <= t.band[1] else '**no**')
    rows.append([t.label, str(seeds), f'{test:.2f}% ({100 - test:.2f}% error)',
                 f'{train:.2f}%', t.published, _band(t.band), verdict])
  return '\n\n'.join([
      f'## Against {reference}',
      'Means over the finished seeds of the final test and train accuracy; '
      '"in band" asks whether the mean test accuracy lands in the accept band.',
      markdown_table(['configuration', 'seeds', 'test acc.', 'train acc.',
                      'published', 'accept', 'in band'], rows, align='lrrrlll')])


def _band(band) -> str:
  return '—' if band is None else f'{band[0]:.2f}–{band[1]:.2f}%'
