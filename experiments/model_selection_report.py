"""The report of `research table model_selection`: the same sweep's pick
under more and more satisficing bounds."""

import json
import pathlib

from research import model_selection as ms
from research.runs import FINISHED
from research.tables import markdown_table
from research.tracking.run_dir import SUMMARY

OPTIMIZE = 'final/dev/accuracy'
PARAMS = ms.Constraint('num_params', '<=', 110_000)
SHIRT_FPR = ms.Constraint('dev/fpr@Shirt', '<=', 0.031)
# Each a product's requirements, more and more of them.
SCENARIOS = (('dev accuracy alone', ()),
             ('+ a parameter budget', (PARAMS,)),
             ('+ the budget and rarely calling a non-shirt "Shirt"', (PARAMS, SHIRT_FPR)))
SHOWN = (OPTIMIZE, 'num_params', 'dev/fpr@Shirt', 'dev/min_recall',
         'final/test/accuracy')


def _summaries(records) -> dict[str, list[dict]]:
  """{hidden widths: the summaries of its finished runs}."""
  groups = {}
  for r in records:
    if r.get('status') in FINISHED:
      summary = json.loads((pathlib.Path(r['record_dir']) / SUMMARY).read_text())
      hidden = r['config']['model']['hidden']
      groups.setdefault('-'.join(map(str, hidden)), []).append(summary)
  return groups


def _cell(metric: str, value) -> str:
  if value is None:
    return '—'
  if metric == 'num_params':
    return f'{value:,.0f}'
  return f'{100 * value:.2f}'


def report(inputs) -> str:
  groups = _summaries(inputs.records)
  candidates = ms.candidates_from_summaries(groups, SHOWN)
  rows = [[c.label, len(groups[c.label]), *(_cell(m, c.values[m]) for m in SHOWN)]
          for c in ms.select(candidates, OPTIMIZE).ranked]
  picks, chosen_points = [], []
  for name, bounds in SCENARIOS:
    sel = ms.select(candidates, OPTIMIZE, bounds)
    chosen = sel.chosen
    chosen_points.append(chosen)
    picks.append([name, ', '.join(map(str, bounds)) or '—',
                  sum(not sel.failed[c.label] for c in candidates),
                  chosen.label if chosen else 'none',
                  _cell(OPTIMIZE, chosen and chosen.values[OPTIMIZE]),
                  _cell('final/test/accuracy', chosen and chosen.values['final/test/accuracy'])])
  return '\n\n'.join([
      '## The candidates',
      'Hidden widths; mean over seeds of the final model; rates in %. '
      '"FPR Shirt": the fraction of dev images of other classes predicted '
      "'Shirt'; \"min recall\": the worst class's dev recall.",
      markdown_table(['hidden', 'seeds', 'dev acc.', 'parameters', 'dev FPR Shirt',
                      'dev min recall', 'test acc.'], rows, align='lrrrrrr'),
      '## The pick under satisficing bounds',
      f'Optimizing metric: {OPTIMIZE}, the best point among those meeting '
      'every bound (`research.model_selection.select`); its test accuracy is '
      'read after the choice. The bounds are a product\'s requirements; '
      'their values here were set for illustration, so that each binds.',
      markdown_table(['requirements', 'bounds', 'points meeting them',
                      'chosen', 'dev acc. %', 'test acc. %'], picks, align='llrlrr'),
      _reading(chosen_points),
  ])


def _reading(chosen) -> str:
  """The lecture's claim beside what the picks show."""
  labels = [c.label if c else 'none' for c in chosen]
  if None in chosen:
    return 'Some requirements left no point: nothing to compare.'
  cost = 100 * (chosen[0].values[OPTIMIZE] - chosen[-1].values[OPTIMIZE])
  return ('The lecture: with one optimizing metric and the others satisficing, '
          'a sweep has a single best model under the product\'s requirements, '
          'with no weights to invent between accuracy, size and error kinds. '
          f'Measured: the picks are {", ".join(labels)}; meeting every bound costs '
          f'{cost:.2f} points of dev accuracy against the unconstrained pick, '
          'which breaks ' + ', '.join(
              str(k) for k in SCENARIOS[-1][1]
              if not k.holds(chosen[0].values[k.metric])) + '.'
          if chosen[0].label != chosen[-1].label else
          'Measured: the bounds did not change the pick.')

